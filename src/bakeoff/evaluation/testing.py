"""A saved model on the frozen test split: loaded back through `mlflow.pyfunc` (exactly what
serving runs) and fed raw rows. Its scores, prediction time, latency, size on disk, and the
permutation importance of the raw columns; what a contestant's evaluation writes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bakeoff.evaluation.cost import folder_size_mb
from bakeoff.evaluation.scoring import importance_on_test, score, time_latency
from bakeoff.fileio import write_json
from bakeoff.params import Params


@dataclass(frozen=True)
class TestResult:
    scores: dict[str, float]  # metrics, fit and predict seconds, latency, size
    predictions: pd.DataFrame  # the saved model's answer for every test row
    y_true: pd.Series
    importance: dict[str, Any]
    test_rows: int


def evaluate_saved(
    folder: Path, test: pd.DataFrame, card: dict[str, Any], params: Params, fit_seconds: float
) -> TestResult:
    """Score the MLflow model in `folder` on the raw `test` rows."""
    import mlflow

    y_true = test[card["target"]]
    features = test.drop(columns=[card["target"]])
    model = mlflow.pyfunc.load_model(str(folder))
    start = time.perf_counter()
    predictions = model.predict(features)
    predict_seconds = time.perf_counter() - start
    scores = {
        **score(card["task"], y_true, predictions),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        **time_latency(model.predict, features, params.evaluate, params.seed),
        "model_size_mb": folder_size_mb(folder),
    }
    # The row key identifies rows; the model drops it, so shuffling it would measure nothing.
    importance = importance_on_test(
        model.predict, card["task"], features.drop(columns=params.data.key), y_true, params, scores
    )
    return TestResult(scores, predictions, y_true, importance, len(test))


def save_evaluation(out: Path, result: TestResult) -> None:
    """reports/evaluate/<model>/metrics.json (DVC metrics) and importance.json."""
    write_json(out / "metrics.json", {"test_rows": result.test_rows, **result.scores})
    write_json(out / "importance.json", result.importance)
