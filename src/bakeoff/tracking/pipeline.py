"""The pipeline's MLflow run: one per pipeline run, the parent of the contestants' runs,
holding the leaderboard, the verdict and the data card (promote and report add to it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bakeoff.evaluation.metrics import HIGHER_IS_BETTER
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    DRIFT_SUMMARY,
    LEADERBOARD_CSV,
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    PARETO_PLOT,
    VALIDATION_REPORT,
)
from bakeoff.tracking import store, tags
from bakeoff.tracking.orphans import process_tags

MAX_TAG_LENGTH = 8000  # MLflow's limit on a run tag's value (the description is one)

TRUNCATED_NOTE = "\n\n… (cut to fit MLflow's limit: leaderboard.md in the artifacts has it all)"


def fit_tag(text: str, ending: str) -> str:
    """`text` whole when MLflow takes it, else cut at a line and ended with `ending`."""
    if len(text) <= MAX_TAG_LENGTH:
        return text
    cut = text[: MAX_TAG_LENGTH - len(ending)]
    return cut[: cut.rfind("\n") if "\n" in cut else len(cut)] + ending


@contextmanager
def pipeline_run(dataset: str, tracking_uri: str | None) -> Iterator[str]:
    """One parent run per pipeline run, active inside the block (which gets its id, for the
    leaderboard); FINISHED after it, FAILED if it raises."""
    import mlflow

    store.connect(tracking_uri)
    store.use_experiment(dataset)
    with mlflow.start_run(
        run_name=tags.display_name("bake-off", dataset), tags=process_tags()
    ) as parent:
        mlflow.set_tags(
            {
                "bakeoff.kind": "pipeline",
                "bakeoff.dataset": dataset,
                "mlflow.source.git.commit": tags.git_commit(),
            }
        )
        yield parent.info.run_id


def log_pipeline_results(
    ranked: list[dict],
    summary: dict,
    card: dict,
    failed: dict[str, dict[str, str]],
    drift: dict,
    description: str,
) -> None:
    """Into the active pipeline run: scores, the verdict, the leaderboard files, the data card;
    model runs trained in this pipeline run become its children. `description` (Markdown: the
    verdict and the leaderboard) is what the run page shows first."""
    import mlflow
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

    parent = mlflow.active_run().info.run_id
    client = mlflow.MlflowClient()
    mlflow.log_params({"models": ",".join(r["model"] for r in ranked), "metric": summary["metric"]})
    for row in ranked:
        mlflow.log_metrics({f"{row['model']}/{k}": row[k] for k in HIGHER_IS_BETTER if k in row})
        mlflow.log_metrics(
            {
                f"{row['model']}/resampled_{m}_{part}": value[part]
                for m, value in (row.get("cv") or {}).items()
                for part in ("mean", "low", "high")
            }
        )
    mlflow.set_tag(MLFLOW_RUN_NOTE, fit_tag(description, TRUNCATED_NOTE))
    found = summary.get("verdict")
    if found:
        mlflow.set_tag("bakeoff.verdict", found["sentence"][:5000])
        mlflow.log_metrics(
            {
                "verdict/delta": found["delta"],
                "verdict/low": found["low"],
                "verdict/high": found["high"],
                "verdict/p_value": found["p_value"],
            }
        )
    if summary.get("ensemble"):
        mlflow.set_tag("bakeoff.ensemble_verdict", summary["ensemble"]["sentence"][:5000])
    if summary["recommendation"]["model"]:
        mlflow.set_tag("bakeoff.recommended", summary["recommendation"]["model"])
    children = [r["run_id"] for r in ranked] + [f["run_id"] for f in failed.values()]
    for run_id in children:
        run = client.get_run(run_id)
        if "mlflow.parentRunId" not in run.data.tags:  # trained in this pipeline run
            client.set_tag(run_id, "mlflow.parentRunId", parent)
    if failed:
        mlflow.set_tag("bakeoff.failed_models", ",".join(failed))
    for path in (LEADERBOARD_JSON, LEADERBOARD_MD, LEADERBOARD_CSV, COMPARISON_PLOT, PARETO_PLOT):
        mlflow.log_artifact(str(path))
    # The data card with validation's warnings: what the models were trained on.
    for path in (DATA_CARD, VALIDATION_REPORT, DRIFT_REPORT, DRIFT_SUMMARY):
        mlflow.log_artifact(str(path), artifact_path="data")
    mlflow.set_tag("bakeoff.drifted_columns", ",".join(drift["flagged"]) or "none")
    mlflow.log_metric("drift/flagged_columns", drift["flagged_columns"])
    # The warnings themselves were logged by validate and are in both files.
    mlflow.set_tag("bakeoff.data_warnings", str(len(card["validation"]["warnings"])))
