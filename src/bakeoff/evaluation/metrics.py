"""Scores as plain dicts of floats, which metric ranks each task, and the bounds intervals
are clipped to."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

import numpy as np
import pandas as pd

# Name, and whether larger is better: what the leaderboard ranks by, per task.
PRIMARY_METRIC = {"classification": ("accuracy", True), "regression": ("rmse", False)}
HIGHER_IS_BETTER = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}

# The metrics every leaderboard shows (and resamples give intervals for), per task.
REPORTED = {
    "classification": ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}

# The range a metric can take: intervals from the t-distribution are clipped to it.
BOUNDS = {
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "log_loss": (0.0, None),
    "rmse": (0.0, None),
    "mae": (0.0, None),
    "r2": (None, 1.0),
}


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: np.ndarray,
    only: Collection[str] | None = None,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, F1 (binary: positive = classes[1]; else macro), ROC-AUC, log loss.

    `proba` columns follow `classes`; labels are compared as strings so that 0/1 and "0"/"1" agree.
    `only`: just these metrics (a permutation importance scores one, many times over).
    """
    from sklearn import metrics as skm  # here: the constants above must not cost its import

    y_true = np.asarray(y_true).astype(str)
    classes = np.asarray(classes).astype(str)
    binary = len(classes) == 2
    proba = np.asarray(proba)
    # Binary: the positive class is the model's second, whatever its name sorts like.
    positive, positive_proba = (classes[1], proba[:, 1]) if binary else (None, None)
    # scikit-learn's log loss and multi-class ROC-AUC read the probability columns in the
    # sorted order of the labels, here strings; a model's order is its own (integer classes
    # 1..10 sort as 1, 2, ..., 10, their names as "1", "10", "2", ...).
    order = np.argsort(classes, kind="stable")
    classes, proba = classes[order], proba[:, order]

    @cache
    def y_pred() -> np.ndarray:
        return classes[np.argmax(proba, axis=1)]

    def roc_auc() -> float:
        if binary:
            return skm.roc_auc_score(y_true == positive, positive_proba)
        return skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)

    compute = {
        "accuracy": lambda: skm.accuracy_score(y_true, y_pred()),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y_true, y_pred()),
        # Macro F1 over the classes in the scored rows or the predictions: a class absent
        # from both (a rare one, in a fold) has no F1, and counting it as 0 would lower all.
        "f1": lambda: skm.f1_score(
            y_true,
            y_pred(),
            average="binary" if binary else "macro",
            pos_label=positive if binary else 1,
            labels=classes if binary else None,
        ),
        "log_loss": lambda: skm.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes),
    }
    if len(np.unique(y_true)) == len(classes):  # ROC-AUC needs every class present
        compute["roc_auc"] = roc_auc
    return {k: float(f()) for k, f in compute.items() if only is None or k in only}


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, only: Collection[str] | None = None
) -> dict[str, float]:
    from sklearn import metrics as skm

    compute = {
        "rmse": lambda: np.sqrt(skm.mean_squared_error(y_true, y_pred)),
        "mae": lambda: skm.mean_absolute_error(y_true, y_pred),
        "r2": lambda: skm.r2_score(y_true, y_pred),
    }
    return {k: float(f()) for k, f in compute.items() if only is None or k in only}


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p95_ms": float(np.percentile(ms, 95)),
    }


def predict_proba_columns(predictions: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The class probabilities of a saved model's prediction frame (`proba_<class>` columns,
    bakeoff.tracking.serving) and the classes, in column order."""
    columns = [c for c in predictions.columns if c.startswith("proba_")]
    return predictions[columns].to_numpy(dtype=float), [c.removeprefix("proba_") for c in columns]
