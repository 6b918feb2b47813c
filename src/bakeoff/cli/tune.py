"""Tune every contestant with the same budget, and carry the best configs into the pipeline.

    python -m bakeoff.cli.tune all --trials 20 --jobs 2        # one Optuna sweep per contestant
    python -m bakeoff.cli.tune apply multirun/tune-<time>      # `dvc exp run` with the winners
    python -m bakeoff.cli.tune apply multirun/<sweep> --as mlp_wide --run -S models.mlp_wide.max_epochs=50

`all` sweeps the pipeline's line-up (params.yaml) on the pipeline's dataset, each model with
the same number of trials (and, with --seconds, the same wall-clock limit), selecting on the
validation split; it writes summary.md/json next to the sweeps. `apply` reads each sweep's
best.yaml and builds one `dvc exp run` that sets the winning values, records the sweep and
its budget under `tuning.<contestant>` (the leaderboard shows them), and, with --run, runs it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bakeoff import setup_process
from bakeoff.fileio import write_json, write_text
from bakeoff.params import load_params
from bakeoff.paths import BEST_FILE, find_workspace
from bakeoff.reporting import formatting as fmt


def sweep_folders(paths: list[Path]) -> list[Path]:
    """Sweep folders holding best.yaml: the paths themselves, or their sub-folders."""
    folders = []
    for path in paths:
        found = [path] if (path / BEST_FILE).is_file() else sorted(path.glob(f"*/{BEST_FILE}"))
        if not found:
            raise SystemExit(
                f"{path}: no {BEST_FILE} here or in its sub-folders (a finished sweep)"
            )
        folders += [f if f == path else f.parent for f in found]
    return folders


# Sweep overrides with no pipeline meaning: the model choice, the budget, Hydra's own.
SWEEP_ONLY = ("budget.", "hydra.", "hydra/")


def apply_overrides(
    best: dict[str, Any], contestant: str, *, partial: bool = False
) -> tuple[list[str], list[str]]:
    """`dvc exp run -S` overrides that give `contestant` the sweep's best configuration, and
    the sweep's other settings (data=<card>, seed, ...), which the pipeline must share.
    An interrupted sweep's best is refused unless `partial`."""
    if "overrides" not in best:
        raise SystemExit(f"sweep {best['sweep']}: no trial finished, nothing to apply")
    if best.get("interrupted") and not partial:
        raise SystemExit(
            f"sweep {best['sweep']} was interrupted after {best['trials']} trial(s) of its "
            f"budget ({best['budget']}): its best is the best of those. Run it again, or "
            "pass --partial to apply it anyway"
        )
    own, shared = [], []
    for key, value in best["overrides"].items():
        name = key.lstrip("+~")  # Hydra's add / force-add / delete prefixes
        prefix = key[: len(key) - len(name)]
        if name.startswith("model."):
            own.append(f"{prefix}models.{contestant}.{name.removeprefix('model.')}={value}")
        elif name != "model" and not name.startswith(SWEEP_ONLY):
            shared.append(f"{key}={value}")
    record = {
        "sweep": best["sweep"],
        "budget": best["budget"],
        "metric": best["metric"],
        "value": best["value"],
    }
    return [*own, f"++tuning.{contestant}={hydra_dict(record)}"], shared


def hydra_dict(values: dict[str, Any]) -> str:
    """A flat dict in Hydra's override grammar: {key:"text",key:1.5}."""

    def quoted(value: Any) -> str:
        if isinstance(value, (int, float)):
            return repr(value)
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(f"{k}:{quoted(v)}" for k, v in values.items()) + "}"


def apply_command(
    folders: list[Path], names: list[str] | None, *, partial: bool = False
) -> list[str]:
    if names and len(names) != len(folders):
        raise SystemExit(f"--as gives {len(names)} names for {len(folders)} sweeps")
    overrides, settings = [], set()
    for i, folder in enumerate(folders):
        best = yaml.safe_load((folder / BEST_FILE).read_text(encoding="utf-8"))
        own, shared = apply_overrides(best, names[i] if names else best["model"], partial=partial)
        overrides += own
        settings.add(tuple(sorted(shared)))
    if len(settings) > 1:
        raise SystemExit(
            "the sweeps were run with different settings, so one pipeline run cannot "
            f"reproduce them all: {sorted(settings)}"
        )
    command = ["dvc", "exp", "run"]
    for override in [*settings.pop(), *overrides]:
        command += ["-S", override]
    return command


