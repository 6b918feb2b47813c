"""What every MLflow run is tagged with: the code (git commit), the packages, the hardware."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from typing import Any

from bakeoff.evaluation.cost import hardware

PACKAGES = (
    "bakeoff",
    "scikit-learn",
    "pandas",
    "mlflow",
    "dvc",
    "hydra-core",
    "torch",
    "lightning",
)


# What a pipeline run writes itself: params.yaml (composed by `dvc exp run`), dvc.lock, the
# outputs and the .gitignore files DVC keeps next to them, DVC's own state; `dvc exp run`
# even stages some of them in git while it runs. Changes there are the run's doing, not
# local edits to the code it ran.
RUN_WRITES = ("params.yaml", "dvc.lock", "reports", "data", ".dvc")

# On a training run whose fit a guard cut short or approximated (a time budget, the SVM's
# kernel approximation): what it did, in words. A sweep counts its guarded trials by it.
GUARD = "bakeoff.guard"


def git_commit() -> str:
    """HEAD's commit, with "-dirty" when tracked files other than RUN_WRITES differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        excluded = [f":(top,exclude){path}" for path in RUN_WRITES]
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *excluded],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_tags(
    *, dataset: str, data_hash: str, model: str | None = None, family: str | None = None
) -> dict[str, str]:
    tags = {
        "bakeoff.dataset": dataset,
        "bakeoff.data_hash": data_hash,
        "mlflow.source.git.commit": git_commit(),
        "bakeoff.dvc_experiment": os.environ.get("DVC_EXP_NAME", ""),
        "bakeoff.dvc_stage": os.environ.get("DVC_STAGE", ""),
    }
    if model:
        tags["bakeoff.model"] = model
    if family:
        tags["bakeoff.family"] = family
    tags.update({f"hardware.{k}": str(v) for k, v in hardware().items()})
    tags.update({f"version.{k}": v for k, v in package_versions().items()})
    return tags


def display_name(*parts: str) -> str:
    """What the UI lists a run as: its parts, then the DVC experiment that ran it (when run by
    `dvc exp run`), e.g. `mlp · breast_cancer · lucky-lynx`."""
    experiment = os.environ.get("DVC_EXP_NAME")
    return " · ".join([*parts, experiment] if experiment else parts)


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted keys, the shape MLflow params take."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, where))
        else:
            flat[where] = value
    return flat
