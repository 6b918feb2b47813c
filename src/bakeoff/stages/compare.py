"""Stage `compare`: rank every contestant with intervals, name the best classical and best
deep model, test whether they differ, and tally what each costs and relies on.

    python -m bakeoff.stages.compare

Reads every contestant's train, evaluate and resample records; writes the leaderboard
(JSON for `dvc metrics`, Markdown, CSV for `dvc plots`), the comparison and Pareto plots, and
the pipeline's MLflow run, whose id the leaderboard carries for promote and report.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.compare")

import logging

from bakeoff import setup_process
from bakeoff.evaluation.records import read_contestants
from bakeoff.evaluation.verdict import (
    ensemble_verdict,
    family_verdict,
    importance_summary,
    leaderboard_fields,
    pareto_front,
    rank_models,
    recommend,
    summarize,
)
from bakeoff.fileio import read_json, write_json, write_text
from bakeoff.guard import hold_workspace
from bakeoff.models.ensemble import NAME as ENSEMBLE
from bakeoff.params import load_params
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    LEADERBOARD_CSV,
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    PARETO_PLOT,
)
from bakeoff.reporting.leaderboard import (
    failed_markdown,
    leaderboard_csv,
    leaderboard_markdown,
    run_description,
)
from bakeoff.tracking.pipeline import log_pipeline_results, pipeline_run

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    config = params.compare
    card = read_json(DATA_CARD)
    task = card["task"]
    found = read_contestants([*params.models, ENSEMBLE], params, task)
    rows, failed, records = found.rows, found.failed, found.records
    if not rows:
        raise SystemExit(f"every model failed to train: {failed}")
    ranked = rank_models(rows, task)
    summary = {**summarize(ranked, task), "confidence": config.confidence}
    metric = summary["metric"]
    summary["verdict"] = family_verdict(summary, records, config.confidence, card["rows"])
    summary["ensemble"] = ensemble_verdict(ranked, summary, records, config.confidence)
    summary["recommendation"] = recommend(ranked, metric, config, records)
    summary["pareto_front"] = pareto_front(ranked, metric)
    summary["importance"] = importance_summary(summary, found.importances)
    if records:  # how the intervals were made: as the resample stages recorded it
        done = next(iter(records.values()))
        summary["resampling"] = {k: done[k] for k in ("method", "folds", "repeats")}
    fields = leaderboard_fields(task)
    models = {r["model"]: {k: r[k] for k in fields if k in r} for r in ranked}
    markdown = leaderboard_markdown(ranked, summary) + failed_markdown(failed)
    # matplotlib only now, to draw
    from bakeoff.reporting.plots import comparison_plot, pareto_plot

    with pipeline_run(params.data.name, params.tracking_uri) as run_id:
        # promote and report add to the same MLflow run; `failed` holds strings only (DVC
        # reads this file as metrics and skips non-numbers)
        board = {**summary, "models": models, "failed": failed, "pipeline_run_id": run_id}
        write_json(LEADERBOARD_JSON, board)
        write_text(LEADERBOARD_CSV, leaderboard_csv(ranked, metric))
        write_text(LEADERBOARD_MD, markdown)
        comparison_plot(ranked, metric, COMPARISON_PLOT, config.confidence)
        pareto_plot(
            ranked,
            f"{summary['ranked_by']} {metric}",
            summary["pareto_front"],
            summary["recommendation"]["model"],
            PARETO_PLOT,
        )
        log_pipeline_results(
            ranked, summary, card, failed, read_json(DRIFT_REPORT), run_description(markdown)
        )
    log.info("leaderboard (MLflow run %s):\n%s", run_id, markdown)


if __name__ == "__main__":
    main()
