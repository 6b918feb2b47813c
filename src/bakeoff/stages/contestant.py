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
So is one whose process the operating system kills: the stage's own process only watches
the child that does the work (bakeoff.watch) and records the death.
"""

from __future__ import annotations

# This process only watches: the contestant's work runs in a child process (the same
# command, bakeoff.watch), so that the operating system killing it (out of memory) is
# recorded as this contestant's failure and the bake-off goes on. Before the imports below,
# which the watching process never pays for.
if __name__ == "__main__":
    from bakeoff.watch import watch_unless_child

    watch_unless_child("bakeoff.stages.contestant")

import logging
import os
import signal
import sys
import time
from dataclasses import replace
from typing import Any

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.metrics import HIGHER_IS_BETTER, REPORTED
from bakeoff.evaluation.refits import RefitFailed
from bakeoff.evaluation.resampling import ratio, resample_with_predictions
from bakeoff.evaluation.testing import evaluate_saved, save_evaluation
from bakeoff.fileio import read_json, write_json, write_parquet
from bakeoff.guard import hold_workspace
from bakeoff.models.fitting import is_rank_zero, refit_config, with_checkpoints
from bakeoff.params import Params, load_model_params
from bakeoff.paths import (
    DATA_CARD,
    evaluation_dir,
    model_dir,
    resample_path,
    resample_predictions_path,
    split_path,
)
from bakeoff.tracking.orphans import close_orphans_of
from bakeoff.tracking.runs import (
    ERROR_ARTIFACT,
    TrainingFailed,
    log_evaluation,
    log_resamples,
    train_and_log,
)
from bakeoff.watch import KILLED_PID, KILLED_REASON

log = logging.getLogger(__name__)


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def evaluate(
    name: str, params: Params, card: dict[str, Any], trained: dict[str, Any], model: Any
) -> None:
    """Score the saved model on the raw test rows; reports/evaluate/<name>/ and the run.
    A TF-IDF linear model's importance.json also holds its top n-grams (from `model`, the
    fitted one: the weights are the same as the saved model's)."""
    from bakeoff.reporting.plots import model_plots  # matplotlib: only to draw

    out = evaluation_dir(name)
    test = pd.read_parquet(split_path("test"))  # raw rows, as ingested
    result = evaluate_saved(model_dir(name) / "model", test, card, params, trained["fit_seconds"])
    if "text" in card["features"].values():
        from bakeoff.models.text import top_ngrams  # scikit-learn's linear models: text only

        ngrams = top_ngrams(model)
        if ngrams:
            result = replace(result, importance={**result.importance, "top_ngrams": ngrams})
    figures = model_plots(card["task"], result.y_true, result.predictions, name, out / "plots")
    save_evaluation(out, result)
    log_evaluation(
        result.scores, figures, out / "importance.json", card=card, model_id=trained["model_id"]
    )
    shown = {k: round(v, 4) for k, v in result.scores.items() if k in HIGHER_IS_BETTER}
    log.info("%s on %d test rows: %s", name, result.test_rows, shown)


