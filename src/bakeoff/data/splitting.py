"""Seeded train / validation / test splits.

The test split is frozen here: nothing downstream fits or selects on it. The default method,
`hash`, puts each row in the part its key's hash falls in, so a row keeps its part when new
batches arrive (test rows stay test rows); `random` is a seeded shuffle, stratified for
classification, that re-draws every part when the rows change.
"""

from __future__ import annotations

import logging

import pandas as pd

from bakeoff.data.rows import row_fractions
from bakeoff.params import SplitConfig
from bakeoff.paths import SPLITS

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


def hash_split(
    frame: pd.DataFrame, *, key: list[str], config: SplitConfig, seed: int
) -> dict[str, pd.DataFrame]:
    """Rows whose key hashes below test_size go to test, the next val_size to val: a row's
    part depends on its key and the seed alone, never on the other rows."""
    missing = [c for c in key if c not in frame.columns]
    if missing:
        raise ValueError(f"data.key names columns the table does not have: {missing}")
    u = row_fractions(frame, key or None, seed)
    test = u < config.test_size
    val = ~test & (u < config.test_size + config.val_size)
    return {"train": frame[~test & ~val], "val": frame[val], "test": frame[test]}


def missing_classes(parts: dict[str, pd.DataFrame], target: str) -> str | None:
    """Which classes a part lacks (a hash split keeps class shares only on average)."""
    every = set(pd.concat([p[target] for p in parts.values()]).unique())
    gaps = {
        name: sorted(map(str, every - set(part[target].unique()))) for name, part in parts.items()
    }
    gaps = {name: classes for name, classes in gaps.items() if classes}
    if not gaps:
        return None
    return "; ".join(f"{name} has no rows of class(es) {', '.join(c)}" for name, c in gaps.items())


def split_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    config: SplitConfig,
    seed: int,
    key: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Split rows into train/val/test with the configured shares of all rows."""
    # SplitConfig checked shares and method when params were read (the config stage).
    if config.method == "hash":
        return hash_split(frame, key=list(key or []), config=config, seed=seed)
    from sklearn.model_selection import train_test_split  # method random only

    stratify = config.stratified(task)
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
