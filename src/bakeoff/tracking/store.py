"""The MLflow store: where it is, created and migrated once, and which experiment runs go to."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bakeoff.paths import find_project_root

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


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


# The MLflow 3 UI reads this experiment tag to choose an experiment's pages: without it an
# experiment opens on the GenAI overview (traces) instead of its training runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def use_experiment(name: str, client=None) -> str:
    """Select (creating if needed) the experiment `name`, artifacts kept inside the project,
    tagged as model development for the UI (also an experiment an older bakeoff created).

    Only "it already exists" (a parallel job created it between the lookup and here) is
    tolerated when creating it, and then its artifact location must be the one wanted: any
    other error propagates rather than letting MLflow create it elsewhere by default.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    client = client or mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if mlflow.get_tracking_uri().startswith("sqlite:"):
            location = (find_project_root() / ARTIFACTS_DIR / name).as_uri()
        try:
            client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            )
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            created = client.get_experiment_by_name(name)
            if location is not None and created.artifact_location != location:
                raise RuntimeError(
                    f"MLflow experiment {name!r} was created meanwhile with its artifacts at "
                    f"{created.artifact_location}, not {location} where this project keeps "
                    "them; delete it (mlflow experiments delete) or rename this dataset"
                ) from exc
        experiment = client.get_experiment_by_name(name)
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # created before bakeoff tagged it
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return mlflow.set_experiment(name).experiment_id
