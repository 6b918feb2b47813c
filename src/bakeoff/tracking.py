"""MLflow plumbing: where the store is, which experiment, and what every run is tagged with."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bakeoff.paths import find_project_root

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
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


def tracking_uri(configured: str | None = None) -> str:
    """MLFLOW_TRACKING_URI, else the configured URI, else the project's SQLite store.

    The default is absolute so that queued experiments, which run in copies of the project,
    log into the project's store rather than a throw-away one.
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if configured:
        return configured
    return f"sqlite:///{find_project_root() / STORE_FILE}"


def connect(configured: str | None = None) -> str:
    """Point mlflow at the store, creating and migrating it once if it is new."""
    # Progress bars from artifact transfers clutter `dvc repro` logs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = tracking_uri(configured)
    mlflow.set_tracking_uri(uri)
    # The first request creates and migrates a SQLite store. Processes doing that at once
    # race inside MLflow's migration and can leave the file broken, so they take turns
    # (parallel sweep jobs, `dvc queue start -j 2` workers); sweeps also create the store
    # before their first job starts.
    lock = contextlib.nullcontext()
    if uri.startswith("sqlite:///"):
        from filelock import FileLock

        store = Path(uri.removeprefix("sqlite:///"))
        store.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{store}.lock", timeout=600)
    with lock:
        mlflow.MlflowClient(uri).search_experiments(max_results=1)
    return uri


def use_experiment(name: str) -> str:
    """Select (creating if needed) the experiment `name`, artifacts kept inside the project."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if mlflow.get_tracking_uri().startswith("sqlite:"):
            location = (find_project_root() / ARTIFACTS_DIR / name).as_uri()
        # A parallel job may create it between the lookup and here.
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            client.create_experiment(name, artifact_location=location)
    return mlflow.set_experiment(name).experiment_id


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    """CPU model and cores; the GPU only when torch is already loaded (never import it here)."""
    info: dict[str, Any] = {"cpu": cpu_model(), "cpu_cores": os.cpu_count() or 0, "gpu": "none"}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        count = torch.cuda.device_count()
        info["gpu"] = f"{torch.cuda.get_device_name(0)} x{count}"
    return info


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
