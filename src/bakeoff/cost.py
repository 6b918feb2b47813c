"""What a fit costs in memory: the process's peak resident memory above where it started,
and the GPU's peak allocation when torch trains on one."""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc); elsewhere its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@contextmanager
def peak_memory(interval: float = 0.01) -> Iterator[dict[str, float]]:
    """Yields a dict filled on exit: `peak_memory_mb`, the highest resident memory sampled
    during the block minus that at its start, and `gpu_peak_memory_mb` when CUDA is in use.

    Sampling (every `interval` s, on a thread) catches peaks that fall back before the end,
    which a before/after difference misses; a peak shorter than the interval can slip by.
    """
    result: dict[str, float] = {}
    start = rss_mb()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], rss_mb())

    torch = sys.modules.get("torch")  # never import it here: classical fits must not pay for it
    cuda = torch is not None and torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result["peak_memory_mb"] = max(peak[0], rss_mb()) - start
        if cuda:
            result["gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
