"""The image CNN on scikit-learn's 8x8 digits, as the pipeline trains it, next to the MLP.

conf/ composed with `data=digits` (which brings conf/model/cnn.yaml into the line-up); the
table goes through the pipeline's data stages in memory (`bakeoff.data.prepare`: ingest,
validate, split 60/20/20 stratified with seed 42) and each model through the train stage's
`fit_model` with its composed config, the model seed varied. Fit seconds include the preprocessing.

Usage:  PYTHONPATH=src python benchmarks/digits_cnn.py [--seeds 42 43 44] [--models cnn mlp]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import warnings
from pathlib import Path
from typing import Any

import torch

from bakeoff.data.prepare import prepared_splits
from bakeoff.models.fitting import fit_model
from bakeoff.params import compose_conf, params_from_mapping
from common import ROOT

RESULTS = Path(__file__).parent / "results" / "digits_cnn.json"


def fit_one(config: dict[str, Any], parts, task: str, target: str) -> dict[str, Any]:
    test = parts["test"]
    model, fit_s = fit_model(
        config, task=task, train=parts["train"], val=parts["val"], target=target
    )
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
    parts, card = prepared_splits(params_from_mapping(raw), ROOT)
    target = card["target"]
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
