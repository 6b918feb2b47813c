"""What the benchmarks share: the real-data cards' splits, made as the pipeline makes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bakeoff.config import compose_conf
from bakeoff.params import params_from_mapping
from bakeoff.prepare import prepared_splits

ROOT = Path(__file__).resolve().parents[1]
# The cards that read a downloaded file, and its name in data/external/ (or --data-dir).
FILES = {"adult": "adult.data", "california_housing": "california_housing.csv"}


def load_splits(card: str, data_dir: Path) -> tuple[dict[str, pd.DataFrame], str, str]:
    """Train/val/test frames of a dataset card as the pipeline makes them; task; target."""
    path = (data_dir / FILES[card]).resolve()
    params = params_from_mapping(
        compose_conf(ROOT / "conf", [f"data={card}", f"data.source.path={path}"])
    )
    parts, data_card = prepared_splits(params, ROOT)
    return parts, data_card["task"], data_card["target"]
