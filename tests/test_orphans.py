"""MLflow runs left RUNNING by a process that was killed (issue 17): the run records its
process (host, pid, start time), and a later stage or `python -m bakeoff.cli.tracking
close-orphans` ends it KILLED with the reason; runs of live processes, or of processes on
other hosts, are left alone."""

from __future__ import annotations

import signal
import subprocess
import sys

import mlflow

from bakeoff.cli import tracking as tracking_cli
from bakeoff.tracking.orphans import HOST_TAG, close_orphans, process_tags


def killed_process_tags() -> dict[str, str]:
    """The tags a run started by a process that was then killed with -9 carries."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    tags = process_tags(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return tags


def test_runs_whose_process_is_gone_are_closed_killed_with_the_reason(tmp_path):
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    dead = killed_process_tags()
    orphan = client.create_run(experiment, tags=dead).info.run_id
    alive = client.create_run(experiment, tags=process_tags()).info.run_id
    elsewhere = client.create_run(experiment, tags={**dead, HOST_TAG: "another-host"}).info.run_id
    untagged = client.create_run(experiment).info.run_id  # started before these tags existed

    assert close_orphans(client, [experiment]) == [orphan]
    run = client.get_run(orphan)
    assert run.info.status == "KILLED"
    assert f"its process {dead['bakeoff.pid']} on" in run.data.tags["bakeoff.error"]
    assert "ended without ending the run" in run.data.tags["bakeoff.error"]
    for run_id in (alive, elsewhere, untagged):
        assert client.get_run(run_id).info.status == "RUNNING"


def test_the_housekeeping_command_closes_them_too(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # what an earlier set_tracking_uri left
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    orphan = client.create_run(experiment, tags=killed_process_tags()).info.run_id
    tracking_cli.main(["--tracking-uri", uri, "close-orphans", "--experiment", "e"])
    assert client.get_run(orphan).info.status == "KILLED"
