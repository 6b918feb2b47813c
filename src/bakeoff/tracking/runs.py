"""MLflow runs: a contestant's (its fit, config, curves, validation scores and saved model;
its test figures later) and the pipeline's (the leaderboard and the verdict, its children).

`train_and_log` is shared by the pipeline's train stage and the Hydra sweep app.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bakeoff.evaluation.cost import hardware, peak_memory
from bakeoff.evaluation.scoring import validation_scores
from bakeoff.fileio import remove_tree, write_json
from bakeoff.models.fitting import fit_model, is_rank_zero
from bakeoff.params import Params
from bakeoff.paths import split_path
from bakeoff.tracking import store
from bakeoff.tracking.datasets import log_fit_splits, log_split
from bakeoff.tracking.orphans import process_tags
from bakeoff.tracking.tags import GUARD, display_name, flatten, run_tags

log = logging.getLogger(__name__)

# MLflow samples system metrics every 10 s by default and drops the samples of a run shorter
# than one interval; a bake-off's network often trains for less. The variable, when set, wins.
SAMPLING_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
SYSTEM_METRICS_SECONDS = 2
# A failed run's traceback, next to its bakeoff.error tag.
ERROR_ARTIFACT = "error.txt"


def run_config(params: Params, name: str) -> dict[str, Any]:
    """What this model's run depends on, logged as its params and as an artifact."""
    return {
        "model": params.models[name],
        "data": {
            "name": params.data.name,
            "target": params.data.target,
            "task": params.data.task,
            "key": list(params.data.key),  # decides the hash split
        },
        "split": vars(params.split),
        "featurize": {"steps": params.featurize_steps},
        "seed": params.seed,
    }


class TrainingFailed(Exception):
    """A contestant's fit raised; its MLflow run is FAILED and carries the reason."""

    def __init__(self, model: str, run_id: str, reason: str):
        self.run_id, self.reason = run_id, reason
        super().__init__(f"{model} failed to train (MLflow run {run_id}): {reason}")


@contextmanager
def recorded_outcome(run) -> Iterator[None]:
    """End the run KILLED on an interrupt (Ctrl-C, SIGTERM) and FAILED, with the reason, on
    an error; never leave it RUNNING. Errors propagate."""
    import mlflow

    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        mlflow.set_tag("bakeoff.status", "killed")
        mlflow.end_run("KILLED")
        raise
    except Exception as exc:
        reason = exc.reason if isinstance(exc, TrainingFailed) else f"{type(exc).__name__}: {exc}"
        try:
            mlflow.set_tags({"bakeoff.status": "failed", "bakeoff.error": reason[:5000]})
            # The tag says what failed; the traceback (with the fit's own error, which
            # TrainingFailed chains) says where, for a bug rather than a bad setting.
            mlflow.log_text("".join(traceback.format_exception(exc)), ERROR_ARTIFACT)
        finally:
            mlflow.end_run("FAILED")
        raise


