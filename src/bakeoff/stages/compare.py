"""Stage `compare`: rank every contestant with intervals, name the best classical and best
deep model, test whether they differ, and tally what each costs and relies on.

    python -m bakeoff.stages.compare

Reads every contestant's train, evaluate and resample records; writes the leaderboard
(JSON for `dvc metrics`, Markdown, CSV for `dvc plots`), the comparison and Pareto plots, and
the pipeline's MLflow run, whose id the leaderboard carries for promote and report.
"""

from __future__ import annotations

import logging
from typing import Any

from bakeoff import setup_logging
from bakeoff.evaluation.cost import cost_ledger
from bakeoff.evaluation.metrics import REPORTED
from bakeoff.evaluation.verdict import (
    family_verdict,
    importance_summary,
    leaderboard_fields,
    pareto_front,
    rank_models,
    recommend,
    resampled_intervals,
    summarize,
    tuning_text,
)
from bakeoff.fileio import read_json, write_json, write_text
from bakeoff.params import load_params
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    LEADERBOARD_CSV,
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    PARETO_PLOT,
    evaluation_dir,
    model_dir,
    resample_path,
)
from bakeoff.reporting.leaderboard import (
    failed_markdown,
    leaderboard_csv,
    leaderboard_markdown,
    run_description,
)
from bakeoff.tracking.pipeline import log_pipeline_results, pipeline_run

log = logging.getLogger(__name__)


def read_resamples(name: str) -> dict[str, Any] | None:
    """The model's resample record when it finished (absent or failed: no interval)."""
    path = resample_path(name)
    record = read_json(path) if path.is_file() else None
    return record if record and record.get("status") == "done" else None


def main() -> None:
    setup_logging()
    params = load_params()
    config = params.compare
    card = read_json(DATA_CARD)
    task = card["task"]
    rows, failed, records, importances = [], {}, {}, {}
    for name in params.models:
        trained = read_json(model_dir(name) / "train.json")
        if trained.get("status") == "failed":
            failed[name] = {"error": trained["error"], "run_id": trained["run_id"]}
            continue
        scores = read_json(evaluation_dir(name) / "metrics.json")
        record = read_resamples(name)
        if record:
            records[name] = record
        importances[name] = read_json(evaluation_dir(name) / "importance.json")
        rows.append(
            {
                "model": name,
                "family": trained["family"],
                "run_id": trained["run_id"],
                "model_uri": trained["model_uri"],
                "tuning": tuning_text(params.tuning.get(name)),
                "interpretable": bool(trained.get("interpretable")),
                **scores,
                "cv": resampled_intervals(record, REPORTED[task], config.confidence)
                if record
                else {},
                "cost": cost_ledger(trained, scores, record, params.tuning.get(name)),
            }
        )
    if not rows:
        raise SystemExit(f"every model failed to train: {failed}")
    ranked = rank_models(rows, task)
    summary = {**summarize(ranked, task), "confidence": config.confidence}
    metric = summary["metric"]
    summary["verdict"] = family_verdict(summary, records, config.confidence, card["rows"])
    summary["recommendation"] = recommend(ranked, metric, config, records)
    summary["pareto_front"] = pareto_front(ranked, metric)
    summary["importance"] = importance_summary(summary, importances)
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
        comparison_plot(ranked, metric, COMPARISON_PLOT)
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
