"""Seeded train / validation / test splits.

The test split is frozen here: nothing downstream fits or selects on it. The default method,
`hash`, puts each row in the part its key's hash falls in, so a row keeps its part when new
batches arrive (test rows stay test rows); `random` is a seeded shuffle, stratified for
classification, that re-draws every part when the rows change.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.rows import row_fractions
from bakeoff.params import SplitConfig
from bakeoff.paths import SPLITS
from bakeoff.problems import CardError, DataError, Problem

log = logging.getLogger(__name__)


def classes_too_small(y: pd.Series) -> tuple[pd.Series, str | None]:
    """Classes with fewer rows than SPLITS has parts (a stratified split needs each class in
    every part), and the message naming them (None when there are none)."""
    counts = y.value_counts()
    small = counts[counts < len(SPLITS)]
    if not len(small):
        return small, None
    detail = ", ".join(f"{k!r} ({v} rows)" for k, v in small.items())
    return small, (
        f"classes {detail} have fewer than {len(SPLITS)} rows, too few for a stratified "
        "train/validation/test split; merge or drop them, or set split.stratify=false"
    )


def batch_rows(index: pd.Index, batches: list[dict[str, Any]] | None) -> pd.DataFrame:
    """Each row's batch file and its position within that batch, from its position in the
    ingested table (validate keeps that as the index) and the batches' row counts (the data
    card's `batches`; None: one batch). Appending a batch changes no earlier row's pair."""
    if pd.api.types.is_integer_dtype(index):
        positions = np.asarray(index, dtype=np.int64)
    else:
        positions = np.arange(len(index))
    batches = batches or [{"file": "", "rows": int(positions.max(initial=-1)) + 1}]
    ends = np.cumsum([int(b["rows"]) for b in batches])
    which = np.minimum(np.searchsorted(ends, positions, side="right"), len(batches) - 1)
    starts = ends - [int(b["rows"]) for b in batches]
    files = np.asarray([str(b["file"]) for b in batches], dtype=object)
    return pd.DataFrame({"batch": files[which], "row": positions - starts[which]}, index=index)


def hash_split(
    frame: pd.DataFrame,
    *,
    key: list[str],
    config: SplitConfig,
    seed: int,
    batches: list[dict[str, Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Rows whose key hashes below test_size go to test, the next val_size to val: a row's
    part depends on its key and the seed alone, never on the other rows.

    The key: data.key's columns when set; else split.key, `batch_row` (the batch file and
    the row's position in it: copies of a row are different rows, so they spread over the
    parts like any others) or `content` (the whole row, target included: every copy of a row
    lands in the same part, which skews the parts of a table with many duplicates)."""
    missing = [c for c in key if c not in frame.columns]
    if missing:
        raise CardError(f"data.key names columns the table does not have: {missing}")
    if key or config.key == "content":
        u = row_fractions(frame, key or None, seed)
    else:
        u = row_fractions(batch_rows(frame.index, batches), None, seed)
    test = u < config.test_size
    val = ~test & (u < config.test_size + config.val_size)
    return {"train": frame[~test & ~val], "val": frame[val], "test": frame[test]}


def missing_classes(parts: dict[str, pd.DataFrame], target: str) -> str | None:
    """Which classes a part lacks (a hash split keeps class shares only on average)."""
    every = set(pd.concat([p[target] for p in parts.values()]).unique())
    gaps = {
        name: sorted(map(str, every - set(part[target].unique()))) for name, part in parts.items()
    }
    gaps = {name: classes for name, classes in gaps.items() if classes}
    if not gaps:
        return None
    return "; ".join(f"{name} has no rows of class(es) {', '.join(c)}" for name, c in gaps.items())


def classes_missing_from_train(
    parts: dict[str, pd.DataFrame], target: str, file: str | None
) -> list[Problem]:
    """Classes with validation or test rows but no training rows. No model can learn them:
    a network cannot early-stop on them, and no model's scores can be computed on them. A
    hash split keeps class shares only on average, so a class of a few rows can miss the
    training part."""
    trained = set(parts["train"][target].dropna().astype(str))
    held = {
        name: parts[name][target].dropna().astype(str).value_counts()
        for name in parts
        if name != "train"
    }
    absent = sorted({c for counts in held.values() for c in counts.index} - trained)
    if not absent:
        return []
    where = [
        {"class": c, **{name: int(counts.get(c, 0)) for name, counts in held.items()}}
        for c in absent
    ]
    return [
        Problem(
            "class_not_in_train",
            f"class(es) {', '.join(map(repr, absent))} have validation or test rows but no "
            "training rows, so no model can learn them; add rows of them, merge them into "
            "another class or drop their rows (split.method random, stratified, puts every "
            "class of 3 rows or more in every part)",
            file=file,
            column=target,
            examples=where,
        )
    ]