def resample(
    name: str, params: Params, splits: FeatureSplits
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Refit on every resample; the record for reports/resample/<name>.json ("failed" with
    the reason when the contestant's own fit fails on one) and the refits' predictions."""
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
        results, predictions = resample_with_predictions(
            refit_config(params.models[name], len(splits.train)),
            splits,
            resampling,
            val_share=val_share,
            seed=params.seed,
            n_jobs=params.compare.n_jobs,
        )
    except RefitFailed as exc:  # the contestant's failure, as in training: the bake-off goes on
        log.error("%s failed on a resample (%s): no interval for it", name, exc)
        return {**record, "status": "failed", "error": str(exc)}, None
    wall = time.perf_counter() - started
    log.info(
        "%s: %d resamples in %.1f s (fits %.1f s)",
        name,
        len(results),
        wall,
        sum(r["fit_seconds"] for r in results),
    )
    done = {
        **record,
        "status": "done",
        "ratio": ratio(resampling, results),
        "wall_seconds": wall,  # fits side by side: less than their sum
        "resamples": results,
    }
    return done, predictions


def write_resamples(name: str, record: dict[str, Any], predictions: pd.DataFrame | None) -> None:
    write_json(resample_path(name), record)
    # An empty frame when there are none: the output exists whatever happened.
    write_parquet(
        resample_predictions_path(name), predictions if predictions is not None else pd.DataFrame()
    )


def record_failure(name: str, failure: TrainingFailed) -> None:
    """A contestant that failed to train: its records say so, and nothing is scored."""
    log.error(
        "%s; the bake-off goes on without it (traceback: the run's %s)", failure, ERROR_ARTIFACT
    )
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
    error = f"not trained: {failure.reason}"
    write_resamples(name, {"model": name, "status": "failed", "error": error}, None)


def record_killed(name: str, params: Params, reason: str, pid: str) -> None:
    """The watched child was killed (bakeoff.watch): its MLflow run ends KILLED with the
    reason, and its records say it failed; what it finished before stays (a contestant
    killed while resampling keeps its scores, without an interval)."""
    closed = close_orphans_of(params.data.name, params.tracking_uri, reason, pid=pid)
    run_id = closed[0] if closed else None
    trained = model_dir(name) / "train.json"
    evaluated = evaluation_dir(name) / "metrics.json"
    if trained.is_file() and read_json(trained).get("status") == "trained" and evaluated.is_file():
        log.error("%s was killed while resampling (%s): no interval for it", name, reason)
        write_resamples(name, {"model": name, "status": "failed", "error": reason}, None)
        return
    record_failure(name, TrainingFailed(name, run_id, reason))


def interrupted_message(name: str, params: Params, exc: KeyboardInterrupt) -> str:
    """What a user who pressed Ctrl-C (or whose scheduler sent SIGTERM) needs to know."""
    resume = "BAKEOFF_RESUME=1 dvc exp run" if "trainer" in params.models[name] else "dvc exp run"
    checkpoints = (
        f" (the network continues from checkpoints/{params.data.name}/{name}/last.ckpt)"
        if "trainer" in params.models[name]
        else ""
    )
    return (
        f"{name}: interrupted ({exc or 'Ctrl-C'}); its MLflow run was ended KILLED and "
        f"nothing was recorded for it. To go on, run `{resume}`{checkpoints}; other "
        "stages that finished are not run again."
    )


def main(argv: list[str] | None = None) -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    if os.environ.get(KILLED_REASON):  # bakeoff.watch: the child doing the work was killed
        record_killed(name, params, os.environ[KILLED_REASON], os.environ.get(KILLED_PID, ""))
        return
    # SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C does: KILLED, not RUNNING.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        _contestant(name, params)
    except KeyboardInterrupt as exc:
        log.error("%s", interrupted_message(name, params, exc))
        sys.exit(130)


def _contestant(name: str, params: Params) -> None:
    """Train, evaluate and resample `name` (the stage's work, in the watched child)."""
    if is_rank_zero():  # runs of this contestant's earlier killed processes, if any
        close_orphans_of(params.data.name, params.tracking_uri)
    card = read_json(DATA_CARD)
    splits = FeatureSplits.read(card)

    def score_and_resample(model, trained: dict[str, Any]) -> None:
        """Inside the contestant's MLflow run, after training (rank 0 only)."""
        evaluate(name, params, card, trained, model)
        record, predictions = resample(name, params, splits)
        write_resamples(name, record, predictions)
        if record["status"] == "done":
            log_resamples(record["resamples"], REPORTED[card["task"]])

    try:
        model, _ = train_and_log(
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
    if not is_rank_zero() and model is not None:
        # A DDP rank other than 0 trains every refit with rank 0 (its records are rank 0's).
        # Not when training diverged: rank 0 has recorded the failure and resamples nothing.
        resample(name, params, splits)


if __name__ == "__main__":
    main()
