"""Independent refits side by side: the resample folds and the learning-curve points.

A small network or a linear model gains little from a second thread (benchmarks/
parallel_refits.py: the MLP on California fits in 22.9 s on one thread, 17.0 s on two), so
the refits run in worker processes (joblib's loky), each held to its share of the cores.
A model that trains on a GPU, or on several devices (DDP launches its own processes), is
refitted one at a time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from bakeoff import warm
from bakeoff.evaluation.refits import RefitFailed
from bakeoff.models import FIRST_PREPARE_SECONDS

log = logging.getLogger(__name__)

# What starting the worker processes costs, importing the model's libraries in each
# (benchmarks/parallel_refits.py, 2 cold workers: 1.9 s for scikit-learn's, 5.6 s with torch
# and Lightning): refits that would save less run one at a time. For a network, torch and
# Lightning's import as this machine took it in this run is added (worker_start_seconds).
WORKER_START_SECONDS = 5.0
SKLEARN_WORKER_SECONDS = 1.9  # a worker's interpreter, pandas, scikit-learn and bakeoff


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, under a scheduler or taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def needs_its_device(config: dict[str, Any]) -> str | None:
    """Why this model's refits must run one at a time, or None: a network on a GPU or MPS
    (one device, one fit) or on several devices."""
    trainer = config.get("trainer")
    if not isinstance(trainer, dict):
        return None
    devices = trainer.get("devices", "auto")
    if devices not in ("auto", 1, "1") or "ddp" in str(trainer.get("strategy", "auto")):
        return f"it trains on several devices (devices={devices})"
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "cpu":
        return None
    if accelerator in ("gpu", "cuda", "mps"):
        return f"it trains on the accelerator ({accelerator})"
    import torch  # a network's config: torch is installed and about to be used anyway

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        return "it trains on the accelerator (auto found one)"
    return None


def worker_start_seconds(config: dict[str, Any]) -> float:
    """What starting refit workers for this model costs. For a network: importing torch and
    Lightning (and the model's own package) as long as it took on this machine in this run:
    in the warm stage server (bakeoff.warm) when this is one of its forks, else in this
    process the first time the model was built; never less than WORKER_START_SECONDS."""
    if "trainer" not in config:  # a scikit-learn model
        return WORKER_START_SECONDS
    measured = warm.preload_seconds(warm.TORCH_FAMILY)
    if measured is None:
        measured = FIRST_PREPARE_SECONDS.get(str(config.get("_target_")), 0.0)
    return max(WORKER_START_SECONDS, SKLEARN_WORKER_SECONDS + measured)


def worker_count(n_jobs: int | None, config: dict[str, Any], tasks: int) -> int:
    """How many refits run at once: `n_jobs` (None or 0: every core; -k: all but k-1, as
    joblib), never more than there are refits, 1 for a model that needs its device."""
    if tasks <= 1:
        return 1
    reason = needs_its_device(config)
    if reason:
        log.info("refitting one at a time: %s", reason)
        return 1
    cores = cpu_cores()
    wanted = cores if not n_jobs else n_jobs if n_jobs > 0 else cores + 1 + n_jobs
    return max(1, min(wanted, tasks))


def _timed(
    function: Callable[..., Any], task: dict[str, Any], threads: int | None = None
) -> tuple[Any, float]:
    """`function(**task)` and its seconds; on at most `threads` threads when given (BLAS and
    OpenMP pools through threadpoolctl, torch's own when it is loaded)."""
    import sys
    from contextlib import ExitStack

    with ExitStack() as limits:
        if threads is not None:
            from threadpoolctl import threadpool_limits

            limits.enter_context(threadpool_limits(limits=threads))
            torch = sys.modules.get("torch")
            if torch is not None:
                before = torch.get_num_threads()
                torch.set_num_threads(threads)
                limits.callback(torch.set_num_threads, before)
        started = time.perf_counter()
        result = function(**task)
        return result, time.perf_counter() - started


def _relative_sizes(tasks: Sequence[dict[str, Any]]) -> list[float]:
    """Each task's training rows over the first task's (all 1.0 when tasks carry none)."""
    rows = [len(task["train"]) if hasattr(task.get("train"), "__len__") else 0 for task in tasks]
    if min(rows) <= 0:
        return [1.0] * len(tasks)
    return [r / rows[0] for r in rows]


def run_all(
    function: Callable[..., Any],
    tasks: Sequence[dict[str, Any]],
    *,
    n_jobs: int | None,
    config: dict[str, Any],
) -> list[Any]:
    """`function(**task)` for every refit of the model `config`, results in the tasks' order;
    a task's exception is raised here.

    Up to worker_count(n_jobs, config, ...) at once. The first task runs here, on every
    core, and is timed; when side by side might pay, so does the second, on a worker's share
    of the cores. Only when running the rest side by side would save more than starting the
    workers costs (worker_start_seconds: importing pandas, scikit-learn, torch in each) do
    they go to worker processes, each held to cores // workers threads (OpenMP, BLAS and
    torch read OMP_NUM_THREADS).
    """
    workers = worker_count(n_jobs, config, len(tasks))
    if workers <= 1 or len(tasks) <= 1:
        return [function(**task) for task in tasks]
    start_cost = WORKER_START_SECONDS
    if "_target_" in config and "task" in tasks[0]:
        # The model's libraries first (Lightning: seconds), so the timed refit is the fit's
        # alone: counting a one-time import would make every refit look worth a worker.
        from bakeoff.models import prepared

        prepared(config, tasks[0]["task"])
        start_cost = worker_start_seconds(config)
    # A refit's time grows with its training rows (the learning curve's points: largest
    # first), so each is counted in units of the first one's rows.
    size = _relative_sizes(tasks)
    first, seconds = _timed(function, tasks[0])
    rest = tasks[1:]
    workers = min(workers, len(rest))
    threads = max(1, cpu_cores() // workers)
    if seconds * sum(size[1:]) * (1 - 1 / workers) > start_cost and len(rest) > 1:
        # Worth a closer look: the second refit runs here too, on a worker's share of the
        # threads. A fit that uses every core (a network's torch threads) gains less from
        # workers than the count of workers says; measured, not assumed.
        second, held = _timed(function, rest[0], threads=threads)
        done, rest = [first, second], rest[1:]
        workers = min(workers, len(rest))
        # A first fit in a process also pays one-time set-up (what a library imports or
        # compiles on its first use), so a refit here costs no more than the second took
        # on fewer threads: the lesser of the two is what one at a time would cost.
        per_unit = held / size[1]
        saving = sum(size[2:]) * (min(seconds / size[0], per_unit) - per_unit / workers)
    else:
        done, held = [first], seconds
        saving = seconds * sum(size[1:]) * (1 - 1 / workers)
    if workers <= 1 or saving <= start_cost:
        log.info(
            "%d refits of about %.1f s (%.1f s on %d thread(s)): one at a time (side by side "
            "would save %.1f s, less than starting %d workers costs: %.1f s)",
            len(tasks),
            seconds,
            held,
            threads,
            saving,
            workers,
            start_cost,
        )
        return [*done, *(function(**task) for task in rest)]
    from joblib import Parallel, delayed, parallel_config

    log.info(
        "%d more refits of up to %.1f s in %d worker processes, %d thread(s) each (saves "
        "about %.1f s, more than starting them costs: %.1f s)",
        len(rest),
        seconds,
        workers,
        threads,
        saving,
        start_cost,
    )
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    with parallel_config(backend="loky", inner_max_num_threads=threads):
        try:
            return [*done, *Parallel(n_jobs=workers)(delayed(function)(**task) for task in rest)]
        except TerminatedWorkerError as exc:
            # A refit's process killed by the operating system (out of memory, most often):
            # the contestant's failure, which the bake-off records and survives.
            raise RefitFailed(f"a refit's worker process was killed: {exc}") from exc
