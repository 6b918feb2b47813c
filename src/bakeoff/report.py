"""Stage `report`: reports/<dataset>/report.html, one self-contained page (images inline,
no external links) that reads offline: the verdict, the leaderboard, the registry's
decision, drift of the newest batch, the data, and how to reproduce the run. It is logged
to the pipeline's MLflow run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
from pathlib import Path
from typing import Any

from bakeoff import compare, setup_logging
from bakeoff.io import read_json, write_text
from bakeoff.params import load_params
from bakeoff.paths import (
    COMPARISON_PLOT,
    DATA_CARD,
    DRIFT_REPORT,
    LEADERBOARD_JSON,
    PROMOTION_REPORT,
    report_path,
)
from bakeoff.tracking import git_commit

log = logging.getLogger(__name__)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
img{max-width:100%;height:auto}
.flag{color:#b00020;font-weight:600} .ok{color:#1b5e20;font-weight:600}
code,pre{background:#f4f4f4;padding:.1em .3em;white-space:pre-wrap;word-break:break-all}
"""


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def leaderboard_section(board: dict[str, Any], task: str) -> str:
    columns = [*compare.COLUMNS[task], *compare.COST_COLUMNS]
    rows = [
        [name, row["family"], *(row.get(c) for c in columns), row.get("tuning", "defaults")]
        for name, row in sorted(board["models"].items(), key=lambda kv: kv[1]["rank"])
    ]
    failed = "".join(
        f"<p class='flag'>{html.escape(n)} failed to train: {html.escape(f['error'])}</p>"
        for n, f in board.get("failed", {}).items()
    )
    return table(["model", "family", *columns, "tuning"], rows) + failed


def promotion_section(promotion: dict[str, Any]) -> str:
    css = "ok" if promotion["decision"] == "promoted" else "flag"
    lines = [
        f"<p>Challenger: <b>{html.escape(promotion['challenger_model'])}</b>, registered as "
        f"<code>models:/{html.escape(promotion['registered_model'])}/"
        f"{promotion['challenger_version']}</code>. Decision: "
        f"<span class='{css}'>{html.escape(promotion['decision'])}</span>; champion now "
        f"v{promotion.get('champion_after')} (was v{promotion.get('champion_before')}).</p>",
        "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in promotion["reasons"]) + "</ul>",
    ]
    if "champion_score" in promotion:
        low, high = promotion["interval"]
        lines.append(
            table(
                [
                    "metric",
                    "challenger",
                    "champion",
                    "improvement",
                    "95% bootstrap interval",
                    "margin",
                    "test rows",
                ],
                [
                    [
                        promotion["metric"],
                        promotion["challenger_score"],
                        promotion["champion_score"],
                        promotion["improvement"],
                        f"[{low:+.4f}, {high:+.4f}]",
                        promotion["margin"],
                        promotion["test_rows"],
                    ]
                ],
            )
        )
    return "\n".join(lines)


def drift_section(drift: dict[str, Any]) -> str:
    if drift["status"] != "compared":
        return "<p>One batch so far: nothing to compare with.</p>"
    flagged = drift["flagged"]
    summary = (
        f"<p class='flag'>{len(flagged)} column(s) drifted: {html.escape(', '.join(flagged))}</p>"
        if flagged
        else "<p class='ok'>No column drifted beyond the thresholds.</p>"
    )
    rows = [
        [
            name,
            c["kind"],
            c.get("psi"),
            c.get("ks_pvalue"),
            c.get("chi2_pvalue"),
            c.get("unseen_share"),
            c.get("missing_change"),
            "; ".join(c.get("reasons", [])),
        ]
        for name, c in sorted(drift["columns"].items(), key=lambda kv: not kv[1]["flagged"])
    ]
    return (
        f"<p>Newest batch <code>{html.escape(drift['batch'])}</code> ({drift['batch_rows']} rows) "
        f"against {drift['reference_rows']} training rows from earlier batches; action on "
        f"drift: <b>{html.escape(drift['action'])}</b>.</p>"
        + summary
        + table(
            [
                "column",
                "kind",
                "PSI",
                "KS p",
                "chi² p",
                "unseen share",
                "missing change",
                "reasons",
            ],
            rows,
        )
    )


def data_section(card: dict[str, Any]) -> str:
    kinds: dict[str, int] = {}
    for kind in card["features"].values():
        kinds[kind] = kinds.get(kind, 0) + 1
    warnings = card.get("validation", {}).get("warnings", [])
    items = "".join(
        f"<li>[{html.escape(w.get('rule', ''))}] {html.escape(str(w.get('column') or ''))} "
        f"{html.escape(w.get('message', ''))}</li>"
        for w in warnings
        if isinstance(w, dict)
    )
    batches = card.get("batches", [])
    return (
        f"<p>{card['rows']} rows, {len(card['features'])} features "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), target "
        f"<code>{html.escape(card['target'])}</code> ({card['task']}), {len(batches)} "
        f"batch(es). Content hash <code>{card['content_hash'][:16]}</code>.</p>"
        + (
            f"<p>Validation warnings:</p><ul>{items}</ul>"
            if items
            else "<p>No validation warnings.</p>"
        )
    )


def render(
    *,
    dataset: str,
    board: dict,
    card: dict,
    drift: dict,
    promotion: dict,
    plot: Path,
    commit: str,
) -> str:
    sections = [
        ("Verdict", f"<p>{html.escape(compare.verdict(board).replace('**', ''))}</p>"),
        ("Leaderboard (test split)", leaderboard_section(board, card["task"])),
        ("Comparison", image(plot, f"test {board['metric']} per model")),
        ("Registry", promotion_section(promotion)),
        ("Drift", drift_section(drift)),
        ("Data", data_section(card)),
        (
            "Reproduce",
            f"<p>git commit <code>{commit}</code>; then <code>dvc exp run</code> "
            "(or <code>git checkout &lt;commit&gt; &amp;&amp; dvc checkout</code> for the "
            "stored results).</p>",
        ),
    ]
    body = "\n".join(f"<section><h2>{t}</h2>\n{s}</section>" for t, s in sections)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>bakeoff: {html.escape(dataset)}"
        f"</title><style>{STYLE}</style></head><body><h1>bakeoff: {html.escape(dataset)}</h1>"
        f"<p>{stamp}</p>\n{body}\n</body></html>\n"
    )


def main() -> None:
    setup_logging()
    params = load_params()
    board = read_json(LEADERBOARD_JSON)
    page = render(
        dataset=params.data.name,
        board=board,
        card=read_json(DATA_CARD),
        drift=read_json(DRIFT_REPORT),
        promotion=read_json(PROMOTION_REPORT),
        plot=COMPARISON_PLOT,
        commit=git_commit(),
    )
    path = report_path(params.data.name)
    write_text(path, page)
    if board.get("pipeline_run_id"):
        import mlflow

        from bakeoff import tracking

        tracking.connect(params.tracking_uri)
        mlflow.MlflowClient().log_artifact(board["pipeline_run_id"], str(path))
    log.info("report: %s", path)


if __name__ == "__main__":
    main()
