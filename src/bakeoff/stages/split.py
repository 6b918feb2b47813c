"""Stage `split`: seeded train / validation / test splits (bakeoff.data.splitting).

The test split is frozen here: nothing downstream fits or selects on it.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.split")

import logging
import sys

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.splitting import (
    duplicate_documents,
    missing_classes,
    split_frame,
    unrepresentative_parts,
)
from bakeoff.fileio import read_json, write_json, write_parquet
from bakeoff.guard import hold_workspace
from bakeoff.params import load_params
from bakeoff.paths import DATA_CARD, DATASET, SPLIT_REPORT, SPLITS, split_path
from bakeoff.problems import CardError, DataError

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
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
            batches=card["batches"],
            file=params.data.source_file,
        )
    except CardError as exc:
        raise SystemExit(f"split of {DATASET}: {exc}") from None
    except DataError as exc:  # before any part is written
        log.error("split of %s failed\n%s", DATASET, exc)
        sys.exit(1)
    if card["task"] == "classification" and (gaps := missing_classes(parts, card["target"])):
        log.warning("%s (split.method %s)", gaps, params.split.method)
    skewed = unrepresentative_parts(parts, card["target"], card["task"])
    for found in skewed:
        log.warning(
            "UNREPRESENTATIVE SPLIT (%s, column %r): %s", DATASET, card["target"], found["message"]
        )
    text = [c for c, kind in (card.get("features") or {}).items() if kind == "text"]
    leaks = duplicate_documents(parts, text)
    for problem in leaks:
        log.warning("%s", problem.line())
    for name in SPLITS:
        write_parquet(split_path(name), parts[name])
    write_json(
        SPLIT_REPORT,
        {
            "method": params.split.method,
            "key": list(params.data.key) or params.split.key,
            "rows": {name: len(part) for name, part in parts.items()},
            "unrepresentative": skewed,
            "duplicate_documents": [problem.to_dict() for problem in leaks],
        },
    )
    log.info("split %d rows: %s", len(frame), ", ".join(f"{k} {len(v)}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