def duplicate_documents(parts: dict[str, pd.DataFrame], text_columns: list[str]) -> list[Problem]:
    """Documents of a text column found word for word in the training part and in the
    validation or test part: the model is scored on text it was trained on (a leak). Empty
    documents are left out. One warning per text column, counting the held-out rows."""
    problems = []
    for name in text_columns:
        train = parts["train"][name].dropna().astype(str)
        seen = set(train[train.str.strip() != ""])
        counts, examples = {}, []
        for part in ("val", "test"):
            documents = parts[part][name].dropna().astype(str)
            leaked = documents[documents.isin(seen)]
            counts[part] = len(leaked)
            examples += [
                {"part": part, "row": int(i), "text": t[:80]} for i, t in leaked[:3].items()
            ]
        if not any(counts.values()):
            continue
        problems.append(
            Problem(
                "duplicate_documents",
                f"{counts['test']} test and {counts['val']} validation row(s) hold a document "
                "that is also in the training rows, word for word: their scores are partly "
                "memory (a leak); deduplicate the source, or set a data.key that keeps copies "
                "together",
                severity="warning",
                column=name,
                examples=examples[:5],
                action="counted",
            )
        )
    return problems


def split_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    config: SplitConfig,
    seed: int,
    key: list[str] | None = None,
    batches: list[dict[str, Any]] | None = None,
    file: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Split rows into train/val/test with the configured shares of all rows.

    Raises CardError when data.key names absent columns, and DataError (naming `file`, the
    source) when the classes cannot be split: too few rows of a class for a stratified
    split, or a class with validation or test rows but none for training."""
    # SplitConfig checked shares and method when params were read (the config stage).
    if config.method == "hash":
        parts = hash_split(frame, key=list(key or []), config=config, seed=seed, batches=batches)
    else:
        parts = random_split(frame, target=target, task=task, config=config, seed=seed, file=file)
    if task == "classification" and (problems := classes_missing_from_train(parts, target, file)):
        raise DataError(problems)
    return parts


def random_split(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    config: SplitConfig,
    seed: int,
    file: str | None,
) -> dict[str, pd.DataFrame]:
    from sklearn.model_selection import train_test_split  # method random only

    stratify = config.stratified(task)
    if stratify:
        small, message = classes_too_small(frame[target])
        if message:
            examples = [{"class": k, "rows": int(v)} for k, v in small.items()]
            raise DataError(
                [Problem("class_too_small", message, file=file, column=target, examples=examples)]
            )
    rest, test = train_test_split(
        frame,
        test_size=config.test_size,
        random_state=seed,
        stratify=frame[target] if stratify else None,
    )
    # val_size is a share of all rows; re-express it as a share of what is left.
    train, val = train_test_split(
        rest,
        test_size=config.val_size / (1 - config.test_size),
        random_state=seed,
        stratify=rest[target] if stratify else None,
    )
    return {"train": train, "val": val, "test": test}


# A part whose target differs from the other rows' with a p-value below this is called
# unrepresentative (three parts: about 3 % of random splits are flagged by chance).
UNREPRESENTATIVE_P = 0.01


def unrepresentative_parts(
    parts: dict[str, pd.DataFrame], target: str, task: str
) -> list[dict[str, Any]]:
    """Parts whose target differs from the rest of the rows by more than sampling error
    explains: class counts (chi-square test of the part against the other parts) or the
    target's mean (Welch's t-test). One record per such part, with a sentence."""
    from scipy import stats  # the split stage's check only (validate imports this module)

    found = []
    for name, part in parts.items():
        rest = pd.concat([p[target] for other, p in parts.items() if other != name])
        y = part[target].dropna()
        rest = rest.dropna()
        if len(y) < 2 or len(rest) < 2:
            continue
        if task == "classification":
            table = pd.crosstab(
                np.r_[np.zeros(len(y)), np.ones(len(rest))], np.r_[y.astype(str), rest.astype(str)]
            )
            if table.shape[1] < 2:
                continue
            p_value = float(stats.chi2_contingency(table)[1])
            shares = y.astype(str).value_counts(normalize=True)
            others = rest.astype(str).value_counts(normalize=True)
            worst = (shares.reindex(others.index, fill_value=0) - others).abs().idxmax()
            what = (
                f"class {worst!r} is {shares.get(worst, 0):.1%} of it against "
                f"{others[worst]:.1%} of the other rows"
            )
        else:
            p_value = float(stats.ttest_ind(y, rest, equal_var=False).pvalue)
            what = f"its target mean is {y.mean():.4g} against {rest.mean():.4g} in the other rows"
        if p_value < UNREPRESENTATIVE_P:
            found.append(
                {
                    "part": name,
                    "rows": len(part),
                    "p_value": p_value,
                    "message": (
                        f"the {name} split is not representative: {what} (p = {p_value:.2g}, "
                        "more than sampling error explains). Its scores will mislead; if the "
                        "table has many duplicate rows under split.key: content, use the "
                        "default split.key: batch_row, or set data.key to a row identifier"
                    ),
                }
            )
    return found
