"""Scores of a fitted model: on the validation split (what tuning and refits select on), on
the frozen test split through the saved model's prediction frame, the latency of predicting
a batch, and the permutation importance of the raw columns."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.features import split_xy
from bakeoff.evaluation import metrics
from bakeoff.evaluation.importance import DEFAULT_METRIC, permutation_importance
from bakeoff.evaluation.metrics import predict_proba_columns
from bakeoff.params import MIN_IMPORTANCE_ROWS, EvaluateConfig, Params

log = logging.getLogger(__name__)


def score(
    task: str, y_true: pd.Series, predictions: pd.DataFrame, only: Collection[str] | None = None
) -> dict[str, float]:
    """Test metrics from a pyfunc prediction frame (`prediction`, `proba_<class>` ...);
    `only`: just these."""
    if task == "classification":
        proba, classes = predict_proba_columns(predictions)
        return metrics.classification_metrics(y_true.to_numpy(), proba, np.array(classes), only)
    return metrics.regression_metrics(
        y_true.to_numpy(dtype=float), predictions["prediction"].to_numpy(dtype=float), only
    )


def time_latency(
    predict, rows: pd.DataFrame, config: EvaluateConfig, seed: int
) -> dict[str, float]:
    """p50/p95 wall time to predict `latency_rows` rows (drawn with replacement), after a warm-up."""
    batch = rows.sample(n=config.latency_rows, replace=True, random_state=seed)
    predict(batch)
    seconds = []
    for _ in range(config.latency_repeats):
        start = time.perf_counter()
        predict(batch)
        seconds.append(time.perf_counter() - start)
    return metrics.latency_summary(seconds)


def importance_on_test(
    predict, task: str, X: pd.DataFrame, y: pd.Series, params: Params, scores: dict[str, float]
) -> dict[str, Any]:
    """Permutation importance of the raw test columns (see bakeoff.importance), on a seeded
    sample of them when the test split is over `compare.importance.max_rows`, the work over
    `max_predictions`, or its estimated time over `max_seconds` (from `predict_seconds` in
    `scores`, the time the model took on the whole test split); none when that leaves fewer
    than MIN_IMPORTANCE_ROWS rows. `scores`: the unshuffled test scores, so the baseline is
    not predicted again when every row is used."""
    config = params.compare.importance
    metric = config.metric or DEFAULT_METRIC[task]
    baseline = scores.get(metric)
    test_rows = len(X)
    seconds_per_row = scores.get("predict_seconds", 0.0) / max(1, test_rows)
    kept = config.rows_for(test_rows, X.shape[1], seconds_per_row)
    record = {"metric": metric, "repeats": config.repeats, "test_rows": test_rows}
    if kept < min(config.requested(test_rows), MIN_IMPORTANCE_ROWS):  # cut by work or time
        every_row = seconds_per_row * X.shape[1] * config.repeats * test_rows
        reason = (
            f"not computed: at {seconds_per_row * 1000:.3g} ms per row predicted, "
            f"{X.shape[1]:,} columns x {config.repeats} repeats on the "
            f"{test_rows:,} test rows would take {every_row:,.0f} s; "
            f"compare.importance's limits (max_predictions={config.max_predictions}, "
            f"max_seconds={config.max_seconds}) leave {kept} rows, fewer than the minimum of "
            f"{MIN_IMPORTANCE_ROWS} for a ranking of columns"
        )
        log.warning("importance %s", reason)
        return {**record, "rows": 0, "seconds": 0.0, "skipped": reason, "columns": {}}
    if kept < test_rows:  # by position: a test frame's index need not be unique
        rows = np.random.default_rng(params.seed).choice(test_rows, size=kept, replace=False)
        X, y, baseline = X.iloc[rows], y.iloc[rows], None  # the sample's own baseline
    start = time.perf_counter()
    columns = permutation_importance(
        predict,
        lambda y_true, predictions: score(task, y_true, predictions, only=[metric]),
        X.reset_index(drop=True),
        y.reset_index(drop=True),
        metric=metric,
        repeats=config.repeats,
        seed=params.seed,
        baseline=baseline,
    )
    return {**record, "rows": len(X), "seconds": time.perf_counter() - start, "columns": columns}


def validation_scores(model, val: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    """The model's scores on the validation split: what tuning selects on (never the test)."""
    X, y = split_xy(val, target)
    if task == "classification":
        return metrics.classification_metrics(y.to_numpy(), model.predict_proba(X), model.classes_)
    return metrics.regression_metrics(y.to_numpy(dtype=float), model.predict(X))
