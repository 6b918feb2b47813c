"""Stage `split`: seeded train / validation / test splits.

The test split is frozen here: nothing downstream fits or selects on it. The default method,
`hash`, puts each row in the part its key's hash falls in, so a row keeps its part when new
batches arrive (test rows stay test rows); `random` is a seeded shuffle, stratified for
classification, that re-draws every part when the rows change.
"""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.model_selection import train_test_split

from bakeoff import setup_logging
from bakeoff.io import read_json, write_parquet
from bakeoff.params import SplitConfig, load_params
from bakeoff.paths import DATA_CARD, DATASET, SPLITS, split_path
from bakeoff.problems import Problem
from bakeoff.rows import row_fractions

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


def duplicate_documents(parts: dict[str, pd.DataFrame], text_columns: list[str]) -> list[Problem]:
    """Documents of a text column found word for word in the training part and in the
    validation or test part: the model is scored on text it was trained on (a leak). Empty
    documents are left out. One warning per text column, counting the held-out rows."""
    problems = []
    for name in text_columns:
        train = parts["train"][name].dropna().astype(str)
        seen = set(train[train.str.strip() != ""])
        counts, examples = {}, []
        for part in ("val", "test"):
            documents = parts[part][name].dropna().astype(str)
            leaked = documents[documents.isin(seen)]
            counts[part] = len(leaked)
            examples += [
                {"part": part, "row": int(i), "text": t[:80]} for i, t in leaked[:3].items()
            ]
        if not any(counts.values()):
            continue
        problems.append(
            Problem(
                "duplicate_documents",
                f"{counts['test']} test and {counts['val']} validation row(s) hold a document "
                "that is also in the training rows, word for word: their scores are partly "
                "memory (a leak); deduplicate the source, or set a data.key that keeps copies "
                "together",
                severity="warning",
                column=name,
                examples=examples[:5],
                action="counted",
            )
        )
    return problems


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
