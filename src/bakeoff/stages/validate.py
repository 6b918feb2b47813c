"""Stage `validate`: check the ingested table before anything downstream is written.

Every problem goes into one report (reports/validation.json): errors stop the pipeline with
a short summary on the terminal; warnings are acted on and recorded in the data card (the
rules: bakeoff.data.validation).
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.validate")

import logging
import sys

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.validation import report, validate
from bakeoff.fileio import read_json, write_json, write_parquet
from bakeoff.guard import hold_workspace
from bakeoff.params import load_params
from bakeoff.paths import DATA_CARD, DATASET, RAW_CARD, RAW_DATASET, VALIDATION_REPORT
from bakeoff.problems import errors, summary

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    card = read_json(RAW_CARD)
    frame, card, problems = validate(pd.read_parquet(RAW_DATASET), card, params)
    if errors(problems):
        write_json(VALIDATION_REPORT, report(problems, "failed"))
        log.error(
            "dataset %s failed validation (full report: %s)\n%s",
            params.data.name,
            VALIDATION_REPORT,
            summary(problems),
        )
        sys.exit(1)
    write_parquet(DATASET, frame)
    write_json(DATA_CARD, card)
    write_json(VALIDATION_REPORT, report(problems, "passed"))
    if problems:
        log.warning(
            "dataset %s passed validation with warnings\n%s", params.data.name, summary(problems)
        )
    else:
        log.info("dataset %s passed validation: %d rows, no problems", params.data.name, len(frame))


if __name__ == "__main__":
    main()
