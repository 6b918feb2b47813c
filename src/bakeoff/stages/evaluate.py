"""Stage `evaluate` (one per contestant): score the saved model on the frozen test split.

    python -m bakeoff.stages.evaluate <model>

The model is loaded back through `mlflow.pyfunc` and fed raw test rows, so evaluation
exercises exactly what serving will run: test metrics, latency, size, plots and the
permutation importance of the raw columns, all added to the contestant's MLflow run.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from bakeoff import setup_logging
from bakeoff.evaluation.cost import folder_size_mb
from bakeoff.evaluation.metrics import HIGHER_IS_BETTER
from bakeoff.evaluation.scoring import importance_on_test, score, time_latency
from bakeoff.fileio import read_json, write_json
from bakeoff.params import load_model_params
from bakeoff.paths import DATA_CARD, evaluation_dir, model_dir, split_path
from bakeoff.reporting.plots import model_plots
from bakeoff.tracking import store
from bakeoff.tracking.runs import log_evaluation

log = logging.getLogger(__name__)


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

    store.connect(params.tracking_uri)
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
    figures = model_plots(card["task"], y_true, predictions, name, out / "plots")
    write_json(out / "metrics.json", {"test_rows": len(test), **scores})
    # The row key identifies rows; the model drops it, so shuffling it would measure nothing.
    importance = importance_on_test(
        model.predict, card["task"], features.drop(columns=params.data.key), y_true, params, scores
    )
    write_json(out / "importance.json", importance)
    log_evaluation(trained["run_id"], scores, figures, out / "importance.json")
    log.info(
        "%s on %d test rows: %s",
        name,
        len(test),
        ", ".join(f"{k}={v:.4f}" for k, v in scores.items() if k in HIGHER_IS_BETTER),
    )


if __name__ == "__main__":
    main()
