"""What the verdict costs: one normal pipeline run (`dvc exp run`) on a dataset, in a scratch
copy of the project, timing every stage as DVC starts it. The bake-off without uncertainty
and learning curves is the same run less the refits on the resamples (each contestant stage
records their wall time in reports/resample/<model>.json) and the `learning_curve` stage; the
ratio of the two is what they add (the issue's budget: 3x). `ratio_without_importance` also
takes the permutation importance out of the bake-off.

    python benchmarks/verdict_cost.py --data breast_cancer
    python benchmarks/verdict_cost.py --data adult --models logreg hist_gradient_boosting mlp
    python benchmarks/verdict_cost.py --data adult --name adult_tuned --set <tune apply's -S values>

Adult and California need their files in data/external/ (copied from ../shared/datasets
when present). Writes benchmarks/results/verdict_cost_<name>.json and keeps the report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from pipeline_project import copy_project  # the tests' scratch copy of the project

RESULTS = Path(__file__).parent / "results"  # verdict_cost_<data>.json
SHARED = ROOT.parent / "shared" / "datasets"
# The default line-up, as conf/config.yaml's defaults list names it (`model@models.<name>`).
LINE_UP = [
    key.split(".", 1)[1]
    for entry in yaml.safe_load((ROOT / "conf/config.yaml").read_text())["defaults"]
    if isinstance(entry, dict)
    for key in entry
    if key.startswith("model@models.")
]


def tool_env() -> dict[str, str]:
    """The environment for a project's commands: this Python's dvc first on PATH."""
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": env_path, "DVC_NO_ANALYTICS": "1"}


def timed_run(
    project: Path, overrides: list[str], prefix: tuple[str, ...] = ()
) -> tuple[dict[str, float], float, str]:
    """Per-stage wall seconds (from one `Running stage` line to the next), total, output.
    `prefix`: what runs `dvc exp run` (`make run`'s `python -m bakeoff.warm`), if anything."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [*prefix, "dvc", "exp", "run", *overrides],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=tool_env(),
    )
    stages: dict[str, float] = {}
    current, since, lines = None, start, []
    for line in process.stdout:
        lines.append(line)
        found = re.match(r"Running stage '([^']+)'", line)
        if found:
            now = time.perf_counter()
            if current:
                stages[current] = now - since
            current, since = found.group(1), now
    process.wait()
    total = time.perf_counter() - start
    if current:
        stages[current] = time.perf_counter() - since
    if process.returncode != 0:
        raise SystemExit("".join(lines[-60:]))
    return stages, total, "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="breast_cancer")
    parser.add_argument("--models", nargs="*", help="line-up (default: every contestant)")
    parser.add_argument("--set", nargs="*", default=[], help="more -S overrides")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/bakeoff-verdict"))
    parser.add_argument("--name", help="results file verdict_cost_<name>.json (default: --data)")
    args = parser.parse_args()
    project = args.keep / args.data
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    copy_project(
        project,
        {f"data/external/{n}": SHARED / n for n in ("adult.data", "california_housing.csv")},
    )
    overrides = ["-S", f"data={args.data}"]
    for name in LINE_UP:
        if args.models and name not in args.models:
            overrides += ["-S", f"~model@models.{name}"]
    for item in args.set:
        overrides += ["-S", item]
    stages, total, _ = timed_run(project, overrides)
    board = json.loads((project / "reports/leaderboard.json").read_text())
    importance = sum(
        json.loads(p.read_text()).get("seconds", 0.0)
        for p in (project / "reports/evaluate").glob("*/importance.json")
    )
    resample_seconds = sum(
        json.loads(p.read_text()).get("wall_seconds", 0.0)
        for p in (project / "reports/resample").glob("*.json")
    )
    verdict_seconds = resample_seconds + stages.get("learning_curve", 0.0)
    baseline = total - verdict_seconds
    curve = json.loads((project / "reports/learning_curve.json").read_text())
    result = {
        "data": args.data,
        "models": sorted(board["models"]),
        "overrides": overrides,
        "total_seconds": round(total, 1),
        "resample_seconds": round(resample_seconds, 1),
        "learning_curve_seconds": round(stages.get("learning_curve", 0.0), 1),
        "importance_seconds": round(importance, 1),
        "baseline_seconds": round(baseline, 1),
        "ratio": round(total / baseline, 2),
        "ratio_without_importance": round(total / (baseline - importance), 2),
        "cores": os.cpu_count(),
        "verdict": board.get("verdict", {}).get("sentence") if board.get("verdict") else None,
        "best_classical": board["best_classical"],
        "best_deep": board["best_deep"],
        "recommended": board["recommendation"]["model"],
        "learning_curve": curve["statement"],
        "report": str(project / f"reports/{args.data}/report.html"),
        "stages": {k: round(v, 1) for k, v in stages.items()},
    }
    (RESULTS / f"verdict_cost_{args.name or args.data}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "stages"}, indent=2))


if __name__ == "__main__":
    main()
