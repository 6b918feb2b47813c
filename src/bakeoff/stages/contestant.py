"""Stage `contestant` (one per contestant, DVC's matrix): everything the bake-off needs from
one model, in one process (one import of its libraries, not three).

    python -m bakeoff.stages.contestant <model>     # <model>: a key of `models` in params.yaml

1. train: fit on the training split (early stopping on validation) inside the contestant's
   MLflow run; save it as an MLflow model that takes raw rows (data/models/<model>/).
2. evaluate: load that saved model back through `mlflow.pyfunc`, exactly what serving runs,
   and score it on the frozen test split: metrics, latency, size, plots and the permutation
   importance of the raw columns (reports/evaluate/<model>/), logged to the same run.
3. resample: refit it on the resamples (bakeoff.evaluation.resampling) for the
   leaderboard's intervals and the verdict's paired test (reports/resample/<model>.json).

A contestant that fails to train, or whose refit fails, is recorded as failed (its MLflow
run FAILED, with the reason) and the bake-off goes on without it (or without its interval).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import pandas as pd

from bakeoff import setup_logging
from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.cost import folder_size_mb
from bakeoff.evaluation.metrics import HIGHER_IS_BETTER, REPORTED
from bakeoff.evaluation.refits import RefitFailed
from bakeoff.evaluation.resampling import ratio, resample_scores
from bakeoff.evaluation.scoring import importance_on_test, score, time_latency
from bakeoff.fileio import read_json, write_json
from bakeoff.models.fitting import is_rank_zero, with_checkpoints
from bakeoff.params import Params, load_model_params
from bakeoff.paths import DATA_CARD, evaluation_dir, model_dir, resample_path, split_path
from bakeoff.tracking.runs import TrainingFailed, log_evaluation, log_resamples, train_and_log

log = logging.getLogger(__name__)


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def evaluate(name: str, params: Params, card: dict[str, Any], trained: dict[str, Any]) -> None:
    """Score the saved model on the raw test rows; reports/evaluate/<name>/ and the run."""
    import mlflow

    from bakeoff.reporting.plots import model_plots  # matplotlib: only to draw

    out = evaluation_dir(name)
    test = pd.read_parquet(split_path("test"))  # raw rows, as ingested
    y_true = test[card["target"]]
    features = test.drop(columns=[card["target"]])
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
    log_evaluation(
        scores, figures, out / "importance.json", card=card, model_id=trained["model_id"]
    )
    log.info(
        "%s on %d test rows: %s",
        name,
        len(test),
        ", ".join(f"{k}={v:.4f}" for k, v in scores.items() if k in HIGHER_IS_BETTER),
    )


def resample(name: str, params: Params, splits: FeatureSplits) -> dict[str, Any]:
    """Refit on every resample; the record for reports/resample/<name>.json ("failed" with
    the reason when the contestant's own fit fails on one)."""
    resampling = params.compare.resampling
    record = {
        "model": name,
        "method": resampling.method,
        "folds": resampling.folds if resampling.method == "cv" else None,
        "repeats": resampling.repeats,
    }
    # The early-stopping share of a fold's training part: validation's share of train+val.
    val_share = params.split.val_size / (1 - params.split.test_size)
    started = time.perf_counter()
    try:
        results = resample_scores(
            params.models[name],
            splits,
            resampling,
            val_share=val_share,
            seed=params.seed,
            n_jobs=params.compare.n_jobs,
        )
    except RefitFailed as exc:  # the contestant's failure, as in training: the bake-off goes on
        log.error("%s failed on a resample (%s): no interval for it", name, exc)
        return {**record, "status": "failed", "error": str(exc)}
    wall = time.perf_counter() - started
    log.info(
        "%s: %d resamples in %.1f s (fits %.1f s)",
        name,
        len(results),
        wall,
        sum(r["fit_seconds"] for r in results),
    )
    return {
        **record,
        "status": "done",
        "ratio": ratio(resampling, results),
        "wall_seconds": wall,  # fits side by side: less than their sum
        "resamples": results,
    }


def record_failure(name: str, failure: TrainingFailed) -> None:
    """A contestant that failed to train: its records say so, and nothing is scored."""
    log.error("%s; the bake-off goes on without it", failure)
    write_json(
        model_dir(name) / "train.json",
        {
            "model": name,
            "status": "failed",
            "error": failure.reason,
            "run_id": failure.run_id,
            "model_uri": None,
        },
    )
    out = evaluation_dir(name)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {})
    write_json(out / "importance.json", {})
    write_json(resample_path(name), {"model": name, "status": "failed", "error": "not trained"})


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    # SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C does: KILLED, not RUNNING.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    card = read_json(DATA_CARD)
    splits = FeatureSplits.read(card)

    def score_and_resample(model, trained: dict[str, Any]) -> None:
        """Inside the contestant's MLflow run, after training (rank 0 only)."""
        evaluate(name, params, card, trained)
        record = resample(name, params, splits)
        write_json(resample_path(name), record)
        if record["status"] == "done":
            log_resamples(record["resamples"], REPORTED[card["task"]])

    try:
        train_and_log(
            params,
            name,
            with_checkpoints(params.models[name], params.data.name, name),
            card=card,
            train=splits.train,
            val=splits.val,
            out=model_dir(name),
            then=score_and_resample,
        )
    except TrainingFailed as failure:  # raised on rank 0 only
        record_failure(name, failure)
        return
    if not is_rank_zero():
        # A DDP rank other than 0 trains every refit with rank 0 (its records are rank 0's).
        resample(name, params, splits)


if __name__ == "__main__":
    main()
