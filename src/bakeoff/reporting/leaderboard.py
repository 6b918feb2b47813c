"""The leaderboard as people read it: Markdown (reports/leaderboard.md, the report, the
MLflow run description) and CSV (for `dvc plots`)."""

from __future__ import annotations

from typing import Any

from bakeoff.evaluation.metrics import PRIMARY_METRIC, REPORTED
from bakeoff.evaluation.verdict import verdict

COST_COLUMNS = ["fit_seconds", "latency_p50_ms", "latency_p95_ms"]


def failed_markdown(failed: dict[str, dict[str, str]]) -> str:
    if not failed:
        return ""
    lines = ["", "Failed to train (not ranked):", ""]
    lines += [
        f"- **{name}**: {f['error']} (MLflow run {f['run_id']})" for name, f in failed.items()
    ]
    return "\n".join(lines) + "\n"


def interval_text(row: dict[str, Any], metric: str) -> str:
    cv = (row.get("cv") or {}).get(metric)
    if not cv:
        return ""
    return f"{cv['mean']:.4f} ± {(cv['high'] - cv['low']) / 2:.4f}"


def leaderboard_table(ranked: list[dict[str, Any]], task: str) -> tuple[list[str], list[list]]:
    """Header and rows: resampled mean ± half-interval per metric, the test score of the
    ranking metric, the main costs and the tuning budget."""
    metric = PRIMARY_METRIC[task][0]
    columns = REPORTED[task]
    header = ["rank", "model", "family", *columns, f"test {metric}", *COST_COLUMNS, "tuning"]
    rows = []
    for row in ranked:
        rows.append(
            [
                row["rank"],
                row["model"],
                row["family"],
                *(interval_text(row, c) or row.get(c) for c in columns),
                row.get(metric),
                *(row.get(c) for c in COST_COLUMNS),
                row.get("tuning", "defaults"),
            ]
        )
    return header, rows


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str("" if value is None else value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(ranked: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    header, rows = leaderboard_table(ranked, summary["task"])
    note = (
        f"Metrics: mean ± half-width of the {summary.get('confidence', 0.95):.0%} interval over "
        "the resamples; `test` columns: the frozen test split."
        if ranked[0].get("cv")
        else "Metrics: the frozen test split (no resamples, no interval)."
    )
    return "\n".join([verdict(summary), "", note, "", markdown_table(header, rows), ""])


def leaderboard_csv(ranked: list[dict[str, Any]], metric: str) -> str:
    """One row per model for `dvc plots`: test score and resampled mean with its interval."""
    lines = ["model,family,test,resampled_mean,resampled_low,resampled_high"]
    for row in ranked:
        cv = (row.get("cv") or {}).get(metric) or {}
        values = [row[metric], cv.get("mean"), cv.get("low"), cv.get("high")]
        lines.append(
            ",".join(
                [row["model"], row["family"], *("" if v is None else f"{v:.6g}" for v in values)]
            )
        )
    return "\n".join(lines) + "\n"
