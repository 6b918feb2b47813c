"""What the benchmarks share: the real-data cards' splits, made as the pipeline makes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bakeoff.data.prepare import prepared_splits
from bakeoff.params import compose_conf, params_from_mapping

ROOT = Path(__file__).resolve().parents[1]
# The cards that read a downloaded file, and its name in data/external/ (or --data-dir).
FILES = {
    "adult": "adult.data",
    "california_housing": "california_housing.csv",
    "rotten_tomatoes": "rotten_tomatoes.csv",
}


def load_splits(card: str, data_dir: Path) -> tuple[dict[str, pd.DataFrame], str, str]:
    """Train/val/test frames of a dataset card as the pipeline makes them; task; target."""
    path = (data_dir / FILES[card]).resolve()
    params = params_from_mapping(
        compose_conf(ROOT / "conf", [f"data={card}", f"data.source.path={path}"])
    )
    parts, data_card = prepared_splits(params, ROOT)
    return parts, data_card["task"], data_card["target"]


RESULTS_DIR = Path(__file__).parent / "results"
# Resamples of the test rows in a paired bootstrap interval.
BOOTSTRAP = 2000


def per_row(frame: pd.DataFrame, truth, task: str):
    """What each test row adds to the score: 1 for a right class, the squared error."""
    if task == "classification":
        return (frame["prediction"].to_numpy().astype(str) == truth.astype(str)).astype(float)
    return (frame["prediction"].to_numpy(float) - truth.astype(float)) ** 2


def score(values, task: str) -> float:
    """Accuracy, or RMSE, from per-row values."""
    return float(values.mean() if task == "classification" else np.sqrt(values.mean()))


def paired_bootstrap(model, other, task: str, seed: int = 0) -> dict[str, float]:
    """`model`'s gain over `other` (per-row values of the same test rows, `per_row`;
    positive: `model` is better) and its 95% percentile interval, over bootstrap resamples of
    the test rows."""
    rng = np.random.default_rng(seed)
    n = len(model)
    sign = 1.0 if task == "classification" else -1.0  # lower RMSE is better
    gains = []
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, n, n)
        gains.append(sign * (score(model[rows], task) - score(other[rows], task)))
    low, high = np.percentile(gains, [2.5, 97.5])
    return {
        "gain": round(sign * (score(model, task) - score(other, task)), 4),
        "low": round(float(low), 4),
        "high": round(float(high), 4),
    }


def hardware_fingerprint() -> dict[str, object]:
    """Where a figure was measured: figures from different machines are not comparable."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "none"
    torch = __import__("sys").modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        gpu = f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    memory_gb = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gb = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gb": memory_gb,
        "gpu": gpu,
        "python": platform.python_version(),
    }


def save_result(
    name: str,
    *,
    title: str,
    command: str,
    tables: list[dict],
    notes: list[str] | None = None,
    raw: dict | None = None,
    chart: dict | None = None,
) -> Path:
    """benchmarks/results/<name>.json in the one shape docs/benchmarks.md is generated from.

    `tables`: [{"caption": str, "rows": [{column: value, ...}, ...]}], rendered as they are
    (round values here, where their precision is known); `notes`: sentences printed under
    the tables (what the figures mean, not the figures again); `raw`: anything else worth
    keeping (per-fold scores, settings); `chart`: a log-log line chart of one table that
    render.py draws next to it: {"table": index, "x": column, "y": column, "series": column,
    "file": name of the SVG in docs/} (rows without a number in x or y are left out).
    """
    import datetime as dt
    import json

    payload = {
        "benchmark": name,
        "title": title,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware_fingerprint(),
        "command": command,
        "tables": tables,
        "notes": list(notes or []),
        "raw": raw or {},
        **({"chart": chart} if chart else {}),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    return path
