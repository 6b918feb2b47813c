"""The one model contract: raw feature rows in, predictions (and probabilities) out."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

FAMILIES = ("classical", "deep")


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

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | None = None,
    ) -> TabularModel:
        self.feature_columns_ = list(X.columns)
        Xt = self.preprocessor.fit_transform(X, y)
        accepted = inspect.signature(self.estimator.fit).parameters
        kwargs: dict[str, Any] = {}
        # Estimators that early-stop on a validation set (the networks) take it preprocessed.
        if X_val is not None and "X_val" in accepted:
            kwargs = {"X_val": self.preprocessor.transform(X_val), "y_val": np.asarray(y_val)}
        # Networks that embed categories need to know which output columns are codes: a
        # preprocessor that knows sets `layout_`, and an estimator that wants it takes `layout`.
        if "layout" in accepted:
            kwargs["layout"] = getattr(self.preprocessor, "layout_", None)
        self.estimator.fit(Xt, np.asarray(y), **kwargs)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_columns_ if c not in X.columns]
        if missing:
            raise KeyError(f"input is missing column(s) {missing} that the model was trained on")
        return self.preprocessor.transform(X[self.feature_columns_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict(self._transform(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.task != "classification":
            raise AttributeError("predict_proba is defined for classification only")
        return self.estimator.predict_proba(self._transform(X))

    def describe(self) -> dict[str, Any]:
        """Size figures for the cost ledger: parameters (networks) or tree nodes (ensembles)."""
        est = self.estimator
        info: dict[str, Any] = {"estimator": type(est).__name__}
        if hasattr(est, "network_"):
            info["parameters"] = int(sum(p.numel() for p in est.network_.parameters()))
        elif hasattr(est, "estimators_"):
            info["tree_nodes"] = int(sum(t.tree_.node_count for t in est.estimators_))
        elif hasattr(est, "_predictors"):
            info["tree_nodes"] = int(sum(p.nodes.shape[0] for it in est._predictors for p in it))
        elif hasattr(est, "coef_"):
            info["parameters"] = int(np.size(est.coef_) + np.size(getattr(est, "intercept_", 0)))
        return info
