"""Refits side by side: what `compare.n_jobs` buys for the resample folds.

The MLP and HistGradientBoosting with the pipeline's configs (conf/model/*.yaml) on
California housing's pipeline splits (bakeoff.data.prepare, as the pipeline makes them):
0. what starting the workers costs: cold loky workers importing scikit-learn's stack, or
   torch and Lightning too (bakeoff.evaluation.parallel.WORKER_START_SECONDS);
1. one fit on one thread against one fit on every core: does the model use the cores?
2. the 5-fold resample one fit at a time (n_jobs=1, each fit on every core) against all
   folds side by side (n_jobs=None: one worker per core, each on its share of threads).
Scores must be the same either way; the ratio is the wall-time saving.

Usage:  PYTHONPATH=src python benchmarks/parallel_refits.py [--data-dir DIR] [--models ...]
DIR holds california_housing.csv (default: data/external, as the card).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import threadpoolctl
from joblib.externals.loky import get_reusable_executor

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.parallel import cpu_cores
from bakeoff.evaluation.resampling import resample_scores
from bakeoff.models.fitting import fit_model
from bakeoff.params import ResamplingConfig, compose_conf
from common import FILES, ROOT, load_splits

RESULTS = Path(__file__).parent / "results" / "parallel_refits.json"


def imports_classical() -> int:
    import bakeoff.evaluation.refits  # noqa: F401

    return os.getpid()


def imports_network() -> int:
    import bakeoff.evaluation.refits  # noqa: F401

    return os.getpid()


def worker_start_seconds(function, workers: int) -> float:
    """Wall time for `workers` cold loky workers to start and run `function` once each."""
    from joblib import Parallel, delayed, parallel_config
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # joblib reuses workers: start cold
    start = time.perf_counter()
    with parallel_config(backend="loky"):
        Parallel(n_jobs=workers)(delayed(function)() for _ in range(workers))
    return time.perf_counter() - start


def pipeline_config(model: str) -> dict:
    """models.<model> as the pipeline composes it (default trainer)."""
    return compose_conf(ROOT / "conf", [])["models"][model]


def one_fit_seconds(config: dict, splits: FeatureSplits, threads: int) -> float:
    if "trainer" in config:
        config = {**config, "trainer": {**config["trainer"], "num_threads": threads}}
    with threadpoolctl.threadpool_limits(threads):
        _, seconds = fit_model(
            config, task=splits.task, train=splits.train, val=splits.val, target=splits.target
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    # Classical first: once torch is imported, its OpenMP runtime slows scikit-learn's
    # multi-threaded fits in the same process, which the pipeline's classical stages never see.
    parser.add_argument("--models", nargs="*", default=["hist_gradient_boosting", "mlp"])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    parts, task, target = load_splits("california_housing", args.data_dir)
    splits = FeatureSplits(parts["train"], parts["val"], parts["test"], task, target)
    cores = cpu_cores()
    results = {
        "data": FILES["california_housing"],
        "cores": cores,
        "worker_start_seconds": {
            "scikit-learn": round(worker_start_seconds(imports_classical, cores), 1),
            "torch and lightning": round(worker_start_seconds(imports_network, cores), 1),
        },
        "models": {},
    }
    print(json.dumps(results["worker_start_seconds"]), flush=True)
    for model in args.models:
        config = pipeline_config(model)
        fit = {n: one_fit_seconds(config, splits, n) for n in sorted({1, cores})}
        runs = {}
        for n_jobs in (1, None):
            get_reusable_executor().shutdown(wait=True)  # the stage starts its workers cold
            start = time.perf_counter()
            scores = resample_scores(
                config,
                splits,
                ResamplingConfig(folds=args.folds),
                val_share=0.25,
                seed=42,
                n_jobs=n_jobs,
            )
            runs[n_jobs] = (time.perf_counter() - start, [r["rmse"] for r in scores])
        (sequential, one), (side_by_side, many) = runs[1], runs[None]
        results["models"][model] = {
            "fit_seconds_by_threads": fit,
            "resample_seconds_one_at_a_time": round(sequential, 1),
            "resample_seconds_side_by_side": round(side_by_side, 1),
            "speedup": round(sequential / side_by_side, 2),
            "same_scores": one == many,
            "fold_rmse": [round(s, 4) for s in one],
        }
        print(model, json.dumps(results["models"][model]), flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
