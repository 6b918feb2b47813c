"""Stage `split`: seeded train / validation / test splits, stratified for classification.

The test split is frozen here: nothing downstream fits or selects on it.
"""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.model_selection import train_test_split

from bakeoff import setup_logging
from bakeoff.io import read_json, write_parquet
from bakeoff.params import SplitConfig, load_params
from bakeoff.paths import DATA_CARD, DATASET, SPLITS, split_path

log = logging.getLogger(__name__)


def classes_too_small(y: pd.Series) -> tuple[pd.Series, str | None]:
    """Classes with fewer rows than SPLITS has parts (a stratified split needs each class in
    every part), and the message naming them (None when there are none)."""
    counts = y.value_counts()
    small = counts[counts < len(SPLITS)]
    if not len(small):
        return small, None
    detail = ", ".join(f"{k!r} ({v} rows)" for k, v in small.items())
    return small, (
        f"classes {detail} have fewer than {len(SPLITS)} rows, too few for a stratified "
        "train/validation/test split; merge or drop them, or set split.stratify=false"
    )


def split_frame(
    frame: pd.DataFrame, *, target: str, task: str, config: SplitConfig, seed: int
) -> dict[str, pd.DataFrame]:
    """Split rows into train/val/test with the configured shares of all rows."""
    if not 0 < config.test_size < 1 or not 0 < config.val_size < 1:
        raise ValueError("split.test_size and split.val_size must lie strictly between 0 and 1")
    if config.test_size + config.val_size >= 1:
        raise ValueError("split.test_size + split.val_size must leave rows for training")
    stratify = config.stratify and task == "classification"
    if stratify:
        _, problem = classes_too_small(frame[target])
        if problem:
            raise ValueError(f"column {target!r}: {problem}")
    rest, test = train_test_split(
        frame,
        test_size=config.test_size,
        random_state=seed,
        stratify=frame[target] if stratify else None,
    )
    # val_size is a share of all rows; re-express it as a share of what is left.
    train, val = train_test_split(
        rest,
        test_size=config.val_size / (1 - config.test_size),
        random_state=seed,
        stratify=rest[target] if stratify else None,
    )
    return {"train": train, "val": val, "test": test}


def main() -> None:
    setup_logging()
    params = load_params()
    card = read_json(DATA_CARD)
    frame = pd.read_parquet(DATASET)
    parts = split_frame(
        frame, target=card["target"], task=card["task"], config=params.split, seed=params.seed
    )
    for name in SPLITS:
        write_parquet(split_path(name), parts[name])
    log.info("split %d rows: %s", len(frame), ", ".join(f"{k} {len(v)}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
