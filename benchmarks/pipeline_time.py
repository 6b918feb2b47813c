"""How long `make run`'s pipeline takes, stage by stage, against the same work in one plain
process (benchmarks/plain_bakeoff.py), measured in the same run.

1. A scratch copy of the project (the tests' copy_project: committed files, a fresh git
   repo, no outputs, a new MLflow store); what `make run` runs there
   (`python -m bakeoff.warm dvc exp run`) with the default line-up and verdict settings,
   every stage timed from DVC's "Running stage" line to the next.
2. The same in a second copy with a plain `dvc exp run` (every stage imports its own
   libraries), for the warm server's share.
3. A no-op `dvc repro` in the first copy (nothing changed: nothing runs).
4. plain_bakeoff.run(): the same contestants, configs, folds and fractions in one process.

    python benchmarks/pipeline_time.py [--data breast_cancer] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, save_result
from verdict_cost import timed_run  # `dvc exp run`, timed stage by stage

sys.path.insert(0, str(ROOT / "tests"))
import plain_bakeoff
from pipeline_project import copy_project

SHARED = ROOT.parent / "shared" / "datasets"


def environment() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "DVC_NO_ANALYTICS": "1"}


def grouped(stages: dict[str, float]) -> list[dict[str, object]]:
    """The issue's table: stages grouped, processes, wall time."""
    groups = {
        "config, ingest, validate, split, drift, featurize": lambda s: (
            s in ("config", "ingest", "validate", "split", "drift", "featurize")
        ),
        "contestant@*": lambda s: s.startswith("contestant@"),
        "compare, learning_curve, promote, report": lambda s: (
            s in ("compare", "learning_curve", "promote", "report")
        ),
    }
    rows = []
    for label, member in groups.items():
        chosen = [s for s in stages if member(s)]
        rows.append(
            {
                "stages": label,
                "processes": len(chosen),
                "wall s": round(sum(stages[s] for s in chosen), 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="breast_cancer")
    parser.add_argument("--set", nargs="*", default=[], help="more -S overrides")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/bakeoff-pipeline-time"))
    args = parser.parse_args()
    shutil.rmtree(args.keep, ignore_errors=True)
    overrides = [f"data={args.data}", *args.set]
    runs = {}
    for label, prefix in (("warm", (sys.executable, "-m", "bakeoff.warm")), ("cold", ())):
        project = args.keep / label
        project.mkdir(parents=True)
        copy_project(project, {f"data/external/{n}": SHARED / n for n in ("adult.data",)})
        runs[label] = timed_run(project, [x for o in overrides for x in ("-S", o)], prefix)
        print(f"{label}: {runs[label][1]:.1f} s", flush=True)
    project = args.keep / "warm"
    stages, total, _ = runs["warm"]
    cold_stages, cold_total, _ = runs["cold"]
    noop = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            ["dvc", "repro"], cwd=project, env=environment(), check=True, capture_output=True
        )
        noop.append(time.perf_counter() - started)
    plain = plain_bakeoff.run(overrides)
    ratio = total / plain["total_seconds"]
    print(f"pipeline {total:.1f} s, plain {plain['total_seconds']:.1f} s: {ratio:.2f}x")
    rows = [{"stage": name, "wall s": round(seconds, 1)} for name, seconds in stages.items()]
    save_result(
        f"pipeline_time_{args.data}",
        title=f"make run's pipeline on {args.data} against a plain one-process script",
        command="python benchmarks/pipeline_time.py"
        + (f" --data {args.data}" if args.data != "breast_cancer" else "")
        + (f" --set {' '.join(args.set)}" if args.set else ""),
        tables=[
            {
                "caption": "the whole pipeline against the same work in one plain process",
                "rows": [
                    {
                        "pipeline (make run) s": round(total, 1),
                        "plain_bakeoff.py s": round(plain["total_seconds"], 1),
                        "ratio": round(ratio, 2),
                        "cold pipeline (dvc exp run) s": round(cold_total, 1),
                        "no-op dvc repro s": round(min(noop), 2),
                    }
                ],
            },
            {
                "caption": "stages, grouped: make run (warm stage server) and plain dvc exp run",
                "rows": [
                    {**w, "cold wall s": c["wall s"]}
                    for w, c in zip(grouped(stages), grouped(cold_stages), strict=True)
                ],
            },
            {
                "caption": "every stage",
                "rows": [{**r, "cold wall s": round(cold_stages[r["stage"]], 1)} for r in rows],
            },
            {
                "caption": "plain_bakeoff.py, per contestant (final fit, test scores, "
                "importance, refits) and the learning curves",
                "rows": [{"part": k, "s": round(v, 1)} for k, v in plain["seconds"].items()],
            },
        ],
        notes=[
            "Per-stage times run from one `Running stage` line of `dvc exp run` to the next, "
            "so each includes its process's start, DVC's own work and, cold, the imports.",
            "make run runs `python -m bakeoff.warm dvc exp run`: a stage forks from a server "
            "that has imported the libraries (docs/speed.md); cold, each stage imports them.",
            "The plain script does the same fits and scores one after another in one "
            "process; the pipeline also saves, logs to MLflow, plots and renders the report.",
        ],
        raw={
            "stages": stages,
            "cold_stages": cold_stages,
            "noop_repro_seconds": noop,
            "plain": plain,
        },
    )


if __name__ == "__main__":
    main()
