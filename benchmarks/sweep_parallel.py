"""How much faster is a classical-model sweep with 2 parallel jobs than with 1?

The same 16-trial HistGradientBoosting grid (learning_rate x max_leaf_nodes x
min_samples_leaf) runs through `python -m bakeoff.cli.sweep -m` twice: with the default
launcher settings (n_jobs 1: one trial after another in the sweep's process, each free to
use every core) and with `hydra.launcher.n_jobs=2` (two joblib processes, one thread each).
Each variant logs into its own fresh SQLite store, so both include creating it. The
variants alternate over `--repeats` rounds; the speedup is the ratio of median wall times.

Runs on the workspace's featurized splits, for the dataset they hold: run the pipeline
first (`dvc exp run`, or `dvc exp run -S data=<card>`), as for any sweep.
Usage:  python benchmarks/sweep_parallel.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bakeoff.fileio import read_json
from bakeoff.paths import DATA_CARD
from common import ROOT

RESULTS = Path(__file__).parent / "results"  # sweep_parallel_<dataset>.json
GRID = [
    "model=hist_gradient_boosting",
    "model.learning_rate=0.03,0.1",
    "model.max_leaf_nodes=15,31,63,127",
    "model.min_samples_leaf=10,40",
]
TRIALS = 16


def one_sweep(jobs: int, folder: Path, dataset: str) -> float:
    """Wall seconds of the whole sweep (start-up, store creation and summary included)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    command = [
        sys.executable,
        "-m",
        "bakeoff.sweep",
        "-m",
        f"data={dataset}",
        *GRID,
        f"hydra.launcher.n_jobs={jobs}",
        f"hydra.sweep.dir={folder / 'sweep'}",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{result.stderr[-3000:]}")
    best = (folder / "sweep" / "best.yaml").read_text()
    assert f"finished: {TRIALS}" in best, best
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    card = read_json(ROOT / DATA_CARD)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeats):
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                seconds[jobs].append(one_sweep(jobs, Path(tmp), card["dataset"]))
                print(f"{jobs} job(s): {seconds[jobs][-1]:.1f} s", flush=True)
    medians = {jobs: statistics.median(s) for jobs, s in seconds.items()}
    result = {
        "dataset": card["dataset"],
        "rows": card["rows"],
        "trials": TRIALS,
        "cpu_cores": os.cpu_count(),
        "seconds": {f"{jobs}_jobs": [round(s, 1) for s in runs] for jobs, runs in seconds.items()},
        "median_seconds": {f"{jobs}_jobs": round(m, 1) for jobs, m in medians.items()},
        "speedup": round(medians[1] / medians[2], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"sweep_parallel_{card['dataset']}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
