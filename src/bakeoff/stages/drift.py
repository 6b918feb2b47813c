"""Stage `drift`: the newest batch against the training rows it joins
(bakeoff.data.drift); reports/drift.json and drift.md. With `drift.action: stop` a flagged
column halts the pipeline here, before featurize and training."""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.drift")

import logging

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.drift import drift_report
from bakeoff.fileio import read_json, write_json, write_text
from bakeoff.guard import hold_workspace
from bakeoff.params import load_params
from bakeoff.paths import DATA_CARD, DRIFT_REPORT, DRIFT_SUMMARY, RAW_DATASET, split_path
from bakeoff.problems import CardError
from bakeoff.reporting.drift import drift_markdown

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    config = params.drift
    card = read_json(DATA_CARD)
    raw, train = pd.read_parquet(RAW_DATASET), pd.read_parquet(split_path("train"))
    batches = card["batches"]  # ingest lists them, validate keeps them
    try:
        report = drift_report(
            raw, train, card=card, batches=batches, config=config, key=params.data.key
        )
    except CardError as exc:  # the card's key; any other error keeps its traceback
        raise SystemExit(f"drift: {exc}") from None
    write_json(DRIFT_REPORT, report)
    summary = drift_markdown(report)
    write_text(DRIFT_SUMMARY, summary)
    log.info("%s", summary.splitlines()[2])
    if not report["flagged"]:
        return
    detail = "; ".join(
        f"{c}: {', '.join(report['columns'][c]['reasons'])}" for c in report["flagged"]
    )
    log.warning("drift in the newest batch %s: %s", report["batch"], detail)
    if config.action == "stop":
        log.error(
            "drift.action=stop: the pipeline halts before training. Flagged columns: %s (see %s). "
            "To train on this batch anyway: dvc exp run -S drift.action=warn",
            ", ".join(report["flagged"]),
            DRIFT_REPORT,
        )
        raise SystemExit(1)


if __name__ == "__main__":
    main()
