"""reports/drift.md: the drift report in a sentence and a table, flagged columns first."""

from __future__ import annotations

from typing import Any

from bakeoff.reporting import formatting as fmt


def drift_markdown(report: dict[str, Any]) -> str:
    """A short summary of the report: one sentence and a table, flagged columns first."""
    head = f"Batch {report['batch']} ({report['batch_rows']:,} rows)"
    if report["status"] != "compared":
        return f"# Drift\n\n{head}: no training rows from earlier batches to compare with.\n"
    columns, flagged = report["columns"], report["flagged"]
    verdict = f"{len(flagged)} of {len(columns)} columns drifted" + (
        f": {', '.join(flagged)}." if flagged else "."
    )
    header = ["column", "kind", "PSI", "KS", "chi² p", "unseen", "missing ref → batch", "reasons"]
    rows = []
    for name in [*flagged, *(c for c in columns if c not in flagged)]:
        c = columns[name]
        rows.append(
            [
                f"**{name}**" if c["flagged"] else name,
                c["kind"],
                fmt.score(c["psi"]) or "–",
                fmt.score(c["ks_statistic"]) or "–",
                fmt.p_value(c["chi2_pvalue"]) or "–",
                f"{c['unseen_share']:.1%}" if c["unseen_share"] is not None else "–",
                f"{c['missing_reference']:.1%} → {c['missing_batch']:.1%}",
                "; ".join(c["reasons"]),
            ]
        )
    table = fmt.markdown_table(header, rows, align="llrrrrrl")
    lines = ["# Drift", "", f"{head} against {report['reference_rows']:,} training rows: {verdict}"]
    return "\n".join([*lines, "", table]) + "\n"
