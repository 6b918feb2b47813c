"""reports/drift.md: the drift report in a sentence and a table, flagged columns first."""

from __future__ import annotations

from typing import Any


def _cell(x: float | None, form: str = ".3g") -> str:
    return "–" if x is None else format(x, form)


def drift_markdown(report: dict[str, Any]) -> str:
    """A short summary of the report: one sentence and a table, flagged columns first."""
    head = f"Batch {report['batch']} ({report['batch_rows']:,} rows)"
    if report["status"] != "compared":
        return f"# Drift\n\n{head}: no training rows from earlier batches to compare with.\n"
    columns, flagged = report["columns"], report["flagged"]
    verdict = f"{len(flagged)} of {len(columns)} columns drifted" + (
        f": {', '.join(flagged)}." if flagged else "."
    )
    lines = [
        "# Drift",
        "",
        f"{head} against {report['reference_rows']:,} training rows: {verdict}",
        "",
        "| column | kind | PSI | KS | chi² p | unseen | missing ref → batch | reasons |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in [*flagged, *(c for c in columns if c not in flagged)]:
        c = columns[name]
        cells = [
            f"**{name}**" if c["flagged"] else name,
            c["kind"],
            _cell(c["psi"], ".3f"),
            _cell(c["ks_statistic"], ".3f"),
            _cell(c["chi2_pvalue"]),
            _cell(c["unseen_share"], ".1%"),
            f"{c['missing_reference']:.1%} → {c['missing_batch']:.1%}",
            "; ".join(c["reasons"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
