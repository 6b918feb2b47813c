"""Hydra app: train one model from conf/ with overrides, scored on the validation split.

    python -m bakeoff.cli.sweep model=random_forest model.n_estimators=100
    python -m bakeoff.cli.sweep -m model=mlp model.lr=1e-3,3e-3 model.dropout=0,0.1
    python -m bakeoff.cli.sweep -m hydra/sweeper=optuna model=hist_gradient_boosting budget.trials=30

A multirun is one MLflow parent run (SweepTracking, below) with a child run per job, in
the dataset's experiment. Jobs use the featurized splits the pipeline produced, so run
`dvc exp run` first; the test split is never touched here. A job whose training fails is a
FAILED child run and the sweep goes on.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.types import Override
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bakeoff.evaluation import metrics
from bakeoff.fileio import read_json, write_json, write_text
from bakeoff.params import params_from_mapping, read_params_file
from bakeoff.paths import BEST_FILE, DATA_CARD, SWEEP_RECORD, features_path, find_workspace

log = logging.getLogger(__name__)
PIPELINE_KEYS = ("seed", "data", "split", "featurize")


def direction() -> str:
    """Optuna's direction for the dataset's ranking metric (the data card's task)."""
    card = find_workspace() / DATA_CARD
    if not card.is_file():
        raise FileNotFoundError(
            f"{card} is missing, so the sweep cannot tell whether to maximise or minimise: "
            "run `dvc repro featurize` first (or set hydra.sweeper.direction)"
        )
    _, higher = metrics.PRIMARY_METRIC[read_json(card)["task"]]
    return "maximize" if higher else "minimize"


if not OmegaConf.has_resolver("bakeoff.direction"):
    OmegaConf.register_new_resolver("bakeoff.direction", direction)


def check_same_data(config: dict[str, Any], pipeline: dict[str, Any], card: dict[str, Any]) -> None:
    """The sweep must train on splits built from the configuration it was given."""
    if card.get("dataset") != config["data"]["name"]:
        raise SystemExit(
            f"data/processed holds {card.get('dataset')!r}, not {config['data']['name']!r}: "
            f"run `dvc exp run -S data={config['data']['name']}` first"
        )
    differing = [k for k in PIPELINE_KEYS if config.get(k) != pipeline.get(k)]
    if differing:
        raise SystemExit(
            f"the sweep's {', '.join(differing)} differ from params.yaml, which built the splits in "
            "data/processed; run `dvc exp run` with the same settings first "
            "(e.g. `dvc exp run -S data=<card>`)"
        )


def overrides_dict(overrides: list[str]) -> dict[str, str]:
    """`key=value` overrides as a dict."""
    return dict(o.split("=", 1) for o in overrides if "=" in o)


def is_optuna(config: DictConfig) -> bool:
    return "OptunaSweeper" in str(config.hydra.sweeper.get("_target_", ""))


def sweeps(config: DictConfig) -> dict[str, Override]:
    """What the multirun searches, by key: the sweeper's own merge of its `params`, the
    model's conf/search file (Optuna only) and the command line, later ones winning; keys a
    later override fixes to one value are not searched."""
    from hydra_plugins.bakeoff_optuna_sweeper.optuna_sweeper import merged_overrides, search_lines

    sweeper = config.hydra.sweeper
    search = sweeper.get("search") if is_optuna(config) else None
    lines = search_lines(config, sweeper.get("params"), search, list(config.hydra.overrides.task))
    return {k: o for k, o in merged_overrides(lines).items() if o.is_sweep_override()}


def as_written(override: Override) -> str:
    return override.input_line.split("=", 1)[1]


def budget_text(config: DictConfig, space: dict[str, Override]) -> str:
    """The sweep's budget in words, recorded on the parent, every trial and the leaderboard."""
    sweeper = config.hydra.sweeper
    if is_optuna(config):
        text = f"optuna, {sweeper.n_trials if space else 1} trials"
        return text + (f", {sweeper.timeout:g} s" if sweeper.get("timeout") else "")
    sizes = [len(list(o.sweep_string_iterator())) for o in space.values()]
    return f"grid, {math.prod(sizes)} trials"


class SweepTracking(Callback):
    """One MLflow parent run per multirun, a child run per job (tag mlflow.parentRunId).

    Before any job starts it creates (and migrates) the store, so parallel jobs never race
    to do it, and opens the parent: search space, budget, command line. When the sweep ends
    it records the trial counts, the best trial's overrides and validation score, and an
    optimisation-history plot, and writes best.yaml in the sweep folder."""

    def __init__(self) -> None:
        self.record: dict[str, Any] | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        from bakeoff.models.fitting import is_rank_zero
        from bakeoff.tracking import store, tags
        from bakeoff.tracking.datasets import log_fit_splits

        if not is_rank_zero():
            return
        task_config = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        task = OmegaConf.to_container(task_config, resolve=True)
        card = read_json(find_workspace() / DATA_CARD)
        # Once, before the parent run exists, rather than failing in every trial.
        check_same_data(task, read_params_file(find_workspace() / "params.yaml"), card)
        dataset = task["data"]["name"]
        uri = store.connect((task.get("mlflow") or {}).get("tracking_uri"))
        experiment_id = store.use_experiment(dataset)
        model = config.hydra.runtime.choices.model
        folder = Path(config.hydra.sweep.dir)
        # multirun/<time>-<model>, or multirun/tune-<time>/<model> from `bakeoff.cli.tune all`
        name = folder.name if folder.parent.name == "multirun" else "/".join(folder.parts[-2:])
        folder.mkdir(parents=True, exist_ok=True)
        space = sweeps(config)
        budget = budget_text(config, space)
        written = {k: as_written(o) for k, o in space.items()}
        command = json.dumps(list(config.hydra.overrides.task))
        client = mlflow.MlflowClient(uri)
        run = client.create_run(
            experiment_id,
            run_name=f"sweep {model} {name}",
            tags={
                **tags.run_tags(dataset=dataset, data_hash=card["content_hash"], model=model),
                "bakeoff.role": "sweep",
                "bakeoff.sweep": name,
                "bakeoff.budget": budget,
                "bakeoff.overrides": command,
            },
        )
        run_id = run.info.run_id
        from mlflow.entities import Param

        logged = {
            "sweeper": str(config.hydra.sweeper._target_).rsplit(".", 1)[-1],
            "launcher": str(config.hydra.launcher._target_).rsplit(".", 1)[-1],
            "n_jobs": config.hydra.launcher.get("n_jobs")
            or config.hydra.launcher.get("array_parallelism", ""),
            "budget": budget,
            "overrides": command[:6000],
            **{f"search.{k}": v[:6000] for k, v in written.items()},
        }
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in logged.items()])
        client.log_text(
            run_id,
            yaml.safe_dump(
                {"search_space": written, "overrides": list(config.hydra.overrides.task)}
            ),
            "search_space.yaml",
        )
        # The data every trial trains and stops on. Logged here, before any job starts, the
        # store creates each dataset once: parallel trials that both find it missing would
        # both insert it, and a server on PostgreSQL refuses the second (unique key).
        log_fit_splits(card, run_id)
        self.record = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "tracking_uri": uri,
            "sweep": name,
            "folder": str(folder),
            "model": model,
            "dataset": dataset,
            "task": card["task"],
            "budget": budget,
            "started": time.time(),
        }
        write_json(folder / SWEEP_RECORD, self.record)
        # A sweep that crashes or is interrupted still closes its parent run (FAILED).
        atexit.register(self._close, interrupted=True)
        log.info("sweep %s: MLflow parent run %s (%s)", name, run_id, budget)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._close(interrupted=False)

    def _close(self, *, interrupted: bool) -> None:
        if self.record is None:
            return
        record, self.record = self.record, None
        try:
            summarise(record, interrupted=interrupted)
        except Exception:
            import mlflow

            log.exception("could not summarise sweep %s", record["sweep"])
            mlflow.MlflowClient(record["tracking_uri"]).set_terminated(record["run_id"], "FAILED")
            if not interrupted:  # a sweep without its best.yaml has not succeeded
                raise


