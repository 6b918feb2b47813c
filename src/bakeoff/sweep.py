"""Hydra app: train one model from conf/ with overrides, scored on the validation split.

    python -m bakeoff.sweep model=random_forest model.n_estimators=100
    python -m bakeoff.sweep -m model=mlp model.lr=1e-3,3e-3 model.dropout=0,0.1

Each job is an MLflow run in the dataset's experiment, tagged with its sweep. Jobs use the
featurized splits the pipeline produced, so run `dvc exp run` first; the test split is never
touched here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bakeoff import metrics
from bakeoff.io import read_json
from bakeoff.params import params_from_mapping, read_params_file
from bakeoff.paths import DATA_CARD, features_path, find_workspace

log = logging.getLogger(__name__)
PIPELINE_KEYS = ("seed", "data", "split", "featurize")


def check_same_data(config: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """The sweep must train on splits built from the configuration it was given."""
    differing = [k for k in PIPELINE_KEYS if config.get(k) != pipeline.get(k)]
    if differing:
        raise SystemExit(
            f"the sweep's {', '.join(differing)} differ from params.yaml, which built the splits in "
            "data/processed; run `dvc exp run` with the same settings first "
            "(e.g. `dvc exp run -S data=<card>`)"
        )


def validation_scores(model, val: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    X, y = val.drop(columns=[target]), val[target].to_numpy()
    if task == "classification":
        return metrics.classification_metrics(y, model.predict_proba(X), model.classes_)
    return metrics.regression_metrics(y.astype(float), model.predict(X))


@hydra.main(version_base="1.3", config_path=str(find_workspace() / "conf"), config_name="sweep")
def main(cfg: DictConfig) -> float:
    import mlflow

    from bakeoff.train import train_and_log

    config = OmegaConf.to_container(cfg, resolve=True)
    check_same_data(config, read_params_file(Path("params.yaml")))
    hydra_cfg = HydraConfig.get()
    name = hydra_cfg.runtime.choices["model"]
    params = params_from_mapping(config)
    card = read_json(DATA_CARD)
    val = pd.read_parquet(features_path("val"))
    sweep = Path(hydra_cfg.sweep.dir).name if hydra_cfg.mode.name == "MULTIRUN" else "single"
    model, info = train_and_log(
        params,
        name,
        config["model"],
        card=card,
        train=pd.read_parquet(features_path("train")),
        val=val,
        out=Path(hydra_cfg.runtime.output_dir),
        tags={"bakeoff.sweep": sweep, "bakeoff.overrides": " ".join(hydra_cfg.overrides.task)},
    )
    if not info:  # a DDP rank other than 0: rank 0 scores and records the job
        return float("nan")
    scores = validation_scores(model, val, card["target"], card["task"])
    with mlflow.start_run(run_id=info["run_id"]):
        mlflow.log_metrics({f"val/{k}": v for k, v in scores.items()})
    metric, _ = metrics.PRIMARY_METRIC[card["task"]]
    log.info(
        "%s %s: validation %s = %.4f",
        name,
        " ".join(hydra_cfg.overrides.task),
        metric,
        scores[metric],
    )
    return scores[metric]


if __name__ == "__main__":
    main()
