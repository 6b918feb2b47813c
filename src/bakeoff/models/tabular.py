"""The one model contract: raw feature rows in, predictions (and probabilities) out."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import ClassifierTags, RegressorTags

from bakeoff.data.columns import convert
from bakeoff.problems import Problem

FAMILIES = ("classical", "deep")
MAX_UNSEEN_EXAMPLES = 5


class UnseenCategoryWarning(UserWarning):
    """Input rows hold categories the model never saw in training (encoded as unknown)."""


def column_kind(column: pd.Series) -> str:
    """How a model input column is handled by its dtype: numeric (booleans too), datetime or
    categorical. Text is `str` like categories: only the data card can say a column is text
    (`TabularModel.fit(..., column_kinds=...)`)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return "numeric"
    return "categorical"


def task_tags(tags, task: str):
    """scikit-learn tags of an estimator whose task (classifier or regressor) is a parameter."""
    if task == "classification":
        tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
    else:
        tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
    return tags


def prediction_frame(model, X: pd.DataFrame) -> pd.DataFrame:
    """What every saved model answers, row for row: `prediction` and, for classification,
    one `proba_<class>` column per class (in `model.classes_` order)."""
    out = pd.DataFrame(index=X.index)
    out["prediction"] = model.predict(X)
    if model.task == "classification":
        proba = model.predict_proba(X)
        for i, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, i]
    return out


