"""Stage `ingest`: the dataset card's source as a typed Parquet copy and a raw data card.

Column types are inferred (numeric, categorical, boolean, datetime, free text) unless the
card overrides them, then applied, so that every later stage and every saved model sees the
same dtypes. Ingest only fails on input it cannot read; everything else is for `validate`.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.ingest")

import logging
import sys

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.ingestion import ingest
from bakeoff.data.sources import read_source
from bakeoff.fileio import write_json, write_parquet
from bakeoff.guard import hold_workspace
from bakeoff.params import load_params
from bakeoff.paths import RAW_CARD, RAW_DATASET, find_workspace
from bakeoff.problems import CardError, DataError

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    root = find_workspace()
    try:
        frame, card, problems = ingest(read_source(params.data, root), params.data)
        if problems:
            raise DataError(problems)
    except DataError as exc:
        log.error("dataset %s cannot be ingested\n%s", params.data.name, exc)
        sys.exit(1)
    except CardError as exc:  # the card itself is wrong: say which card, no traceback
        log.error("dataset card %r (conf/data/): %s", params.data.name, exc)
        sys.exit(1)
    write_parquet(RAW_DATASET, frame)
    write_json(RAW_CARD, card)
    kinds = pd.Series(card["features"]).value_counts().to_dict()
    log.info(
        "ingested %s: %d rows, %d columns (%s); task %s",
        params.data.name,
        card["rows"],
        card["columns"],
        ", ".join(f"{n} {k}" for k, n in kinds.items()),
        card["task"],
    )


if __name__ == "__main__":
    main()
