"""The image CNN on scikit-learn's 8x8 digits, as the pipeline trains it, next to the MLP.

conf/ composed with `data=digits` (which brings conf/model/cnn.yaml into the line-up); the
table goes through the pipeline's functions (read_source -> ingest -> split_frame: 60/20/20
stratified, seed 42) and each model through `build_model` with its composed config, the
model seed varied. Fit seconds include the preprocessing.

Usage:  PYTHONPATH=src python benchmarks/digits_cnn.py [--seeds 42 43 44] [--models cnn mlp]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from bakeoff.config import compose_conf
from bakeoff.ingest import ingest
from bakeoff.models import build_model
from bakeoff.params import params_from_mapping
from bakeoff.sources import read_source
from bakeoff.split import split_frame

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "digits_cnn.json"


def fit_one(config: dict[str, Any], parts, task: str, target: str) -> dict[str, Any]:
    train, val, test = (parts[k] for k in ("train", "val", "test"))
    model = build_model(config, task)
    start = time.perf_counter()
    model.fit(train.drop(columns=target), train[target], val.drop(columns=target), val[target])
    fit_s = time.perf_counter() - start
    accuracy = (model.predict(test.drop(columns=target)) == test[target].to_numpy()).mean()
    est = model.estimator
    return {
        "seed": config["random_state"],
        "test_accuracy": round(float(accuracy), 4),
        "fit_s": round(fit_s, 2),
        "epochs": len(est.history_),
        "best_epoch": est.best_epoch_,
        "parameters": model.describe()["parameters"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--models", nargs="+", default=["cnn", "mlp"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    raw = compose_conf(ROOT / "conf", ["data=digits"])
    params = params_from_mapping(raw)
    frame, card, problems = ingest(read_source(params.data, ROOT), params.data)
    if problems:
        raise SystemExit(f"digits: {problems}")
    target = params.data.target
    parts = split_frame(
        frame, target=target, task=card["task"], config=params.split, seed=params.seed
    )
    result: dict[str, Any] = {
        "config": {
            "models": {name: raw["models"][name] for name in args.models},
            "split": "the pipeline's: 60/20/20, stratified, seed 42",
            "model_seeds": args.seeds,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
    }
    for name in args.models:
        runs = [
            fit_one({**raw["models"][name], "random_state": seed}, parts, card["task"], target)
            for seed in args.seeds
        ]
        result[name] = {
            "mean_test_accuracy": round(statistics.mean(r["test_accuracy"] for r in runs), 4),
            "mean_fit_s": round(statistics.mean(r["fit_s"] for r in runs), 2),
            "runs": runs,
        }
        print(name, json.dumps(result[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
