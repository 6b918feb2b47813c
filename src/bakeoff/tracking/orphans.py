"""MLflow runs whose process is gone: a `kill -9`, the out-of-memory killer or a reboot ends
a process before it can end its run, which would then stay RUNNING forever.

Every run bakeoff starts records the process that owns it (`process_tags`: host, pid and the
process's start time, so that a recycled pid is not mistaken for the owner). A RUNNING run
whose owner on this host no longer exists is an orphan: `close_orphans` ends it KILLED with
the reason. The contestant stage does so before it trains; `python -m bakeoff.cli.tracking
close-orphans` does it by hand. Runs owned by other hosts cannot be checked from here and are
left alone.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import psutil

log = logging.getLogger(__name__)

HOST_TAG = "bakeoff.host"
PID_TAG = "bakeoff.pid"
STARTED_TAG = "bakeoff.process_started"  # the owner's start time (s since the epoch, 0.01 s)


def _started(process: psutil.Process) -> str:
    return f"{process.create_time():.2f}"


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Tags that name the process owning a run (this one by default)."""
    process = psutil.Process(pid or os.getpid())
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(process.pid),
        STARTED_TAG: _started(process),
    }


def owner_gone(tags: dict[str, str]) -> str | None:
    """Why the run's owning process is gone (None: it lives, or it is on another host, or
    the run predates these tags)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG):
        return None
    pid = int(tags[PID_TAG])
    try:
        alive = _started(psutil.Process(pid)) == tags.get(STARTED_TAG)
    except psutil.NoSuchProcess:
        alive = False
    if alive:
        return None
    return f"its process {pid} on {tags[HOST_TAG]} ended without ending the run"


def orphans(client, experiment_ids: list[str], pid: str | None = None) -> list[tuple[Any, str]]:
    """RUNNING runs in these experiments whose owner is gone (the process `pid` only, when
    given), with the reason."""
    running = client.search_runs(experiment_ids, "attributes.status = 'RUNNING'", max_results=1000)
    found = []
    for run in running:
        if pid and run.data.tags.get(PID_TAG) != pid:
            continue
        reason = owner_gone(run.data.tags)
        if reason:
            found.append((run, reason))
    return found


def close_orphans(
    client, experiment_ids: list[str], detail: str | None = None, pid: str | None = None
) -> list[str]:
    """End every orphan (of process `pid` only, when given) KILLED, its reason in
    `bakeoff.error` (plus `detail`, e.g. the signal that killed it); the ids closed."""
    closed = []
    for run, reason in orphans(client, experiment_ids, pid):
        text = f"{reason}{': ' + detail if detail else ''} (marked KILLED by bakeoff)"
        run_id = run.info.run_id
        client.set_tag(run_id, "bakeoff.status", "killed")
        client.set_tag(run_id, "bakeoff.error", text[:5000])
        client.set_terminated(run_id, status="KILLED")
        log.warning("MLflow run %s (%s) was left RUNNING: %s", run_id, run.info.run_name, text)
        closed.append(run_id)
    return closed


def close_orphans_of(
    dataset: str, tracking_uri: str | None, detail: str | None = None, pid: str | None = None
) -> list[str]:
    """close_orphans in the dataset's experiment of the configured store (none yet: none)."""
    import mlflow

    from bakeoff.tracking import store

    store.connect(tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(dataset)
    return close_orphans(client, [experiment.experiment_id], detail, pid) if experiment else []
