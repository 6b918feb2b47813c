"""Categories into the MLP: learned embeddings or one-hot columns?

The MLP exactly as the pipeline builds it (`bakeoff.models.deep.mlp` with the
hyperparameters of conf/model/mlp.yaml and the default trainer), once per encoding, on the
pipeline's own dataset cards: Adult (classification: test accuracy) and California housing
(regression, target in $100k: test RMSE). The tables go through the pipeline's data stages
in memory (bakeoff.data.prepare: ingest, validate, split 60/20/20, stratified for
classification, seed 42). Fit seconds include the preprocessing; several model seeds show
how much of a gap is noise.

Usage:  PYTHONPATH=src python benchmarks/categorical_encoding.py [--data-dir DIR]
            [--seeds 42 43 44] [--set key=value ...]
DIR holds adult.data and california_housing.csv (default: data/external, as the cards).
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

import numpy as np
import torch

from bakeoff.models.deep import CATEGORICAL_ENCODINGS, mlp
from bakeoff.params import compose_conf
from common import FILES, ROOT, load_splits

RESULTS = Path(__file__).parent / "results" / "categorical_encoding.json"


def pipeline_hyperparameters(overrides: list[str]) -> dict[str, Any]:
    """models.mlp as the pipeline composes it (default trainer), minus the factory target."""
    config = compose_conf(ROOT / "conf", overrides)["models"]["mlp"]
    config.pop("_target_")
    config.pop("random_state")
    return config


def run_one(parts, task: str, target: str, hyper: dict[str, Any], seed: int) -> dict[str, Any]:
    train, val, test = (parts[k] for k in ("train", "val", "test"))
    model = mlp(task, random_state=seed, **hyper)
    start = time.perf_counter()
    model.fit(train.drop(columns=target), train[target], val.drop(columns=target), val[target])
    fit_s = time.perf_counter() - start
    pred, y_test = model.predict(test.drop(columns=target)), test[target].to_numpy()
    est = model.estimator
    result = {
        "seed": seed,
        "fit_s": round(fit_s, 2),
        "epochs": len(est.history_),
        "best_epoch": est.best_epoch_,
        "s_per_epoch": round(fit_s / len(est.history_), 3),
        "parameters": model.describe()["parameters"],
        "n_inputs": est.n_features_in_,
    }
    if task == "classification":
        result["test_accuracy"] = round(float((pred == y_test).mean()), 4)
    else:
        result["test_rmse"] = round(float(np.sqrt(((pred - y_test) ** 2).mean())), 4)
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in ("test_accuracy", "test_rmse", "fit_s", "epochs") if k in runs[0]]
    return {f"mean_{k}": round(statistics.mean(r[k] for r in runs), 4) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--encodings", nargs="+", default=list(CATEGORICAL_ENCODINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of models.mlp.*"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    hyper = pipeline_hyperparameters([f"models.mlp.{kv}" for kv in args.set])
    result: dict[str, Any] = {
        "config": {
            "mlp": {k: v for k, v in hyper.items() if k != "categorical"},
            "split": "the pipeline's: 60/20/20, stratified for classification, seed 42",
            "model_seeds": args.seeds,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
    }
    for name in args.datasets:
        parts, task, target = load_splits(name, args.data_dir)
        result[name] = {}
        for encoding in args.encodings:
            runs = [
                run_one(parts, task, target, {**hyper, "categorical": encoding}, seed)
                for seed in args.seeds
            ]
            result[name][encoding] = {**summarise(runs), "runs": runs}
            print(name, encoding, json.dumps(result[name][encoding]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
