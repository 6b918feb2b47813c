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
# Cells (rows x columns) predicted in one call at most.
MAX_CELLS_PER_CALL = 5_000_000


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

    The `repeats` shuffles of a column go to `predict` in one stacked frame, with other
    columns' shuffles up to MAX_CELLS_PER_CALL cells; every other column keeps its values
    and dtype. `baseline`: the unshuffled score, when the caller has it already (else it is
    predicted here).
    """
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    if baseline is None:
        baseline = score(y, predict(X))[metric]
    rng = np.random.default_rng(seed)
    n = len(X)
    stacked = pd.concat([X] * repeats, ignore_index=True)
    y_stacked = pd.concat([y] * repeats, ignore_index=True)
    # Several columns' shuffles per call, up to a budget of cells: a model's predict has a
    # fixed cost per call (the pyfunc's schema check, a network's batching) that would
    # otherwise be paid once per column.
    per_call = max(1, MAX_CELLS_PER_CALL // max(1, len(stacked) * X.shape[1]))
    columns = list(X.columns)
    result = {}
    for first in range(0, len(columns), per_call):
        group = columns[first : first + per_call]
        frames = [
            stacked.assign(
                **{
                    column: pd.concat(
                        [X[column].iloc[rng.permutation(n)] for _ in range(repeats)],
                        ignore_index=True,
                    )
                }
            )
            for column in group
        ]
        predictions = predict(pd.concat(frames, ignore_index=True)).reset_index(drop=True)
        for g, column in enumerate(group):
            losses = []
            for r in range(repeats):
                rows = slice((g * repeats + r) * n, (g * repeats + r + 1) * n)
                shuffled = score(
                    y_stacked.iloc[r * n : (r + 1) * n].reset_index(drop=True),
                    predictions.iloc[rows].reset_index(drop=True),
                )[metric]
                losses.append(sign * (baseline - shuffled))
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
