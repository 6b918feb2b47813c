"""A refit whose worker process the operating system kills (out of memory) is the
contestant's failure (RefitFailed: recorded, the bake-off goes on), not the stage's."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bakeoff.evaluation import parallel
from bakeoff.evaluation.refits import RefitFailed

CONFIG = {"_target_": "bakeoff.models.classical.linear"}


def refit(seconds: float = 0.0, killed: bool = False) -> str:
    """Stands in for one refit: takes `seconds`, or dies as the out-of-memory killer ends it."""
    if killed:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(seconds)
    return "done"


@pytest.mark.skipif(parallel.cpu_cores() < 2, reason="refits go to workers on 2+ cores only")
def test_a_killed_refit_worker_is_the_contestants_failure(monkeypatch):
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.5)
    # The first two refits run in this process (timed on every core, then on a worker's
    # share) and are slow enough that the others go to workers.
    slow = 1.0
    tasks = [{"seconds": slow}, {"seconds": slow}, {"killed": True}, {"seconds": 0.0}]
    with pytest.raises(RefitFailed, match="worker process was killed"):
        parallel.run_all(refit, tasks, n_jobs=2, config=CONFIG)
