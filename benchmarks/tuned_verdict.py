"""The verdict after equal-budget tuning: every tuned contestant gets the same number of
Optuna trials on the validation split (`python -m bakeoff.cli.tune all`), then the winners
are retrained through the pipeline (`bakeoff.cli.tune apply --run`) and compared as usual.

In a scratch copy of the project (kept under /tmp/bakeoff-tuned/<data>):

    dvc exp run -S data=<data> featurize
    python -m bakeoff.cli.tune all --models <models> --trials <trials> --jobs 2 \
        --out multirun/tune trainer.max_time=<max-time>
    python -m bakeoff.cli.tune apply multirun/tune --run <verdict settings>

`trainer.max_time` bounds each network fit, in the sweeps and in the pipeline alike (0: no
bound). `--collect PROJECT TUNE` only reads a project where that already ran.

    python benchmarks/tuned_verdict.py --data california_housing --max-time 240
    python benchmarks/tuned_verdict.py --collect /tmp/tune multirun/tune-cal --data california_housing

`--name five_folds` writes a variant beside the main result, e.g. the same sweeps applied
again with other verdict settings (`tune apply multirun/tune --run -S ...`) and collected.

California's and Adult's files are copied into the scratch project from ../shared/datasets.
Writes benchmarks/results/tuned_verdict_<data>[_<name>].json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from common import FILES, ROOT, save_result

sys.path.insert(0, str(ROOT / "tests"))
from pipeline_project import QUICK_VERDICT, copy_project
from verdict_cost import SHARED, tool_env

KEEP = Path("/tmp/bakeoff-tuned")


def run(project: Path, *command: str) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=project, env=tool_env(), check=True)


def tune_and_apply(args: argparse.Namespace) -> tuple[Path, Path]:
    project = KEEP / args.data
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    files = {}
    if args.data in FILES:
        files[f"data/external/{FILES[args.data]}"] = SHARED / FILES[args.data]
    copy_project(project, files)
    budget = [f"trainer.max_time={args.max_time:g}"] if args.max_time else []
    run(project, "dvc", "exp", "run", "-S", f"data={args.data}", "featurize")
    tune = Path("multirun/tune")
    python = [sys.executable, "-m", "bakeoff.cli.tune"]
    run(
        project,
        *python,
        "all",
        "--models",
        args.models,
        "--trials",
        str(args.trials),
        "--jobs",
        "2",
        "--out",
        str(tune),
        *budget,
    )
    run(
        project, *python, "apply", str(tune), "--run", *([] if args.full_verdict else QUICK_VERDICT)
    )
    return project, tune


def collect(project: Path, tune: Path, args: argparse.Namespace, command: str) -> None:
    summary = json.loads((project / tune / "summary.json").read_text())
    board = json.loads((project / "reports/leaderboard.json").read_text())
    metric = board["metric"]
    tuning = [
        {
            "model": m["model"],
            "budget": m["budget"],
            "failed": m["failed"],
            "guarded": m.get("guarded", "not recorded"),
            f"best validation {metric}": round(m["value"], 4),
            "best trial guarded": m.get("best_guard", ""),
            "wall s": m["wall_seconds"],
        }
        for m in summary["models"]
    ]
    ranked = sorted(board["models"].items(), key=lambda item: item[1]["rank"])
    rows = []
    for name, model in ranked:
        interval = model.get("cv", {}).get(metric, {})
        rows.append(
            {
                "rank": model["rank"],
                "model": name,
                "family": model["family"],
                f"resampled {metric}": round(interval.get("mean", float("nan")), 4),
                "95% interval": f"[{interval.get('low', float('nan')):.4f}, "
                f"{interval.get('high', float('nan')):.4f}]",
                f"test {metric}": round(model[metric], 4),
                "fit s": round(model["fit_seconds"], 1),
                "tuning": model.get("tuning", "defaults"),
                "guard": "; ".join(
                    model["cost"][k] for k in ("guard", "refit_guard") if model["cost"].get(k)
                ),
            }
        )
    shared = {
        k: v
        for k, v in summary["models"][0]["overrides"].items()
        if not k.startswith(("model", "budget."))
    }
    verdict = board.get("verdict") or {}
    ensemble = board.get("ensemble") or {}
    save_result(
        "_".join(["tuned_verdict", args.data, *([args.name] if args.name else [])]),
        title=f"The verdict on {args.data} after equal-budget tuning"
        + (f" ({args.name})" if args.name else ""),
        command=command,
        tables=[
            {"caption": "the sweeps (selected on the validation split)", "rows": tuning},
            {"caption": "the pipeline with the winners (leaderboard)", "rows": rows},
        ],
        notes=[
            f"Verdict: {verdict.get('sentence', 'none')}",
            f"Ensemble: {ensemble.get('sentence', 'none')}",
            "Resampled: mean and interval over the pipeline's cross-validation refits; test: the "
            "final model on the frozen test split. trainer.max_time, when set, bounded every "
            "network fit: the trials, the final fits, the refits, the learning-curve points.",
            f"The sweeps' shared settings: {shared}; resampling: {board.get('resampling', {})}.",
        ],
        raw={"verdict": verdict, "ensemble": ensemble, "sweeps": summary["models"]},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", default="hist_gradient_boosting,mlp,tabm")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--max-time", type=float, default=240.0, help="0: no bound")
    parser.add_argument("--full-verdict", action="store_true", help="not the quick settings")
    parser.add_argument("--collect", nargs=2, metavar=("PROJECT", "TUNE"), type=Path)
    parser.add_argument("--name", help="results/tuned_verdict_<data>_<name>.json: a variant")
    args = parser.parse_args()
    command = " ".join(["python benchmarks/tuned_verdict.py", *sys.argv[1:]])
    if args.collect:
        project, tune = args.collect
    else:
        project, tune = tune_and_apply(args)
    collect(project, tune, args, command)


if __name__ == "__main__":
    main()
