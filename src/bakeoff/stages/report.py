"""Stage `report`: reports/<dataset>/report.html, one self-contained page that reads offline
(bakeoff.reporting.html), and reports/<dataset>/summary.md, its gist; both logged to the
pipeline's MLflow run.

    python -m bakeoff.stages.report
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.report")

import hashlib
import logging
from pathlib import Path

from bakeoff import setup_process
from bakeoff.fileio import read_json, write_text
from bakeoff.guard import hold_workspace
from bakeoff.params import PARAMS_FILE, load_params
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    LEADERBOARD_JSON,
    LEARNING_CURVE_CSV,
    LEARNING_CURVE_JSON,
    LEARNING_CURVE_PLOT,
    PARETO_PLOT,
    PROMOTION_REPORT,
    SPLIT_REPORT,
    report_path,
    summary_path,
)
from bakeoff.reporting.html import render
from bakeoff.reporting.summary import summary_markdown
from bakeoff.tracking import store
from bakeoff.tracking.tags import git_commit

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    board = read_json(LEADERBOARD_JSON)
    commit = git_commit()
    curve = read_json(LEARNING_CURVE_JSON)
    lock = Path("dvc.lock")
    page = render(
        dataset=params.data.name,
        board=board,
        card=read_json(DATA_CARD),
        drift=read_json(DRIFT_REPORT),
        promotion=read_json(PROMOTION_REPORT),
        split=read_json(SPLIT_REPORT),
        curve=curve,
        plots={
            "comparison": COMPARISON_PLOT,
            "learning_curve": LEARNING_CURVE_PLOT,
            "pareto": PARETO_PLOT,
        },
        commit=commit,
        lock_hash=hashlib.sha256(lock.read_bytes()).hexdigest()[:16] if lock.is_file() else None,
        params_text=PARAMS_FILE.read_text(encoding="utf-8"),
        latency_rows=params.evaluate.latency_rows,
    )
    path = report_path(params.data.name)
    write_text(path, page)
    summary = summary_path(params.data.name)
    write_text(summary, summary_markdown(params.data.name, board, curve, commit))
    if board.get("pipeline_run_id"):
        import mlflow

        store.connect(params.tracking_uri)
        client = mlflow.MlflowClient()
        for file in (path, summary, LEARNING_CURVE_JSON, LEARNING_CURVE_CSV, LEARNING_CURVE_PLOT):
            client.log_artifact(board["pipeline_run_id"], str(file))
    log.info("report: %s; summary: %s", path, summary)


if __name__ == "__main__":
    main()
