"""What a model costs: a fit's peak memory (resident, and GPU when torch trains on one),
the hardware it ran on, its size on disk, and the cost ledger the leaderboard shows."""

from __future__ import annotations

import os
import platform
import resource
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


def cost_ledger(
    trained: dict[str, Any], scores: dict[str, Any], record: dict | None, tuning: dict | None
) -> dict[str, Any]:
    """What a model costs to train, run and keep, from train's and evaluate's records."""
    ledger = {
        k: trained.get(k)
        for k in (
            "fit_seconds",
            "accelerator",
            "peak_memory_mb",
            "gpu_peak_memory_mb",
            "parameters",
            "tree_nodes",
            "k",  # members of a network that is an ensemble (TabM)
            "guard",  # what cut the fit short or approximated it, in words
        )
    }
    ledger.update({k: scores.get(k) for k in ("latency_p50_ms", "latency_p95_ms", "model_size_mb")})
    if record and record.get("status") == "done":
        ledger["resample_fit_seconds"] = sum(r["fit_seconds"] for r in record["resamples"])
        ledger["resample_wall_seconds"] = record.get("wall_seconds")  # fits side by side
        ledger["refit_guard"] = refit_guard(record["resamples"])
    ledger["hpo_budget"] = (tuning or {}).get("budget", "none (defaults)")
    ledger["interpretable"] = bool(trained.get("interpretable"))
    ledger["hardware"] = trained.get("hardware")
    return {k: v for k, v in ledger.items() if v is not None}


def refit_guard(resamples: list[dict[str, Any]]) -> str | None:
    """How many resample refits a guard cut short or approximated (a time budget stops a
    refit as it stops the final fit), with the first one's words; None: none."""
    guards = [r["guard"] for r in resamples if r.get("guard")]
    if not guards:
        return None
    return f"{len(guards)} of {len(resamples)} resample refits guarded (the first: {guards[0]})"


def folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