class TabularModel:
    """Preprocessing (fitted on the training split only) followed by an estimator.

    Evaluation, comparison and serving call `fit`, `predict` and `predict_proba` alone and
    never branch on the family.
    """

    def __init__(self, *, family: str, task: str, preprocessor: Any, estimator: Any):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.task = task
        self.preprocessor = preprocessor
        self.estimator = estimator

    def prepare(self) -> None:
        """Import what fitting will need (the estimator's `prepare`, when it has one), so
        that a fit's measured time is the fit's alone."""
        prepare = getattr(self.estimator, "prepare", None)
        if prepare is not None:
            prepare()

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | None = None,
        *,
        column_kinds: dict[str, str] | None = None,
    ) -> TabularModel:
        """`column_kinds`: the data card's `features` (column -> kind). Only "text" is taken
        from it; every other column's handling follows its dtype, as without it."""
        self.feature_columns_ = list(X.columns)
        given = column_kinds or {}
        self.column_kinds_ = {
            c: "text" if given.get(c) == "text" else column_kind(X[c]) for c in X.columns
        }
        self._route_text([c for c, kind in self.column_kinds_.items() if kind == "text"])
        X = self._conform(X, check_unseen=False)
        self.categories_ = {
            c: set(X[c].dropna()) for c, kind in self.column_kinds_.items() if kind == "categorical"
        }
        Xt = self.preprocessor.fit_transform(X, y)
        accepted = inspect.signature(self.estimator.fit).parameters
        kwargs: dict[str, Any] = {}
        # Estimators that early-stop on a validation set (the networks) take it preprocessed.
        if X_val is not None and "X_val" in accepted:
            X_val = self._conform(X_val[self.feature_columns_], check_unseen=False)
            kwargs = {"X_val": self.preprocessor.transform(X_val), "y_val": np.asarray(y_val)}
        # Networks that embed categories need to know which output columns are codes: a
        # preprocessor that knows sets `layout_`, and an estimator that wants it takes `layout`.
        if "layout" in accepted:
            kwargs["layout"] = getattr(self.preprocessor, "layout_", None)
        self.estimator.fit(Xt, np.asarray(y), **kwargs)
        return self

    def _route_text(self, columns: list[str]) -> None:
        """Tell the preprocessor which columns are text: their dtype cannot. (A refit on
        other columns sets them afresh.)"""
        takes_text = "text_columns" in self.preprocessor.get_params(deep=False)
        if takes_text:
            self.preprocessor.set_params(text_columns=list(columns))
        if not columns:
            return
        if not takes_text:
            raise ValueError(
                f"column(s) {columns} are text, and {type(self.estimator).__name__} "
                f"({type(self.preprocessor).__name__}) takes no text; drop them for this "
                "model (featurize.steps) or choose a text model (docs/text.md)"
            )

    @property
    def text_columns(self) -> list[str]:
        """The input columns handled as text (none for a model fitted before text existed)."""
        return [c for c, kind in getattr(self, "column_kinds_", {}).items() if kind == "text"]

    def save_files(self, folder: Path) -> bool:
        """Write the parts that keep their weights in files of their own (pretrained text
        encoders: safetensors and tokenizer files) under `folder`; False when none does.
        Such parts leave those weights out of their pickled state (see serving)."""
        saved = False
        for name in ("preprocessor", "estimator"):
            part = getattr(self, name)
            if hasattr(part, "save_files"):
                saved = part.save_files(Path(folder) / name) or saved
        return saved

    def load_files(self, folder: Path) -> None:
        """Load what `save_files` wrote into the parts that keep files."""
        for name in ("preprocessor", "estimator"):
            part = getattr(self, name)
            if hasattr(part, "load_files"):
                part.load_files(Path(folder) / name)

    def requirements(self) -> list[str]:
        """Packages the fitted model needs at prediction time beyond scikit-learn, pandas
        and (for networks) torch: what its parts name in `requirements`."""
        names: list[str] = []
        for part in (self.preprocessor, self.estimator):
            names += [n for n in getattr(part, "requirements", ()) if n not in names]
        return names

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def _conform(self, X: pd.DataFrame, check_unseen: bool = True) -> pd.DataFrame:
        """Input rows with the training dtypes: numbers parsed, dates parsed, categories as str.

        Raw rows from a CSV or a JSON request arrive as strings or ints; the preprocessing
        routes columns by dtype, so each column is converted to what training saw.
        """
        out = {}
        for name, kind in self.column_kinds_.items():
            column = X[name]
            converted, bad = convert(column, kind)
            if bad.any():
                raise ValueError(
                    f"column {name!r}: {int(bad.sum())} value(s) are not {kind}, e.g. "
                    f"{column[bad].head(3).tolist()}"
                )
            out[name] = converted
            if check_unseen and kind == "categorical":
                self._warn_unseen(name, converted)
        return pd.DataFrame(out, index=X.index)

    def _unseen(self, name: str, column: pd.Series) -> pd.Series:
        """Mask of a categorical column's values that training never saw."""
        return column.notna() & ~column.isin(self.categories_[name])

    def _warn_unseen(self, name: str, column: pd.Series) -> None:
        unseen = self._unseen(name, column)
        if unseen.any():
            examples = sorted(set(column[unseen]))[:MAX_UNSEEN_EXAMPLES]
            warnings.warn(
                f"column {name!r}: {int(unseen.sum())} value(s) never seen in training "
                f"{examples} are encoded as unknown",
                UnseenCategoryWarning,
                stacklevel=4,
            )

    def input_problems(self, X: pd.DataFrame, file: str | None = None) -> list[Problem]:
        """Everything wrong with input rows at once, where `predict` stops at the first:
        missing columns and values not of the training kind (errors), categories training
        never saw (warnings: they are encoded as unknown)."""
        problems = [
            Problem(
                "missing_column",
                "the model was trained on it; the input lacks it",
                file=file,
                column=name,
            )
            for name in self.feature_columns_
            if name not in X.columns
        ]
        for name, kind in self.column_kinds_.items():
            if name not in X.columns:
                continue
            converted, bad = convert(X[name], kind)
            if bad.any():
                examples = X.loc[bad, name].head(MAX_UNSEEN_EXAMPLES)
                problems.append(
                    Problem(
                        f"not_{kind}",
                        f"{int(bad.sum())} value(s) are not {kind}, as in training",
                        file=file,
                        column=name,
                        examples=[{"row": int(i), "value": v} for i, v in examples.items()],
                    )
                )
            elif kind == "categorical" and (unseen := self._unseen(name, converted)).any():
                counts = converted[unseen].value_counts().head(MAX_UNSEEN_EXAMPLES)
                problems.append(
                    Problem(
                        "unseen_category",
                        f"{int(unseen.sum())} value(s) in categories never seen in training; "
                        "they are encoded as unknown",
                        severity="warning",
                        file=file,
                        column=name,
                        examples=[{"value": k, "rows": int(v)} for k, v in counts.items()],
                    )
                )
        return problems

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_columns_ if c not in X.columns]
        if missing:
            raise KeyError(
                f"input is missing column(s) {missing} that the model was trained on; "
                f"it has {list(X.columns)[:20]}"
            )
        return self.preprocessor.transform(self._conform(X[self.feature_columns_]))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict(self._transform(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.task != "classification":
            raise AttributeError("predict_proba is defined for classification only")
        proba = self.estimator.predict_proba(self._transform(X))
        if proba.dtype == np.float64:
            return proba
        # float32 probabilities (a linear model on float32 embeddings) sum to 1 only to float32
        # precision: as float64, log loss and the ensemble's weights would see rows off by 1e-7.
        proba = proba.astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        """Size figures for the cost ledger: parameters (networks) or tree nodes (ensembles),
        k, the members of a network that is an ensemble (TabM), and `guard`: what cut the fit
        short or approximated it (a time budget, the SVM's kernel approximation), in words."""
        est = self.estimator
        info: dict[str, Any] = {
            "estimator": type(est).__name__,
            "accelerator": getattr(est, "accelerator_", "cpu"),
            # Coefficients a person can read off: linear models and single trees (a
            # baseline that ignores its inputs does not count; nor does a linear head on
            # a pretrained network's embeddings).
            "interpretable": self.family == "classical"
            and type(est).__module__.startswith(("sklearn.linear_model", "sklearn.tree")),
        }
        if hasattr(est, "network_"):
            info["parameters"] = int(sum(p.numel() for p in est.network_.parameters()))
        elif hasattr(est, "estimators_"):
            info["tree_nodes"] = int(sum(t.tree_.node_count for t in est.estimators_))
        elif hasattr(est, "_predictors"):
            info["tree_nodes"] = int(sum(p.nodes.shape[0] for it in est._predictors for p in it))
        elif hasattr(est, "coef_"):
            info["parameters"] = int(np.size(est.coef_) + np.size(getattr(est, "intercept_", 0)))
        if hasattr(est, "k_"):
            info["k"] = int(est.k_)  # members of a network that is an ensemble (TabM)
        guard = self.guard()
        if guard:
            info["guard"] = guard
        return info

    def guard(self) -> str | None:
        """What cut the fit short or approximated it (a time budget, the SVM's kernel
        approximation), in words; None: nothing."""
        est = self.estimator
        return est.guard() if callable(getattr(est, "guard", None)) else None
