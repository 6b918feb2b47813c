"""The leaderboard as people read it: Markdown (reports/leaderboard.md, the report's summary,
the MLflow run's description), the terminal's short form, and CSV (for `dvc plots`)."""

from __future__ import annotations

from typing import Any

from bakeoff.evaluation.metrics import REPORTED
from bakeoff.reporting import formatting as fmt

TERMINAL_WIDTH = 100


def verdict(board: dict[str, Any]) -> str:
    """The verdict sentence: the paired test's when there is one, else what the test split
    alone says (and that it has no interval)."""
    if board.get("verdict"):
        return board["verdict"]["sentence"]
    metric = board["metric"]
    text = f"Best model: {board['best_model']} (ranked by {board.get('ranked_by', 'test split')} {metric})."
    if "classical_advantage" in board:
        advantage = board["classical_advantage"]
        leader, other = (
            (board["best_classical"], board["best_deep"])
            if advantage >= 0
            else (board["best_deep"], board["best_classical"])
        )
        text += (
            f" {leader} leads {other} by {abs(advantage):.4f} test {metric} "
            "(single test split, no interval)."
        )
    return text


def score_text(row: dict[str, Any], metric: str) -> str:
    """The resampled mean ± half-width of its interval, else the test score alone."""
    cv = (row.get("cv") or {}).get(metric)
    if not cv:
        return fmt.score(row.get(metric))
    return fmt.plus_minus(cv["mean"], (cv["high"] - cv["low"]) / 2)


def leaderboard_rows(ranked: list[dict[str, Any]], metric: str) -> tuple[list[str], list[list]]:
    """The main table: rank, model, family, the ranking metric (resampled, and on the test
    split), fit time, p95 latency and how the config was chosen."""
    header = ["rank", "model", "family", metric, f"test {metric}", "fit", "p95 latency", "tuning"]
    rows = [
        [
            str(row["rank"]),
            row["model"],
            row["family"],
            score_text(row, metric),
            fmt.score(row.get(metric)),
            fmt.seconds(row.get("fit_seconds")),
            fmt.milliseconds(row.get("latency_p95_ms")),
            row.get("tuning", "defaults"),
        ]
        for row in ranked
    ]
    return header, rows


def metrics_table(ranked: list[dict[str, Any]], task: str) -> tuple[list[str], list[list]]:
    """Every reported metric of every model (resampled mean ± half-interval where resampled)."""
    columns = REPORTED[task]
    rows = [[row["model"], row["family"], *(score_text(row, c) for c in columns)] for row in ranked]
    return ["model", "family", *columns], rows


def terminal_rows(ranked: list[dict[str, Any]], metric: str) -> tuple[list[str], list[list]]:
    """Six columns that fit a 100-column terminal: rank, model, family, metric ± interval,
    fit time, p95 latency."""
    header, rows = leaderboard_rows(ranked, metric)
    keep = [0, 1, 2, 3, 5, 6]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


def guarded(ranked: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(model, what cut its fit short or approximated it) for the ranked models that were
    guarded, in the final fit or the resample refits: a time budget, the SVM's kernel
    approximation. Their scores stand, with this."""
    found = []
    for row in ranked:
        cost = row.get("cost") or {}
        texts = [cost[k] for k in ("guard", "refit_guard") if cost.get(k)]
        if texts:
            found.append((row["model"], "; ".join(texts)))
    return found


def failed_markdown(failed: dict[str, dict[str, str]]) -> str:
    if not failed:
        return ""
    lines = ["", "Failed to train (not ranked):", ""]
    lines += [
        f"- **{name}**: {f['error']} (MLflow run {f['run_id']})" for name, f in failed.items()
    ]
    return "\n".join(lines) + "\n"


def note(summary: dict[str, Any], resampled: bool) -> str:
    level = fmt.percent(summary.get("confidence", 0.95))
    if resampled:
        return (
            f"Scores: mean ± half-width of the {level} interval over the resamples; `test`: "
            "the final model on the frozen test split."
        )
    return "Scores: the frozen test split (no resamples, no interval)."


def leaderboard_markdown(ranked: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """reports/leaderboard.md: the verdict, the main table, then every metric."""
    header, rows = leaderboard_rows(ranked, summary["metric"])
    all_header, all_rows = metrics_table(ranked, summary["task"])
    guards = [f"Guarded: **{name}** {text}." for name, text in guarded(ranked)]
    return "\n".join(
        [
            verdict(summary),
            "",
            note(summary, bool(ranked[0].get("cv"))),
            "",
            fmt.markdown_table(header, rows, align="rllrrrrl"),
            "",
            *guards,
            *([""] if guards else []),
            "Every metric:",
            "",
            fmt.markdown_table(all_header, all_rows, align="ll" + "r" * (len(all_header) - 2)),
            "",
        ]
    )


def run_description(markdown: str) -> str:
    """The pipeline's MLflow run description (the UI renders it as Markdown): the leaderboard,
    verdict first, and where the whole report is."""
    return (
        f"{markdown.rstrip()}\n\nThe full report (learning curves, costs, importance, drift, "
        "registry): `report.html` in this run's artifacts; compare the contestants by ticking "
        "their runs (this run's children) in the training-runs table, then **Compare**.\n"
    )


def terminal_summary(board: dict[str, Any], report: str) -> str:
    """What `make run` prints last: the verdict, a six-column leaderboard, the report's path."""
    ranked = [{"model": n, **r} for n, r in sorted(board["models"].items(), key=_rank)]
    header, rows = terminal_rows(ranked, board["metric"])
    table = fmt.markdown_table(header, rows, align="rllrrr")
    excess = max(len(line) for line in table.splitlines()) - TERMINAL_WIDTH
    if excess > 0:  # long model names: shorten them, keep every other column whole
        longest = max(len(row[1]) for row in rows)
        keep = max(8, longest - excess)
        for row in rows:
            row[1] = row[1] if len(row[1]) <= keep else row[1][: keep - 1] + "…"
        table = fmt.markdown_table(header, rows, align="rllrrr")
    lines = [fmt.wrap(verdict(board), TERMINAL_WIDTH), "", table]
    for name, text in guarded(ranked):
        lines += ["", fmt.wrap(f"Guarded: {name} {text}.", TERMINAL_WIDTH)]
    if board.get("failed"):
        lines += ["", "Failed to train: " + ", ".join(board["failed"])]
    lines += ["", f"Report: {report}"]
    return "\n".join(lines) + "\n"


def _rank(item: tuple[str, dict[str, Any]]) -> int:
    return item[1]["rank"]


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
