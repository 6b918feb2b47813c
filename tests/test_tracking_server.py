"""The tracking-server fixtures: a real `mlflow server` on a real PostgreSQL stores what it is sent."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa

from tracking_server import MlflowServer, mlflow_server, postgres_url  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def fast_failing_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fail in seconds, not minutes of retries, if the server is not there.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def test_server_stores_runs_in_postgres_and_artifacts_on_disk(
    mlflow_server: MlflowServer,  # noqa: F811
    fast_failing_client: None,
    tmp_path: Path,
) -> None:
    # An explicit tracking URI: nothing is set in mlflow's global state.
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.uri)
    experiment_id = client.create_experiment("tracking-server-sanity")
    run = client.create_run(experiment_id, run_name="sanity")
    run_id = run.info.run_id
    client.log_param(run_id, "learning_rate", "0.01")
    client.log_metric(run_id, "loss", 0.25, step=3)
    client.log_text(run_id, "hello from the test\n", "notes/hello.txt")
    client.set_terminated(run_id, status="FINISHED")

    # A fresh client: everything below comes back from the server.
    fresh = mlflow.MlflowClient(tracking_uri=mlflow_server.uri)
    stored = fresh.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.experiment_id == experiment_id
    assert stored.data.params == {"learning_rate": "0.01"}
    assert stored.data.metrics == {"loss": 0.25}
    [point] = fresh.get_metric_history(run_id, "loss")
    assert (point.value, point.step) == (0.25, 3)
    # Proxied artifacts: the run's artifact URI points at the server, which wrote the file
    # under --artifacts-destination.
    assert stored.info.artifact_uri.startswith("mlflow-artifacts:")
    assert [f.path for f in fresh.list_artifacts(run_id, "notes")] == ["notes/hello.txt"]
    downloaded = fresh.download_artifacts(run_id, "notes/hello.txt", str(tmp_path))
    assert Path(downloaded).read_text() == "hello from the test\n"
    on_disk = mlflow_server.artifacts / experiment_id / run_id / "artifacts" / "notes" / "hello.txt"
    assert on_disk.read_text() == "hello from the test\n"

    # ...and the run itself is a row in PostgreSQL, not in some fallback store.
    engine = sa.create_engine(mlflow_server.backend_store_uri)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            row = conn.execute(
                sa.text("SELECT status, experiment_id FROM runs WHERE run_uuid = :id"),
                {"id": run_id},
            ).one()
            value = conn.execute(
                sa.text("SELECT value FROM latest_metrics WHERE run_uuid = :id AND key = 'loss'"),
                {"id": run_id},
            ).scalar_one()
    finally:
        engine.dispose()
    assert row.status == "FINISHED"
    assert str(row.experiment_id) == experiment_id
    assert value == 0.25
