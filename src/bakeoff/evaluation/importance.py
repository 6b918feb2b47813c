"""Permutation importance on the raw input columns, through the model's own predict.

One code path for every contestant: whatever predicts raw rows (the saved MLflow model,
sklearn and Lightning alike) is scored with each column shuffled in turn. Importance is how
much the test score worsens, in the metric's own units (positive: the model relies on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.evaluation.metrics import HIGHER_IS_BETTER

DEFAULT_METRIC = {"classification": "log_loss", "regression": "rmse"}


def permutation_importance(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    score: Callable[[pd.Series, pd.DataFrame], dict[str, float]],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    repeats: int,
    seed: int,
    baseline: float | None = None,
) -> dict[str, dict[str, float]]:
    """Column -> {mean, std} of the score lost when that column is shuffled.

    The `repeats` shuffles of a column go to `predict` as one stacked frame (one call per
    column, not per shuffle); every other column keeps its values and dtype. `baseline`:
    the unshuffled score, when the caller has it already (else it is predicted here).
    """
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    if baseline is None:
        baseline = score(y, predict(X))[metric]
    rng = np.random.default_rng(seed)
    n = len(X)
    stacked = pd.concat([X] * repeats, ignore_index=True)
    y_stacked = pd.concat([y] * repeats, ignore_index=True)
    result = {}
    for column in X.columns:
        shuffled = pd.concat(
            [X[column].iloc[rng.permutation(n)] for _ in range(repeats)], ignore_index=True
        )
        predictions = predict(stacked.assign(**{column: shuffled})).reset_index(drop=True)
        losses = [
            sign
            * (
                baseline
                - score(
                    y_stacked.iloc[r * n : (r + 1) * n].reset_index(drop=True),
                    predictions.iloc[r * n : (r + 1) * n].reset_index(drop=True),
                )[metric]
            )
            for r in range(repeats)
        ]
        result[str(column)] = {"mean": float(np.mean(losses)), "std": float(np.std(losses))}
    return result


def ranked(importance: dict[str, dict[str, float]]) -> list[tuple[str, float]]:
    """(column, mean importance), most important first."""
    return sorted(((c, v["mean"]) for c, v in importance.items()), key=lambda cv: -cv[1])


def rank_agreement(
    a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Spearman correlation of two models' importances over the columns both were given.

    None when it is undefined: fewer than 3 shared columns, or one model ignores them all
    alike (a constant importance, e.g. the dummy baseline).
    """
    from scipy import stats as sps

    columns = sorted(set(a) & set(b))
    x = [a[c]["mean"] for c in columns]
    y = [b[c]["mean"] for c in columns]
    if len(columns) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": None, "p_value": None, "columns": len(columns)}
    result = sps.spearmanr(x, y)
    return {
        "spearman": float(result.statistic),
        "p_value": float(result.pvalue),
        "columns": len(columns),
    }
