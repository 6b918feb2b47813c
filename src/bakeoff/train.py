"""Stage `train` (one per model, via DVC's matrix): fit a contestant and log it to MLflow.

python -m bakeoff.train <model>       # <model> is a key of `models` in params.yaml
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bakeoff import metrics, setup_logging
from bakeoff.cost import peak_memory
from bakeoff.io import read_json, write_json
from bakeoff.models import build_model
from bakeoff.params import Params, load_model_params
from bakeoff.paths import (
    CHECKPOINTS,
    DATA_CARD,
    SPLITS,
    features_path,
    find_project_root,
    model_dir,
    split_path,
)

log = logging.getLogger(__name__)


def is_rank_zero() -> bool:
    """False in the extra processes of a distributed (DDP) launch: Lightning's launcher
    re-runs the stage's command with LOCAL_RANK set, torchrun sets RANK, SLURM's srun
    SLURM_PROCID. Only rank 0 may record anything; the others exist to train."""
    return all(
        os.environ.get(name, "0") == "0"
        for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    )


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


@dataclass(frozen=True)
class FeatureSplits:
    """The featurized splits and what to learn from them: what every refit (resamples,
    learning-curve fractions) starts from."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    task: str
    target: str
    # The data card's column kinds: which columns are text (their dtype cannot say).
    column_kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, card: dict[str, Any]) -> FeatureSplits:
        """The featurize stage's outputs, with the task, target and kinds from the data card."""
        frames = {split: pd.read_parquet(features_path(split)) for split in SPLITS}
        return cls(
            **frames,
            task=card["task"],
            target=card["target"],
            column_kinds=dict(card.get("features") or {}),
        )


def fit_model(
    config: dict[str, Any],
    *,
    task: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    target: str,
    column_kinds: dict[str, str] | None = None,
):
    """Build the configured model and fit it; returns the model and the fit's wall time (s).

    Separate from the stage so that the same model can be fitted again (folds, seeds, fractions).
    `column_kinds` (the data card's `features`) says which columns are text.
    """
    model = build_model(config, task)
    X, y = split_xy(train, target)
    X_val, y_val = split_xy(val, target)
    start = time.perf_counter()
    model.fit(X, y, X_val=X_val, y_val=y_val, column_kinds=column_kinds)
    return model, time.perf_counter() - start


def fit_and_score(
    config: dict[str, Any],
    *,
    task: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    scored: pd.DataFrame,
    target: str,
    column_kinds: dict[str, str] | None = None,
) -> tuple[dict[str, float], float]:
    """One refit (a fold, a learning-curve point): fit on `train`, early-stop on `val`, score
    on `scored`; the scores and the fit's seconds. Runs in a worker process, too."""
    setup_logging()
    model, seconds = fit_model(
        config, task=task, train=train, val=val, target=target, column_kinds=column_kinds
    )
    return validation_scores(model, scored, target, task), seconds


def validation_scores(model, val: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    """The model's scores on the validation split: what tuning selects on (never the test)."""
    X, y = split_xy(val, target)
    if task == "classification":
        return metrics.classification_metrics(y.to_numpy(), model.predict_proba(X), model.classes_)
    return metrics.regression_metrics(y.to_numpy(dtype=float), model.predict(X))


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
        mlflow.set_tags({"bakeoff.status": "failed", "bakeoff.error": reason[:5000]})
        mlflow.end_run("FAILED")
        raise


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


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
) -> tuple[Any, dict[str, Any]]:
    """Fit one model inside an MLflow run, save it to `out` and log it there too.

    Shared by the pipeline's train stage and the Hydra sweep app (whose `tags` name the
    sweep and its parent run). The run ends FINISHED, or FAILED if anything raises. Returns
    the fitted model and what the run recorded (its validation scores under "val"); on a DDP
    rank other than 0, the model (None if training diverged) and {}: nothing recorded.
    """
    import mlflow

    from bakeoff import tracking
    from bakeoff.serving import ServedModel, save_served_model

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
    tracking.connect(params.tracking_uri)
    tracking.use_experiment(params.data.name)
    logged = {**run_config(params, name), "model": config}
    shutil.rmtree(out, ignore_errors=True)
    with (
        mlflow.start_run(run_name=run_name or name, tags=tags) as run,
        recorded_outcome(run),
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(tracking.flatten(logged))
        mlflow.log_text(yaml.safe_dump(logged, sort_keys=False), "config.yaml")
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
            {
                **tracking.run_tags(
                    dataset=params.data.name,
                    data_hash=card["content_hash"],
                    model=name,
                    family=model.family,
                ),
            }
        )
        history = getattr(model.estimator, "history_", None)
        if history:
            log_history(run.info.run_id, history)
        val_scores = validation_scores(model, val, target, task)
        mlflow.log_metrics(
            {
                "fit_seconds": fit_seconds,
                **memory,
                **{f"validation/{k}": v for k, v in val_scores.items()},
            }
        )

        served = ServedModel(model=model, steps=params.model_steps, target=target)
        # The input example is raw rows as ingested, which is what the model must accept
        # (the row key aside: a model does not need it).
        example = pd.read_parquet(split_path("train")).head(5).drop(columns=params.data.key)
        save_served_model(served, out / "model", example, Path(tmp))
        mlflow.log_artifacts(str(out / "model"), artifact_path="model")
        info = {
            "model": name,
            "status": "trained",
            "family": model.family,
            "task": task,
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "model_uri": f"runs:/{run.info.run_id}/model",
            "fit_seconds": fit_seconds,
            **memory,
            "val": val_scores,
            **model.describe(),
            # With every cost figure: a laptop's run and a GPU server's are not comparable.
            "hardware": tracking.hardware(),
        }
        if history:
            info["epochs"] = len(history)
            info["best_epoch"] = int(model.estimator.best_epoch_)
        write_json(out / "train.json", info)
    log.info("trained %s (%s) in %.2f s, run %s", name, model.family, fit_seconds, run.info.run_id)
    return model, info


def with_checkpoints(config: dict[str, Any], dataset: str, name: str) -> dict[str, Any]:
    """Networks checkpoint to checkpoints/<dataset>/<model>/ (best.ckpt, last.ckpt), outside
    DVC's outputs so an interrupted stage leaves them behind. BAKEOFF_RESUME=1 continues
    from last.ckpt; otherwise old checkpoints are cleared first."""
    if "trainer" not in config:
        return config  # classical models
    folder = find_project_root() / CHECKPOINTS / dataset / name
    resume = os.environ.get("BAKEOFF_RESUME", "") not in ("", "0")
    if not resume and is_rank_zero():
        shutil.rmtree(folder, ignore_errors=True)
    trainer = {**config["trainer"], "checkpoint_dir": str(folder), "resume": resume}
    return {**config, "trainer": trainer}


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    # SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C does: KILLED, not RUNNING.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        train_and_log(
            params,
            name,
            with_checkpoints(params.models[name], params.data.name, name),
            card=read_json(DATA_CARD),
            train=pd.read_parquet(features_path("train")),
            val=pd.read_parquet(features_path("val")),
            out=model_dir(name),
        )
    except TrainingFailed as failure:  # raised on rank 0 only
        # One contestant failing must not lose the others: record it, let the bake-off go on.
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


if __name__ == "__main__":
    main()
