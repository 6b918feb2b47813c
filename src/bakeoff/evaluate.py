"""Stage `evaluate` (one per model): score the saved model on the frozen test split.

    python -m bakeoff.evaluate <model>

The model is loaded back through `mlflow.pyfunc` and fed raw test rows, so evaluation
exercises exactly what serving will run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bakeoff import metrics, plots, setup_logging
from bakeoff.importance import DEFAULT_METRIC, permutation_importance
from bakeoff.io import read_json, write_json
from bakeoff.params import EvaluateConfig, Params, load_model_params
from bakeoff.paths import DATA_CARD, evaluation_dir, model_dir, split_path

log = logging.getLogger(__name__)


def score(task: str, y_true: pd.Series, predictions: pd.DataFrame) -> dict[str, float]:
    """Test metrics from a pyfunc prediction frame (`prediction`, `proba_<class>` ...)."""
    if task == "classification":
        from bakeoff.serving import predict_proba_columns

        proba, classes = predict_proba_columns(predictions)
        return metrics.classification_metrics(y_true.to_numpy(), proba, np.array(classes))
    return metrics.regression_metrics(
        y_true.to_numpy(dtype=float), predictions["prediction"].to_numpy(dtype=float)
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


def folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def plot_model(
    task: str, y_true: pd.Series, predictions: pd.DataFrame, name: str, out: Path
) -> list[Path]:
    if task == "classification":
        from bakeoff.serving import predict_proba_columns

        proba, classes = predict_proba_columns(predictions)
        paths = [out / "confusion_matrix.png", out / "roc_curve.png"]
        plots.confusion_matrix_plot(y_true, predictions["prediction"], classes, name, paths[0])
        plots.roc_plot(y_true, proba, classes, name, paths[1])
        return paths
    path = out / "predicted_vs_true.png"
    plots.residual_plot(y_true, predictions["prediction"], name, path)
    return [path]


def importance_on_test(
    predict, task: str, X: pd.DataFrame, y: pd.Series, params: Params, scores: dict[str, float]
) -> dict[str, Any]:
    """Permutation importance of the raw test columns (see bakeoff.importance); `scores`:
    the unshuffled test scores, so the baseline is not predicted again."""
    config = params.compare.importance
    metric = config.metric or DEFAULT_METRIC[task]
    start = time.perf_counter()
    columns = permutation_importance(
        predict,
        lambda y_true, predictions: score(task, y_true, predictions),
        X,
        y,
        metric=metric,
        repeats=config.repeats,
        seed=params.seed,
        baseline=scores.get(metric),
    )
    return {
        "metric": metric,
        "repeats": config.repeats,
        "test_rows": len(X),
        "seconds": time.perf_counter() - start,
        "columns": columns,
    }


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    card = read_json(DATA_CARD)
    trained = read_json(model_dir(name) / "train.json")
    out = evaluation_dir(name)
    if trained.get("status") == "failed":
        # Nothing to score; compare lists the model as failed with train's reason.
        (out / "plots").mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", {})
        write_json(out / "importance.json", {})
        log.warning("%s failed to train (%s): not evaluated", name, trained["error"])
        return
    test = pd.read_parquet(split_path("test"))  # raw rows, as ingested
    y_true = test[card["target"]]
    features = test.drop(columns=[card["target"]])

    import mlflow

    from bakeoff import tracking

    tracking.connect(params.tracking_uri)
    model = mlflow.pyfunc.load_model(str(model_dir(name) / "model"))
    start = time.perf_counter()
    predictions = model.predict(features)
    predict_seconds = time.perf_counter() - start

    scores = {
        **score(card["task"], y_true, predictions),
        "fit_seconds": trained["fit_seconds"],
        "predict_seconds": predict_seconds,
        **time_latency(model.predict, features, params.evaluate, params.seed),
        "model_size_mb": folder_size_mb(model_dir(name) / "model"),
    }
    figures = plot_model(card["task"], y_true, predictions, name, out / "plots")
    write_json(out / "metrics.json", {"test_rows": len(test), **scores})
    # The row key identifies rows; the model drops it, so shuffling it would measure nothing.
    importance = importance_on_test(
        model.predict, card["task"], features.drop(columns=params.data.key), y_true, params, scores
    )
    write_json(out / "importance.json", importance)

    # Test figures join the model's own run, which train left FINISHED.
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_metrics({f"test/{k}": v for k, v in scores.items()})
        for figure in figures:
            mlflow.log_artifact(str(figure), artifact_path="plots")
        mlflow.log_artifact(str(out / "importance.json"))
    log.info(
        "%s on %d test rows: %s",
        name,
        len(test),
        ", ".join(f"{k}={v:.4f}" for k, v in scores.items() if k in metrics.HIGHER_IS_BETTER),
    )


if __name__ == "__main__":
    main()
