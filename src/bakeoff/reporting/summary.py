"""reports/<dataset>/summary.md: the report's gist in Markdown, for MLflow's artifact view,
pull requests and chat."""

from __future__ import annotations

from typing import Any

from bakeoff.reporting import formatting as fmt
from bakeoff.reporting.leaderboard import leaderboard_rows, verdict


def summary_markdown(dataset: str, board: dict[str, Any], curve: dict, commit: str) -> str:
    ranked = [{"model": n, **r} for n, r in sorted(board["models"].items(), key=_rank)]
    header, rows = leaderboard_rows(ranked, board["metric"])
    lines = [f"# bakeoff: {dataset}", "", f"**Verdict.** {verdict(board)}", ""]
    if board.get("verdict"):
        lines += [f"Test: {board['verdict']['method_text']}", ""]
    if board.get("ensemble"):
        lines += [board["ensemble"]["sentence"], ""]
    lines += ["## Leaderboard", "", fmt.markdown_table(header, rows, align="rllrrrrl"), ""]
    if curve.get("models"):
        lines += ["## Learning curves", "", curve["statement"], ""]
    found = board["recommendation"]
    lines += [
        "## Recommendation",
        "",
        f"**{found['model'] or 'none'}**: " + "; ".join(found["reasons"]),
        "",
    ]
    cost = [
        [
            row["model"],
            fmt.seconds(row["cost"].get("fit_seconds")),
            fmt.milliseconds(row["cost"].get("latency_p95_ms")),
            fmt.megabytes(row["cost"].get("model_size_mb")),
        ]
        for row in ranked
    ]
    lines += ["## Cost", "", fmt.markdown_table(["model", "fit", "p95 latency", "size"], cost)]
    lines.append("")
    importance = board.get("importance") or {}
    for family in ("classical", "deep"):
        if family in importance:
            top = ", ".join(f"{c} ({fmt.signed(v)})" for c, v in importance[family]["top"][:5])
            lines.append(f"- Top columns, {importance[family]['model']}: {top}")
    for model, reason in (importance.get("skipped") or {}).items():
        lines.append(f"- Importance of {model}: {reason}")
    agreement = (importance.get("agreement") or {}).get("spearman")
    if agreement is not None:
        lines.append(f"- Rank agreement (Spearman): {agreement:.2f}")
    for model, columns in (importance.get("top_ngrams") or {}).items():
        for entry in columns:
            sides = "; ".join(
                f"towards {answer}: " + ", ".join(term for term, _ in terms[:5])
                for answer, terms in entry["top"].items()
            )
            lines.append(f"- Top n-grams, {model} ({entry['column']}): {sides}")
    lines += [
        "",
        f"Reproduce: git commit `{commit}`, then `dvc repro` (full report: report.html).",
        "",
    ]
    return "\n".join(lines)


def _rank(item: tuple[str, dict[str, Any]]) -> int:
    return item[1]["rank"]