def summarise(record: dict[str, Any], *, interrupted: bool = False) -> dict[str, Any]:
    """Close the parent run with the sweep's outcome; write best.yaml. Returns the summary."""
    import mlflow
    from mlflow.entities import Metric, Param

    from bakeoff.reporting import plots
    from bakeoff.tracking import tags

    client = mlflow.MlflowClient(record["tracking_uri"])
    metric, higher = metrics.PRIMARY_METRIC[record["task"]]
    key = f"validation/{metric}"
    children = client.search_runs(
        [record["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{record['run_id']}'",
        max_results=10000,
    )
    children.sort(key=lambda r: int(r.data.tags["bakeoff.trial"]))
    scored = [r for r in children if r.info.status == "FINISHED" and key in r.data.metrics]
    failed = [r for r in children if r.info.status != "FINISHED"]
    # Trials a guard cut short (a time budget) are ranked by what they reached: say how many.
    guarded = [r for r in scored if tags.GUARD in r.data.tags]
    seconds = time.time() - record["started"]
    summary: dict[str, Any] = {
        "sweep": record["sweep"],
        "model": record["model"],
        "dataset": record["dataset"],
        "budget": record["budget"],
        "trials": len(children),
        "finished": len(scored),
        "failed": len(failed),
        "guarded": len(guarded),
        "seconds": round(seconds, 1),
        "metric": key,
        "parent_run_id": record["run_id"],
        # Stopped before its budget (Ctrl-C, a crash): the best of the trials it ran.
        "interrupted": interrupted,
    }
    now = int(time.time() * 1000)
    logged = [
        Metric(f"sweep/{k}", float(summary[k]), now, 0)
        for k in ("trials", "finished", "failed", "guarded", "seconds")
    ]
    params = []
    if scored:
        best = (max if higher else min)(scored, key=lambda r: r.data.metrics[key])
        overrides = overrides_dict(json.loads(best.data.tags["bakeoff.overrides"]))
        summary |= {
            "value": best.data.metrics[key],
            "best_run_id": best.info.run_id,
            "trial": int(best.data.tags["bakeoff.trial"]),
            "overrides": overrides,
        }
        if tags.GUARD in best.data.tags:
            summary["best_guard"] = best.data.tags[tags.GUARD]
        logged.append(Metric(f"best/{key}", summary["value"], now, 0))
        params = [Param(f"best.{k}", v[:6000]) for k, v in overrides.items()]
        params.append(Param("best.run_id", best.info.run_id))
        path = Path(record["folder"]) / "optimisation_history.png"
        plots.optimisation_history(
            [int(r.data.tags["bakeoff.trial"]) for r in scored],
            [r.data.metrics[key] for r in scored],
            higher,
            f"{record['model']} sweep {record['sweep']}: validation {metric}",
            path,
        )
        client.log_artifact(record["run_id"], str(path))
    client.log_batch(record["run_id"], metrics=logged, params=params)
    client.set_tag(record["run_id"], "bakeoff.failed_trials", str(len(failed)))
    text = yaml.safe_dump(summary, sort_keys=False)
    write_text(Path(record["folder"]) / BEST_FILE, text)
    client.log_text(record["run_id"], text, BEST_FILE)
    status = "FINISHED" if scored and not interrupted else "FAILED"
    client.set_terminated(record["run_id"], status)
    log.info(
        "sweep %s: %d trials, %d failed, %d guarded; best %s = %s (%s)",
        record["sweep"],
        len(children),
        len(failed),
        len(guarded),
        key,
        f"{summary['value']:.4f}" if scored else "none",
        Path(record["folder"]) / BEST_FILE,
    )
    return summary


@hydra.main(version_base="1.3", config_path=str(find_workspace() / "conf"), config_name="sweep")
def main(cfg: DictConfig) -> float:
    from bakeoff.tracking.runs import TrainingFailed, train_and_log

    config = OmegaConf.to_container(cfg, resolve=True)
    card = read_json(find_workspace() / DATA_CARD)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode.name != "MULTIRUN":  # a multirun checked it once, before any job
        check_same_data(config, read_params_file(find_workspace() / "params.yaml"), card)
    name = hydra_cfg.runtime.choices["model"]
    params = params_from_mapping(config)
    overrides = " ".join(hydra_cfg.overrides.task)
    tags = {
        "bakeoff.sweep": "single",
        "bakeoff.overrides": json.dumps(list(hydra_cfg.overrides.task)),
    }
    run_name = name
    record_path = Path(hydra_cfg.sweep.dir) / SWEEP_RECORD
    if hydra_cfg.mode.name == "MULTIRUN" and record_path.exists():
        record = read_json(record_path)
        trial = hydra_cfg.job.num
        tags |= {
            "mlflow.parentRunId": record["run_id"],
            "bakeoff.sweep": record["sweep"],
            "bakeoff.trial": str(trial),
            "bakeoff.budget": record["budget"],
        }
        run_name = f"{name} #{trial}"
    try:
        _, info = train_and_log(
            params,
            name,
            config["model"],
            card=card,
            train=pd.read_parquet(find_workspace() / features_path("train")),
            val=pd.read_parquet(find_workspace() / features_path("val")),
            out=Path(hydra_cfg.runtime.output_dir),
            tags=tags,
            run_name=run_name,
        )
    except TrainingFailed as failure:
        # Its run is FAILED with the reason; the sweep's other trials go on.
        log.error("%s %s: %s", name, overrides, failure)
        return math.nan
    if not info:  # a DDP rank other than 0: rank 0 scores and records the job
        return math.nan
    metric, _ = metrics.PRIMARY_METRIC[card["task"]]
    value = info["val"][metric]
    log.info("%s %s: validation %s = %.4f", name, overrides, metric, value)
    return value


if __name__ == "__main__":
    main()
