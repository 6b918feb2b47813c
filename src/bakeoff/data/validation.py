"""The validation rules: what is checked in the ingested table before anything downstream
is written, and what is done about each warning.

Every problem is collected into one report (reports/validation.json): errors stop the
pipeline with a short summary on the terminal; warnings are acted on (all-NaN and constant
columns dropped, duplicates counted or dropped, leak suspects and class imbalance named),
recorded in the data card and logged to MLflow by `compare`.

Column-level rules (presence, dtype, finiteness) are a pandera schema built from the data
card; rules about the table as a whole are plain functions below.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.ingestion import describe
from bakeoff.data.splitting import classes_too_small
from bakeoff.data.suspicious import suspicious_columns
from bakeoff.params import DataConfig, Params, ValidateConfig
from bakeoff.problems import Problem, errors, warnings

log = logging.getLogger(__name__)

INFINITE = "infinite values"
TOO_LARGE = "values beyond float32"
# The largest magnitude the models' 32-bit floats hold (trees and networks compute in float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
NOT_NUMERIC = "regression target is not numeric"


def too_large(values: pd.Series) -> pd.Series:
    """Finite numbers beyond float32's range (infinities are INFINITE's to report)."""
    return np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)


def column_schema(card: dict[str, Any]):
    """The pandera schema of the typed table: required columns, dtypes, finite numbers."""
    import pandera.pandas as pa

    # Non-numbers pass here (a non-numeric target is NOT_NUMERIC's to report).
    finite = pa.Check(
        lambda s: ~np.isinf(pd.to_numeric(s, errors="coerce")), name="finite", error=INFINITE
    )
    # A finite number the models cannot hold (1e200 becomes inf in float32).
    representable = pa.Check(
        lambda s: ~too_large(pd.to_numeric(s, errors="coerce")),
        name="float32",
        error=TOO_LARGE,
    )
    # Ingest converted every column to its kind (any float width: pixels are float32);
    # numbers and 0/1 booleans must be finite, and features within float32's range.
    columns = {
        name: pa.Column(checks=[finite, representable], nullable=True)
        if kind in ("numeric", "boolean")
        else pa.Column(nullable=True)
        for name, kind in card["features"].items()
    }
    target = pa.Column(nullable=True, required=True)
    if card["task"] == "regression":
        numeric = pa.Check(
            lambda s: pd.api.types.is_numeric_dtype(s), name="numeric_target", error=NOT_NUMERIC
        )
        target = pa.Column(checks=[numeric, finite], nullable=True, required=True)
    columns[card["target"]] = target
    return pa.DataFrameSchema(columns, strict=False)


def schema_problems(frame: pd.DataFrame, card: dict[str, Any], file: str) -> list[Problem]:
    """Run the pandera schema lazily and turn its failure cases into one Problem per rule."""
    import pandera.pandas as pa

    try:
        column_schema(card).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    problems = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        if check == "column_in_dataframe":
            missing = str(group["failure_case"].iloc[0])
            problems.append(target_missing(missing, list(frame.columns), file))
            continue
        column = None if pd.isna(column) else str(column)
        if check == INFINITE:
            rule = "infinite_values"
            message = f"{len(group)} infinite value(s); replace them (e.g. with NaN) at the source"
        elif check == TOO_LARGE:
            rule = "values_too_large"
            message = (
                f"{len(group)} value(s) beyond ±{FLOAT32_MAX:.3g}, the largest the models' "
                f"32-bit floats hold; rescale the column (data.scale: {{{column}: <factor>}} in "
                "the data card) or replace them at the source"
            )
        elif check == NOT_NUMERIC:
            rule = "target_not_numeric"
            message = (
                "the regression target has non-numeric values; use a numeric column, or set "
                "data.task: classification"
            )
            # A whole-column check: show the offending values.
            values = frame[column]
            bad = values[values.notna() & pd.to_numeric(values, errors="coerce").isna()]
            group = pd.DataFrame({"index": bad.index[:5], "failure_case": bad.to_numpy()[:5]})
        else:  # a rule this function does not know yet: say it as pandera does
            rule, message = "schema", f"fails check {check!r}"
        examples = [
            {"row": None if pd.isna(i) else int(i), "value": v}
            for i, v in zip(group["index"], group["failure_case"], strict=True)
        ]
        problems.append(Problem(rule, message, file=file, column=column, examples=examples))
    return problems


def target_missing(target: str, columns: list[str], file: str) -> Problem:
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(target.lower(), list(lowered), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(lowered[c]) for c in close)}?" if close else ""
    return Problem(
        "target_missing",
        f"target column {target!r} is not in the table (columns: {columns[:20]}){hint}",
        file=file,
        column=target,
    )


def configured_columns(data: DataConfig, card: dict) -> list[Problem]:
    """Columns named in the dataset card that the source table does not have.

    (Featurize steps are featurize's to check: that stage names missing columns itself, and
    keeping them out of this stage's params spares re-validating when a step changes.)
    """
    source = card["source_columns"]
    named = {
        "data.drop_columns": list(data.drop_columns),
        "data.column_types": list(data.column_types),
        "data.scale": list(data.scale),
        "data.key": list(data.key),
    }
    problems = []
    for where, columns in named.items():
        for column in columns:
            if column not in source:
                close = difflib.get_close_matches(column, sorted(source), n=2)
                hint = f"; did you mean {close}?" if close else ""
                problems.append(
                    Problem(
                        "configured_column_missing",
                        f"{where} names column {column!r}, which the table does not have{hint}",
                        column=column,
                    )
                )
    return problems


def text_documents(
    frame: pd.DataFrame, card: dict[str, Any], max_chars: int, file: str
) -> tuple[pd.DataFrame, list[Problem]]:
    """Text columns: empty or white-space-only documents (counted; they stay, as empty
    documents) and documents over `max_chars` characters (truncated to it)."""
    problems = []
    for name, kind in card["features"].items():
        if kind != "text" or name not in frame.columns:
            continue
        documents = frame[name].dropna().astype(str)
        empty = documents.str.strip() == ""
        if empty.any():
            problems.append(
                Problem(
                    "empty_documents",
                    f"{int(empty.sum())} document(s) are empty or white space only "
                    f"({empty.mean():.1%} of the present ones); they are kept as empty documents",
                    severity="warning",
                    file=file,
                    column=name,
                    examples=[int(i) for i in documents.index[empty][:5]],
                    action="counted",
                )
            )
        lengths = documents.str.len()
        long = lengths > max_chars
        if long.any():
            frame = frame.assign(**{name: frame[name].str.slice(0, max_chars)})
            problems.append(
                Problem(
                    "long_documents",
                    f"{int(long.sum())} document(s) are longer than validate.max_text_chars="
                    f"{max_chars} characters (the longest {int(lengths.max())}); they are "
                    "truncated to it",
                    severity="warning",
                    file=file,
                    column=name,
                    examples=[
                        {"row": int(i), "chars": int(n)} for i, n in lengths[long][:5].items()
                    ],
                    action="truncated",
                )
            )
    return frame, problems


def target_problems(y: pd.Series, task: str, stratify: bool, file: str) -> list[Problem]:
    problems = []
    missing = int(y.isna().sum())
    if missing:
        problems.append(
            Problem(
                "target_missing_values",
                f"{missing} row(s) have no target value; they are dropped",
                severity="warning",
                column=str(y.name),
                file=file,
                action="rows dropped",
            )
        )
    if task != "classification":
        return problems
    counts = y.value_counts()
    if len(counts) < 2:
        problems.append(
            Problem(
                "single_class",
                f"the target has {len(counts)} class(es) {list(counts.index)[:3]}; "
                "classification needs at least two",
                file=file,
                column=str(y.name),
            )
        )
    small, message = classes_too_small(y)
    if stratify and message:
        problems.append(
            Problem(
                "class_too_small",
                message,
                file=file,
                column=str(y.name),
                examples=[{"class": k, "rows": int(v)} for k, v in small.items()],
            )
        )
    return problems


def degenerate_columns(frame: pd.DataFrame, features: list[str], file: str) -> list[Problem]:
    problems = []
    for name in features:
        column = frame[name]
        if column.isna().all():
            rule, message = "all_nan_column", "every value is missing; the column is dropped"
        elif column.nunique(dropna=False) == 1:
            value = column.iloc[0]
            rule, message = "constant_column", f"every row holds {value!r}; the column is dropped"
        else:
            continue
        problems.append(
            Problem(rule, message, severity="warning", file=file, column=name, action="dropped")
        )
    return problems


def duplicate_rows(frame: pd.DataFrame, drop: bool, file: str) -> list[Problem]:
    duplicated = frame.duplicated()
    n = int(duplicated.sum())
    if not n:
        return []
    action = "dropped" if drop else "kept (set validate.drop_duplicates: true to drop them)"
    return [
        Problem(
            "duplicate_rows",
            f"{n} row(s) duplicate an earlier row ({n / len(frame):.1%}); {action}",
            severity="warning",
            file=file,
            examples=[int(i) for i in frame.index[duplicated][:5]],
            action="dropped" if drop else "counted",
        )
    ]


def single_column_scores(X: pd.DataFrame, y: pd.Series, task: str, seed: int) -> dict[str, float]:
    """Cross-validated score of a shallow tree on each column alone (accuracy or R²): what
    `cross_val_score(tree, x, y, cv=3)` gives, with the folds drawn once for every column
    and the trees fitted directly (its per-fit machinery cost more than a one-column tree)."""
    from sklearn.metrics import r2_score
    from sklearn.model_selection import check_cv
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    classify = task == "classification"
    if classify:
        if y.value_counts().min() < 3:
            return {}
        tree = DecisionTreeClassifier(min_samples_leaf=5, random_state=seed)
        y = y.astype(str)
    else:
        tree = DecisionTreeRegressor(min_samples_leaf=5, random_state=seed)
    target = y.to_numpy()
    folds = list(check_cv(3, target, classifier=classify).split(np.zeros((len(y), 1)), target))
    scores = {}
    for name, column in X.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            x = column.astype("int64").astype(float)
        elif pd.api.types.is_numeric_dtype(column):
            x = column.astype(float)
        else:
            x = pd.Series(pd.factorize(column)[0], index=column.index).astype(float)
        x = x.fillna(x.min() - 1 if x.notna().any() else 0).to_numpy().reshape(-1, 1)
        per_fold = []
        for fit, held_out in folds:
            predicted = tree.fit(x[fit], target[fit]).predict(x[held_out])
            per_fold.append(
                np.mean(predicted == target[held_out])
                if classify
                else r2_score(target[held_out], predicted)
            )
        scores[str(name)] = float(np.mean(per_fold))
    return scores


def leakage(
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    task: str,
    config: ValidateConfig,
    seed: int,
) -> list[Problem]:
    """A column that alone predicts the target almost perfectly is probably a leak."""
    if task == "classification":
        baseline = frame[target].value_counts(normalize=True).max()
        if baseline >= config.leakage_score:
            return []  # the majority class alone scores this well: nothing to learn from
    if len(frame) > config.leakage_sample_rows:  # rows without a target are already gone
        frame = frame.sample(n=config.leakage_sample_rows, random_state=seed)
    scores = single_column_scores(frame[features], frame[target], task, seed)
    metric = "accuracy" if task == "classification" else "R²"
    return [
        Problem(
            "possible_leakage",
            f"LEAK SUSPECT: this column alone predicts the target with {metric} {score:.3f} "
            "(3-fold CV of a single-column tree). If it is computed from the target or only "
            "known after it, add it to data.drop_columns",
            severity="warning",
            column=name,
            action="kept; check it",
        )
        for name, score in scores.items()
        if score >= config.leakage_score
    ]


def imbalance(y: pd.Series, config: ValidateConfig) -> list[Problem]:
    counts = y.value_counts()
    if len(counts) < 2 or counts.min() / counts.max() >= config.imbalance_ratio:
        return []
    return [
        Problem(
            "class_imbalance",
            f"heavy class imbalance: {counts.idxmin()!r} has {counts.min()} rows vs "
            f"{counts.idxmax()!r} {counts.max()}; accuracy alone misleads here, so balanced "
            "accuracy and ROC-AUC are reported too",
            severity="warning",
            column=str(y.name),
            examples=[{"class": k, "rows": int(v)} for k, v in counts.items()][:5],
            action="counted",
        )
    ]


def validate(
    frame: pd.DataFrame, card: dict[str, Any], params: Params
) -> tuple[pd.DataFrame, dict[str, Any], list[Problem]]:
    """All checks; returns the cleaned table, the card with its validation section, problems."""
    data, config = params.data, params.validate
    file = data.source_file
    target = card["target"]
    problems = configured_columns(data, card)
    problems += schema_problems(frame, card, file)
    if target not in frame.columns:
        return frame, card, problems
    if card["task"] is None:
        problems.append(Problem("task_unknown", "data.task is not set and cannot be inferred"))
        return frame, card, problems
    features = list(card["features"])
    problems += target_problems(
        frame[target], card["task"], params.split.stratified(card["task"]), file
    )
    # Pixels keep their positions (the CNN reshapes them): a blank border is not dropped.
    degenerate = [] if card.get("image") else degenerate_columns(frame, features, file)
    problems += degenerate
    problems += duplicate_rows(frame, config.drop_duplicates, file)
    problems += suspicious_columns(frame, card, list(data.key), file)
    if errors(problems):
        return frame, card, problems

    dropped = [p.column for p in degenerate]
    frame = frame.drop(columns=dropped).dropna(subset=[target])
    frame, text_problems = text_documents(frame, card, config.max_text_chars, file)
    problems += text_problems
    if config.drop_duplicates:
        frame = frame.drop_duplicates()
    features = [c for c in features if c not in dropped]
    problems += leakage(frame, features, target, card["task"], config, params.seed)
    if card["task"] == "classification":
        problems += imbalance(frame[target], config)
    # The index stays each row's position in the ingested table: the split's default key
    # (its batch file and position in it) is computed from it.
    # Described afresh (rows, dtypes, missing values, target counts, content hash): this is
    # the table the models train on, and its hash tags their runs.
    types = {c: card["features"][c] for c in features}
    card = {
        **card,  # source_columns, batches: what ingest knew about the source
        **describe(frame, data, card["task"], types),
        "validation": {
            "status": "passed",
            "warnings": [p.to_dict() for p in warnings(problems)],
            "dropped_columns": dropped,
        },
    }
    return frame, card, problems


def report(problems: list[Problem], status: str) -> dict[str, Any]:
    return {
        "status": status,
        "errors": len(errors(problems)),
        "warnings": len(warnings(problems)),
        "problems": [p.to_dict() for p in problems],
    }
