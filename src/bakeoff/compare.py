"""Stage `compare`: rank every contestant and name the best classical and best deep model."""

from __future__ import annotations

import logging
from typing import Any

from bakeoff import setup_logging
from bakeoff.io import read_json, write_json, write_text
from bakeoff.metrics import HIGHER_IS_BETTER, PRIMARY_METRIC
from bakeoff.params import load_params
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    DRIFT_SUMMARY,
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    VALIDATION_REPORT,
    evaluation_dir,
    model_dir,
)

log = logging.getLogger(__name__)

COLUMNS = {
    "classification": ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}
COST_COLUMNS = ["fit_seconds", "latency_p50_ms", "latency_p95_ms"]


def tuning_text(tuning: dict[str, Any] | None) -> str:
    """How a contestant's config was chosen: the defaults, or a sweep with its budget."""
    if not tuning:
        return "defaults"
    return f"{tuning.get('budget', 'tuned')} (sweep {tuning.get('sweep', '?')})"


def rank_models(rows: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Best first by the task's primary metric; ties keep the configured order."""
    metric, higher = PRIMARY_METRIC[task]
    ranked = sorted(rows, key=lambda r: -r[metric] if higher else r[metric])
    return [{**row, "rank": i} for i, row in enumerate(ranked, start=1)]


def summarize(ranked: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """Winner, best of each family and the classical model's advantage (positive: classical ahead)."""
    metric, higher = PRIMARY_METRIC[task]
    best = {}
    for row in ranked:
        best.setdefault(row["family"], row)
    summary: dict[str, Any] = {"task": task, "metric": metric, "best_model": ranked[0]["model"]}
    for family in ("classical", "deep"):
        summary[f"best_{family}"] = best[family]["model"] if family in best else None
    if "classical" in best and "deep" in best:
        difference = best["classical"][metric] - best["deep"][metric]
        summary["classical_advantage"] = difference if higher else -difference
    return summary


def failed_markdown(failed: dict[str, dict[str, str]]) -> str:
    if not failed:
        return ""
    lines = ["", "Failed to train (not ranked):", ""]
    lines += [
        f"- **{name}**: {f['error']} (MLflow run {f['run_id']})" for name, f in failed.items()
    ]
    return "\n".join(lines) + "\n"


def verdict(summary: dict[str, Any]) -> str:
    """One sentence: the winner, and how far the best classical and deep models are apart."""
    metric = summary["metric"]
    text = f"Best model: **{summary['best_model']}** (test {metric})."
    if "classical_advantage" in summary:
        advantage = summary["classical_advantage"]
        leader, other = (
            (summary["best_classical"], summary["best_deep"])
            if advantage >= 0
            else (summary["best_deep"], summary["best_classical"])
        )
        text += f" Best classical: {summary['best_classical']}; best deep: {summary['best_deep']};"
        text += f" {leader} leads {other} by {abs(advantage):.4f} {metric} (single test split, no interval)."
    return text


def leaderboard_markdown(ranked: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    task = summary["task"]
    columns = ["rank", "model", "family", *COLUMNS[task], *COST_COLUMNS, "tuning"]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|"
        + "|".join("---" if c in ("model", "family", "tuning") else "---:" for c in columns)
        + "|",
    ]
    for row in ranked:
        cells = [
            f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, ""))
            for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([verdict(summary), "", *lines, ""])


def log_pipeline_run(
    dataset: str,
    ranked: list[dict],
    summary: dict,
    tracking_uri: str | None,
    card: dict,
    failed: dict[str, dict[str, str]] | None = None,
) -> str:
    """One parent run per pipeline run; model runs trained in it become its children."""
    import mlflow

    from bakeoff import tracking

    tracking.connect(tracking_uri)
    tracking.use_experiment(dataset)
    client = mlflow.MlflowClient()
    with mlflow.start_run(run_name=f"bake-off {dataset}") as parent:
        mlflow.set_tags(
            {
                "bakeoff.kind": "pipeline",
                "bakeoff.dataset": dataset,
                "mlflow.source.git.commit": tracking.git_commit(),
            }
        )
        mlflow.log_params(
            {"models": ",".join(r["model"] for r in ranked), "metric": summary["metric"]}
        )
        for row in ranked:
            mlflow.log_metrics(
                {f"{row['model']}/{k}": row[k] for k in HIGHER_IS_BETTER if k in row}
            )
        children = [r["run_id"] for r in ranked] + [f["run_id"] for f in (failed or {}).values()]
        for run_id in children:
            run = client.get_run(run_id)
            if "mlflow.parentRunId" not in run.data.tags:  # trained in this pipeline run
                client.set_tag(run_id, "mlflow.parentRunId", parent.info.run_id)
        if failed:
            mlflow.set_tag("bakeoff.failed_models", ",".join(failed))
        for path in (LEADERBOARD_JSON, LEADERBOARD_MD, COMPARISON_PLOT):
            mlflow.log_artifact(str(path))
        # The data card with validation's warnings: what the models were trained on.
        for path in (DATA_CARD, VALIDATION_REPORT, DRIFT_REPORT, DRIFT_SUMMARY):
            mlflow.log_artifact(str(path), artifact_path="data")
        drift = read_json(DRIFT_REPORT)
        mlflow.set_tag("bakeoff.drifted_columns", ",".join(drift["flagged"]) or "none")
        mlflow.log_metric("drift/flagged_columns", drift["flagged_columns"])
        # The warnings themselves were logged by validate and are in both files.
        mlflow.set_tag("bakeoff.data_warnings", str(len(card["validation"]["warnings"])))
    return parent.info.run_id


def main() -> None:
    setup_logging()
    params = load_params()
    card = read_json(DATA_CARD)
    task = card["task"]
    rows, failed = [], {}
    for name in params.models:
        trained = read_json(model_dir(name) / "train.json")
        if trained.get("status") == "failed":
            failed[name] = {"error": trained["error"], "run_id": trained["run_id"]}
            continue
        scores = read_json(evaluation_dir(name) / "metrics.json")
        rows.append(
            {
                "model": name,
                "family": trained["family"],
                "run_id": trained["run_id"],
                "tuning": tuning_text(params.tuning.get(name)),
                **scores,
            }
        )
    if not rows:
        raise SystemExit(f"every model failed to train: {failed}")
    ranked = rank_models(rows, task)
    summary = summarize(ranked, task)
    fields = ["rank", "family", *COLUMNS[task], *COST_COLUMNS, "tuning", "run_id"]
    board = {**summary, "models": {r["model"]: {k: r[k] for k in fields if k in r} for r in ranked}}
    # `failed` holds strings only: DVC reads this file as metrics and skips non-numbers.
    board["failed"] = failed
    write_json(LEADERBOARD_JSON, board)
    markdown = leaderboard_markdown(ranked, summary) + failed_markdown(failed)
    write_text(LEADERBOARD_MD, markdown)
    from bakeoff import plots  # matplotlib: only when plotting, not for `report`'s imports

    plots.comparison_plot(ranked, summary["metric"], COMPARISON_PLOT)
    parent = log_pipeline_run(params.data.name, ranked, summary, params.tracking_uri, card, failed)
    # For the stages after this one (promote, report), which add to the same run.
    write_json(LEADERBOARD_JSON, {**board, "pipeline_run_id": parent})
    log.info("leaderboard (MLflow run %s):\n%s", parent, markdown)


if __name__ == "__main__":
    main()