def log_history(run_id: str, history: list[dict[str, float]]) -> None:
    """Per-epoch curves of a network, in one batched request."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [
        Metric(key, float(value), now, int(row["epoch"]))
        for row in history
        for key, value in row.items()
        if key != "epoch"
    ]
    for start in range(0, len(metrics), 1000):  # MLflow caps a batch at 1000 metrics
        mlflow.MlflowClient().log_batch(run_id, metrics=metrics[start : start + 1000])


def train_and_log(
    params: Params,
    name: str,
    config: dict[str, Any],
    *,
    card: dict[str, Any],
    train: pd.DataFrame,
    val: pd.DataFrame,
    out: Path,
    tags: dict[str, str] | None = None,
    run_name: str | None = None,
    then: Callable[[Any, dict[str, Any]], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Fit one model inside an MLflow run, log it there as a LoggedModel and download that
    to `out/model`; `then` (the fitted model, the record) runs last inside the same run (the
    pipeline scores the saved model there).

    Shared by the pipeline's contestant stage and the Hydra sweep app (whose `tags` name the
    sweep and its parent run). The run ends FINISHED, or FAILED if anything raises. Returns
    the fitted model and what the run recorded (its validation scores under "val"); on a DDP
    rank other than 0, the model (None if training diverged) and {}: nothing recorded.
    """
    import mlflow

    from bakeoff.tracking.serving import ServedModel, log_served_model

    target, task = card["target"], card["task"]
    if not is_rank_zero():
        # A DDP rank other than 0: its gradients are needed, its records are not.
        try:
            model, _ = fit_model(
                config,
                task=task,
                train=train,
                val=val,
                target=target,
                column_kinds=card.get("features"),
            )
        except FloatingPointError as exc:
            # The loss is reduced over all ranks, so rank 0 fails at the same epoch and
            # records it. Exiting non-zero here would make the launcher terminate rank 0.
            # Other errors propagate: the launcher then stops rank 0, which would otherwise
            # wait for this rank forever.
            log.error("%s on DDP rank %s: %s", name, os.environ.get("LOCAL_RANK"), exc)
            return None, {}
        log.info(
            "%s: DDP rank %s trained; rank 0 records the run", name, os.environ.get("LOCAL_RANK")
        )
        return model, {}
    store.connect(params.tracking_uri)
    store.use_experiment(params.data.name)
    logged = {**run_config(params, name), "model": config}
    remove_tree(out)
    with (
        # The owning process's tags let a later run close this one if the process is killed.
        mlflow.start_run(
            run_name=run_name or display_name(name, params.data.name),
            tags={**(tags or {}), **process_tags()},
            log_system_metrics=system_metrics_on(config),
        ) as run,
        recorded_outcome(run),
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(flatten(logged))
        mlflow.log_text(yaml.safe_dump(logged, sort_keys=False), "config.yaml")
        # Before the fit: a run that fails still says which data it failed on.
        seen = log_fit_splits(card)
        try:
            with peak_memory() as memory:
                model, fit_seconds = fit_model(
                    config,
                    task=task,
                    train=train,
                    val=val,
                    target=target,
                    column_kinds=card.get("features"),
                )
        except Exception as exc:
            # The contestant's own failure (a NaN loss, a bad setting): reported, and the
            # bake-off goes on. Anything after this point (logging, saving) is the
            # pipeline's failure and fails the stage, so DVC runs it again.
            raise TrainingFailed(name, run.info.run_id, f"{type(exc).__name__}: {exc}") from exc
        mlflow.set_tags(
            run_tags(
                dataset=params.data.name,
                data_hash=card["content_hash"],
                model=name,
                family=model.family,
            )
        )
        if guard := model.guard():
            mlflow.set_tag(GUARD, guard)
        served = ServedModel(model=model, steps=params.model_steps, target=target)
        # The input example is raw rows as ingested, which is what the model must accept
        # (the row key aside: a model does not need it).
        example = pd.read_parquet(split_path("train")).head(5).drop(columns=params.data.key)
        # Logged before any metric: MLflow links the run's step-0 metrics to a model as it
        # logs it, and the per-epoch curves (step: epoch) are the run's, not the model's.
        logged_model = log_served_model(
            served,
            name,
            example,
            Path(tmp),
            tags={"bakeoff.model": name, "bakeoff.family": model.family},
        )
        model_id = logged_model.model_id
        # The DVC output is the logged model itself, byte for byte: evaluation, `dvc exp`
        # and the registry all see the same files.
        download_model(model_id, out / "model")
        history = getattr(model.estimator, "history_", None)
        if history:
            log_history(run.info.run_id, history)
        val_scores = validation_scores(model, val, target, task)
        mlflow.log_metrics({"fit_seconds": fit_seconds, **memory}, model_id=model_id)
        mlflow.log_metrics(
            {f"validation/{k}": v for k, v in val_scores.items()},
            model_id=model_id,
            dataset=seen["val"],
        )
        info = {
            "model": name,
            "status": "trained",
            "family": model.family,
            "task": task,
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "model_id": model_id,
            "model_uri": f"models:/{model_id}",
            "fit_seconds": fit_seconds,
            **memory,
            "val": val_scores,
            **model.describe(),
            # With every cost figure: a laptop's run and a GPU server's are not comparable.
            "hardware": hardware(),
        }
        if history:
            info["epochs"] = len(history)
            info["best_epoch"] = int(model.estimator.best_epoch_)
        write_json(out / "train.json", info)
        if then is not None:
            then(model, info)
    log.info("trained %s (%s) in %.2f s, run %s", name, model.family, fit_seconds, run.info.run_id)
    return model, info


def system_metrics_on(config: dict[str, Any]) -> bool:
    """Whether the run records system metrics: a deep model's `trainer.system_metrics` (on by
    default), when psutil is there to measure; classical models have no trainer and record
    none. When on, MLflow samples every SYSTEM_METRICS_SECONDS."""
    wanted = bool((config.get("trainer") or {}).get("system_metrics", False))
    if wanted and importlib.util.find_spec("psutil") is None:
        log.warning("trainer.system_metrics is on but psutil is not installed: not recorded")
        return False
    if wanted and not os.environ.get(SAMPLING_ENV):
        import mlflow

        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_SECONDS)
    return wanted


def download_model(model_id: str, folder: Path) -> None:
    """The logged model's folder, downloaded to `folder`."""
    import mlflow

    folder.mkdir(parents=True)
    mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=str(folder))


def log_evaluation(
    scores: dict[str, float],
    figures: list[Path],
    importance: Path,
    *,
    card: dict[str, Any],
    model_id: str,
) -> None:
    """Test figures join the contestant's run, which is active: the test split as its input,
    the scores as the logged model's metrics on it (what the Models tab ranks by)."""
    import mlflow

    test = log_split(card, "test")
    mlflow.log_metrics({f"test/{k}": v for k, v in scores.items()}, model_id=model_id, dataset=test)
    for figure in figures:
        mlflow.log_artifact(str(figure), artifact_path="plots")
    mlflow.log_artifact(str(importance))


def log_resamples(resamples: list[dict[str, Any]], metrics: list[str]) -> None:
    """Each resample's scores (step: the resample's number) and their mean join the
    contestant's run, which is active."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    points = [
        Metric(f"resample/{m}", float(r[m]), now, int(r["resample"]))
        for r in resamples
        for m in metrics
        if m in r
    ]
    means = [
        Metric(f"resample/{m}_mean", sum(r[m] for r in resamples) / len(resamples), now, 0)
        for m in metrics
        if all(m in r for r in resamples)
    ]
    run_id = mlflow.active_run().info.run_id
    mlflow.MlflowClient().log_batch(run_id, metrics=points + means)
