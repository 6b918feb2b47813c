"""Stage `split`: seeded train / validation / test splits (bakeoff.data.splitting).

The test split is frozen here: nothing downstream fits or selects on it.
"""

from __future__ import annotations

import logging

import pandas as pd

from bakeoff import setup_logging
from bakeoff.data.splitting import missing_classes, split_frame
from bakeoff.fileio import read_json, write_parquet
from bakeoff.params import load_params
from bakeoff.paths import DATA_CARD, DATASET, SPLITS, split_path

log = logging.getLogger(__name__)


def main() -> None:
    setup_logging()
    params = load_params()
    card = read_json(DATA_CARD)
    frame = pd.read_parquet(DATASET)
    try:
        parts = split_frame(
            frame,
            target=card["target"],
            task=card["task"],
            config=params.split,
            seed=params.seed,
            key=params.data.key,
        )
    except ValueError as exc:
        raise SystemExit(f"split of {DATASET}: {exc}") from None
    if card["task"] == "classification" and (gaps := missing_classes(parts, card["target"])):
        log.warning("%s (split.method %s)", gaps, params.split.method)
    for name in SPLITS:
        write_parquet(split_path(name), parts[name])
    log.info("split %d rows: %s", len(frame), ", ".join(f"{k} {len(v)}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