def tune_all(args: argparse.Namespace) -> Path:
    params = load_params(find_workspace() / "params.yaml")
    conf = find_workspace() / "conf"
    models = args.models.split(",") if args.models else list(params.models)
    missing = [m for m in models if not (conf / "model" / f"{m}.yaml").is_file()]
    if missing:
        raise SystemExit(f"no conf/model/<name>.yaml for {missing}: tune those one by one")
    searchable = [m for m in models if (conf / "search" / f"{m}.yaml").is_file()]
    searchable = [
        m for m in searchable if yaml.safe_load((conf / "search" / f"{m}.yaml").read_text())
    ]
    root = Path(args.out or f"multirun/tune-{time.strftime('%Y-%m-%d_%H-%M-%S')}")
    rows = []
    for model in searchable:
        folder = root / model
        command = [
            sys.executable,
            "-m",
            "bakeoff.cli.sweep",
            "-m",
            "hydra/sweeper=optuna",
            f"model={model}",
            f"data={params.data.name}",
            *([f"budget.trials={args.trials}"] if args.trials else []),
            f"budget.seconds={args.seconds if args.seconds else 'null'}",
            *([f"hydra.launcher.n_jobs={args.jobs}"] if args.jobs else []),
            f"hydra.sweep.dir={folder}",
            *args.overrides,
        ]
        print(f"tuning {model}: {shlex.join(command[1:])}", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        best = yaml.safe_load((folder / BEST_FILE).read_text(encoding="utf-8"))
        rows.append({**best, "wall_seconds": round(time.perf_counter() - start, 1)})
    skipped = [m for m in models if m not in searchable]
    write_json(root / "summary.json", {"models": rows, "not_tuned": skipped})
    write_text(root / "summary.md", summary_markdown(rows, skipped))
    print(summary_markdown(rows, skipped))
    if args.apply:
        winners = [root / r["model"] for r in rows if "overrides" in r]
        subprocess.run(apply_command(winners, None), check=True)
    else:
        print(
            f"To retrain the winners in the pipeline:\n  python -m bakeoff.cli.tune apply {root} --run"
        )
    return root


def summary_markdown(rows: list[dict[str, Any]], skipped: list[str]) -> str:
    header = [
        "model",
        "budget",
        "trials",
        "failed",
        "guarded",
        "best validation",
        "value",
        "wall time",
    ]
    cells = [
        [
            r["model"],
            r["budget"],
            str(r["trials"]),
            str(r["failed"]),
            str(r["guarded"]),
            r["metric"],
            fmt.score(r["value"]) if "value" in r else "none finished",
            fmt.seconds(r["wall_seconds"]),
        ]
        for r in rows
    ]
    lines = [fmt.markdown_table(header, cells, align="llrrrlrr")]
    # A time budget ranks such a trial by what it reached in time, not by what it would reach.
    guarded = [f"- {r['model']}'s best trial: {r['best_guard']}" for r in rows if "best_guard" in r]
    if guarded:
        lines += ["", "Guarded:", *guarded]
    if skipped:
        lines += ["", f"Not tuned (no search space): {', '.join(skipped)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    setup_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tune = commands.add_parser("all", help="one Optuna sweep per contestant, equal budgets")
    tune.add_argument("--trials", type=int, help="trials per model (default: conf/sweep.yaml's)")
    tune.add_argument("--seconds", type=float, help="wall-clock limit per model")
    tune.add_argument("--jobs", type=int, help="parallel trials (default: the launcher's)")
    tune.add_argument("--models", help="comma-separated subset of the line-up")
    tune.add_argument("--out", help="folder for the sweeps (default multirun/tune-<time>)")
    tune.add_argument("--apply", action="store_true", help="then `dvc exp run` the winners")
    tune.add_argument("overrides", nargs="*", help="more Hydra overrides for every sweep")
    apply = commands.add_parser("apply", help="`dvc exp run` with sweeps' best configs")
    apply.add_argument("sweeps", nargs="+", type=Path, help="sweep folders (or their parent)")
    apply.add_argument("--as", dest="names", help="comma-separated contestant names, one per sweep")
    apply.add_argument("--run", action="store_true", help="run it rather than print it")
    apply.add_argument("--queue", action="store_true", help="queue it (`dvc queue start`)")
    apply.add_argument(
        "--partial", action="store_true", help="apply an interrupted sweep's best as well"
    )
    apply.add_argument(
        "-S",
        "--set-param",
        dest="extra",
        action="append",
        default=[],
        help="another `dvc exp run -S` override (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.command == "all":
        tune_all(args)
        return
    folders = sweep_folders(args.sweeps)
    names = args.names.split(",") if args.names else None
    command = apply_command(folders, names, partial=args.partial)
    for override in args.extra:
        command += ["-S", override]
    if args.queue:
        command.append("--queue")
    if args.run or args.queue:
        sys.exit(subprocess.run(command).returncode)
    print(shlex.join(command))


if __name__ == "__main__":
    main()
