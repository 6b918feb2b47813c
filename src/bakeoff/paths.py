"""Where the project and its pipeline files live."""

from __future__ import annotations

import os
from pathlib import Path

# `dvc exp run --queue` runs stages in throw-away copies under <root>/.dvc/tmp/exps/;
# anything that must outlive the run (the MLflow store) belongs to the real root.
_QUEUE_WORKSPACE_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def find_workspace(start: Path | None = None) -> Path:
    """The folder holding dvc.yaml: the current workspace, a queued copy included."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise FileNotFoundError(f"no dvc.yaml in {here} or any parent: run bakeoff from the project")


def find_project_root(start: Path | None = None) -> Path:
    """The real project root, also when running inside a queued experiment's copy."""
    workspace = find_workspace(start)
    text = str(workspace)
    if _QUEUE_WORKSPACE_MARKER in text:
        return Path(text.split(_QUEUE_WORKSPACE_MARKER)[0])
    return workspace


def relative_name(path: Path, root: Path) -> str:
    """`path` as named in cards and messages: relative to the project when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


EXTERNAL_DATA = Path("data/external")  # user-placed and downloaded source files
GLOB_CHARACTERS = "*?["


def outside_source(source) -> str:
    """What `ingest` reads from outside the project, for dvc.yaml's dependency list (through
    params.yaml's `outside_source`): the card's file or folder when the card allows it
    (`source.allow_outside_project: true`, one absolute path), else data/external, a
    dependency already. A source DVC lists is one DVC hashes: editing it re-runs ingest."""
    path = source.get("path")
    if (
        source.get("allow_outside_project")
        and isinstance(path, str)
        and os.path.isabs(path)
        and not any(ch in path for ch in GLOB_CHARACTERS)
    ):
        return os.path.normpath(path)
    return EXTERNAL_DATA.as_posix()


RAW_DATASET = Path("data/raw/dataset.parquet")  # ingest: the source as read, typed
RAW_CARD = Path("data/raw/data_card.json")
DATASET = Path("data/interim/dataset.parquet")  # validate: what the pipeline trains on
DATA_CARD = Path("data/interim/data_card.json")  # ...and its card, validation included
VALIDATION_REPORT = Path("reports/validation.json")
SPLIT_REPORT = Path("reports/split.json")  # split: parts' sizes and representativeness
DRIFT_REPORT = Path("reports/drift.json")  # drift: the newest batch against training rows
DRIFT_SUMMARY = Path("reports/drift.md")
CHECKPOINTS = Path("checkpoints")  # networks' best/last checkpoints, under the project root
CONFIG_CHECK = Path("data/interim/config_check.json")
SPLITS = ("train", "val", "test")


def split_path(split: str) -> Path:
    return Path("data/interim") / f"{split}.parquet"


def features_path(split: str) -> Path:
    return Path("data/processed") / f"{split}.parquet"


# The ensemble contestant (the family bests averaged) is built from the others' outputs, so
# its own live apart from theirs: a stage's outputs cannot sit inside its dependencies.
ENSEMBLE = "ensemble"


def model_dir(name: str) -> Path:
    return Path("data/ensemble") if name == ENSEMBLE else Path("data/models") / name


def evaluation_dir(name: str) -> Path:
    return Path("reports/ensemble") if name == ENSEMBLE else Path("reports/evaluate") / name


def resample_path(name: str) -> Path:
    if name == ENSEMBLE:
        return Path("reports/ensemble/resample.json")
    return Path("reports/resample") / f"{name}.json"


def resample_predictions_path(name: str) -> Path:
    """Every refit's predictions on its early-stopping and held-out rows (for the ensemble)."""
    return Path("data/resample") / f"{name}.parquet"


LEADERBOARD_JSON = Path("reports/leaderboard.json")
LEADERBOARD_MD = Path("reports/leaderboard.md")
COMPARISON_PLOT = Path("reports/comparison.png")
SWEEP_RECORD = "sweep_run.json"  # in a sweep's folder: its parent run, for the jobs
BEST_FILE = "best.yaml"  # in a sweep's folder: the best trial, for `bakeoff.cli.tune apply`
PROMOTION_REPORT = Path("reports/promotion.json")  # promote: the challenger, the decision


LEADERBOARD_CSV = Path("reports/leaderboard.csv")  # for `dvc plots`
LEARNING_CURVE_JSON = Path("reports/learning_curve.json")
LEARNING_CURVE_CSV = Path("reports/learning_curve.csv")  # for `dvc plots`
LEARNING_CURVE_PLOT = Path("reports/learning_curve.png")
PARETO_PLOT = Path("reports/pareto.png")


def report_path(dataset: str) -> Path:
    """The self-contained HTML report of the latest run on `dataset`."""
    return Path("reports") / dataset / "report.html"


def summary_path(dataset: str) -> Path:
    """The report's Markdown summary, next to it."""
    return Path("reports") / dataset / "summary.md"
