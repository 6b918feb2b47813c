"""reports/<dataset>/report.html, one self-contained page (images inline, no external
links) that reads offline, and summary.md, its gist."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import logging
from pathlib import Path
from typing import Any

from bakeoff.evaluation.cost import LEDGER_COLUMNS
from bakeoff.evaluation.verdict import verdict
from bakeoff.reporting.leaderboard import leaderboard_table, markdown_table

log = logging.getLogger(__name__)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
img{max-width:100%;height:auto}
.flag{color:#b00020;font-weight:600} .ok{color:#1b5e20;font-weight:600}
.verdict{font-size:1.2em;font-weight:600}
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


def leaderboard_section(board: dict[str, Any], task: str, plot: Path) -> str:
    ranked = sorted(board["models"].items(), key=lambda kv: kv[1]["rank"])
    header, rows = leaderboard_table([{"model": n, **r} for n, r in ranked], task)
    resampling = board.get("resampling") or {}
    if board.get("ranked_by") == "resampled mean":
        how = (
            f"{resampling.get('folds')}-fold cross-validation on train+validation, "
            f"{resampling.get('repeats')} time(s); intervals corrected for overlapping "
            "training sets"
            if resampling.get("method") == "cv"
            else f"{resampling.get('repeats')} refits with new seeds on one split"
        )
        note = (
            f"<p>Each metric: mean ± half-width of the {board['confidence']:.0%} interval over "
            f"the resamples ({how}). Ranked "
            f"by the resampled {board['metric']}; the <i>test</i> column is the final model "
            "on the frozen test split.</p>"
        )
    else:
        note = "<p>Scores on the frozen test split only: no resamples, so no intervals.</p>"
    failed = "".join(
        f"<p class='flag'>{html.escape(n)} failed to train: {html.escape(f['error'])}</p>"
        for n, f in board.get("failed", {}).items()
    )
    return note + table(header, rows) + failed + image(plot, f"{board['metric']} per model")


def verdict_section(board: dict[str, Any]) -> str:
    found = board.get("verdict")
    sentence = f"<p class='verdict'>{html.escape(verdict(board))}</p>"
    if not found:
        return sentence + (
            "<p>No paired test: it needs a classical and a deep model, both resampled.</p>"
        )
    return sentence + (
        f"<p>Best classical: <b>{html.escape(found['classical'])}</b>; best deep: "
        f"<b>{html.escape(found['deep'])}</b> (each family's best by resampled "
        f"{html.escape(found['metric'])}). Mean paired difference {found['delta']:+.4f}, "
        f"{found['confidence']:.0%} interval [{found['low']:+.4f}, {found['high']:+.4f}], "
        f"p = {found['p_value']:.3g}, over {found['resamples']} resamples.</p>"
        f"<p><i>Why this test:</i> {html.escape(found['method_text'])}</p>"
    )


def learning_curve_section(curve: dict[str, Any], plot: Path) -> str:
    if not curve.get("models"):
        return "<p>No learning curves in this run.</p>"
    rows = [
        [
            name,
            info["family"],
            p["train_rows"],
            f"{p['fraction']:.0%}",
            p["mean"],
            p["low"],
            p["high"],
        ]
        for name, info in curve["models"].items()
        for p in info["points"]
    ]
    return (
        f"<p>{html.escape(curve['statement'])}</p>"
        + image(plot, "learning curves: test score against training rows")
        + f"<p>Each point: {curve['repeats']} nested draw(s) of the training split, scored on "
        f"the frozen test rows; band: {curve.get('confidence', 0.95):.0%} interval over draws.</p>"
        + table(
            [
                "model",
                "family",
                "training rows",
                "fraction",
                f"test {curve['metric']}",
                "low",
                "high",
            ],
            rows,
        )
    )


def cost_section(board: dict[str, Any], evaluate_rows: int | None) -> str:
    columns = LEDGER_COLUMNS
    ranked = sorted(board["models"].items(), key=lambda kv: kv[1]["rank"])
    rows = [[name, row["family"], *(row["cost"].get(c) for c in columns)] for name, row in ranked]
    fingerprints = {json.dumps(row["cost"].get("hardware"), sort_keys=True) for _, row in ranked}
    hardware = "".join(
        f"<li><code>{html.escape(', '.join(f'{k}: {v}' for k, v in json.loads(f).items()))}"
        "</code></li>"
        for f in sorted(fingerprints)
        if f != "null"
    )
    mixed = (
        "<p class='flag'>The models were trained on different hardware: compare their costs "
        "with care.</p>"
        if len(fingerprints) > 1
        else ""
    )
    return (
        f"<p>Latency: wall time to predict a batch of {evaluate_rows or 1000} raw rows through the "
        "saved MLflow model (p50/p95 over repeats). Peak memory: resident memory the fit "
        "added. Resample fit seconds: the refits behind the intervals, summed; resample wall "
        "seconds: the time they took side by side (<code>compare.n_jobs</code>). Hardware:</p>"
        f"<ul>{hardware}</ul>{mixed}" + table(["model", "family", *columns], rows)
    )


def importance_section(board: dict[str, Any]) -> str:
    found = board.get("importance") or {}
    families = [f for f in ("classical", "deep") if f in found]
    if not families:
        return "<p>No importances recorded.</p>"
    depth = max(len(found[f]["top"]) for f in families)
    header = []
    for family in families:
        header += [f"{family}: {found[family]['model']}", "importance"]
    rows = []
    for i in range(depth):
        row: list[Any] = []
        for family in families:
            top = found[family]["top"]
            row += list(top[i]) if i < len(top) else ["", ""]
        rows.append(row)
    agreement = found.get("agreement")
    text = (
        f"<p>Permutation importance on the test split: the loss in {html.escape(found['metric'])} "
        "when one raw input column is shuffled (the same code for every model: the saved "
        "model's predict on raw rows). Every model's full list is in its MLflow run "
        "(importance.json).</p>"
    )
    if agreement:
        rho = agreement["spearman"]
        text += (
            f"<p>Rank agreement (Spearman over all {agreement['columns']} columns): "
            + (
                f"<b>{rho:.2f}</b> (p = {agreement['p_value']:.2g})"
                if rho is not None
                else "undefined (an importance is constant)"
            )
            + ".</p>"
        )
    return text + table(header, rows)


def pareto_section(board: dict[str, Any], plot: Path) -> str:
    found = board["recommendation"]
    pick = (
        f"<p>Recommended: <b>{html.escape(found['model'])}</b>.</p>"
        if found["model"]
        else "<p class='flag'>No model meets the constraints.</p>"
    )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in found["reasons"])
    return (
        pick + f"<ul>{reasons}</ul>" + f"<p>Pareto front (no model is both better and faster): "
        f"{html.escape(', '.join(board['pareto_front']))}. Constraints come from "
        "<code>compare.max_latency_ms</code> and <code>compare.prefer_interpretable</code>.</p>"
        + image(plot, "test score against p95 latency")
    )


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
                    f"{promotion['confidence']:.0%} bootstrap interval",
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
        + "<details><summary>Columns and types</summary>"
        + table(["column", "type"], sorted(card["features"].items()))
        + "</details>"
        + (
            f"<p>Validation warnings:</p><ul>{items}</ul>"
            if items
            else "<p>No validation warnings.</p>"
        )
    )


def reproduce_section(commit: str, lock_hash: str | None, params_text: str) -> str:
    digest = hashlib.sha256(params_text.encode()).hexdigest()[:16]
    lock = f"<code>{lock_hash}</code>" if lock_hash else "none yet (first run)"
    return (
        f"<p>git commit <code>{html.escape(commit)}</code>; <code>dvc.lock</code> sha256 "
        f"{lock} (as the report stage found it); <code>params.yaml</code> sha256 "
        f"<code>{digest}</code>.</p><p>To run it again: <code>git checkout {html.escape(commit)}"
        "</code>, put the params.yaml below in place (or <code>dvc exp apply &lt;experiment&gt;"
        "</code>), then <code>dvc repro</code>; <code>dvc checkout</code> restores the stored "
        "results instead.</p>"
        f"<details><summary>params.yaml</summary><pre>{html.escape(params_text)}</pre></details>"
    )


def render(
    *,
    dataset: str,
    board: dict,
    card: dict,
    drift: dict,
    promotion: dict,
    curve: dict,
    plots: dict[str, Path],
    commit: str,
    lock_hash: str | None,
    params_text: str,
    latency_rows: int | None = None,
) -> str:
    sections = [
        ("Verdict", verdict_section(board)),
        ("Leaderboard", leaderboard_section(board, card["task"], plots["comparison"])),
        ("Learning curves", learning_curve_section(curve, plots["learning_curve"])),
        ("Cost ledger", cost_section(board, latency_rows)),
        ("Importance", importance_section(board)),
        ("Quality vs cost", pareto_section(board, plots["pareto"])),
        ("Registry", promotion_section(promotion)),
        ("Drift", drift_section(drift)),
        ("Data", data_section(card)),
        ("Reproduce", reproduce_section(commit, lock_hash, params_text)),
    ]
    body = "\n".join(f"<section><h2>{t}</h2>\n{s}</section>" for t, s in sections)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>bakeoff: {html.escape(dataset)}"
        f"</title><style>{STYLE}</style></head><body><h1>bakeoff: {html.escape(dataset)}</h1>"
        f"<p>{stamp}</p>\n{body}\n</body></html>\n"
    )


def summary_markdown(dataset: str, board: dict, curve: dict, commit: str) -> str:
    """The report's gist in Markdown: for MLflow's artifact view, pull requests and chat."""
    ranked = sorted(board["models"].items(), key=lambda kv: kv[1]["rank"])
    header, rows = leaderboard_table([{"model": n, **r} for n, r in ranked], board["task"])
    lines = [f"# bakeoff: {dataset}", "", f"**Verdict.** {verdict(board)}", ""]
    if board.get("verdict"):
        lines += [f"Test: {board['verdict']['method_text']}", ""]
    lines += ["## Leaderboard", "", markdown_table(header, rows), ""]
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
            name,
            row["cost"].get("fit_seconds"),
            row["cost"].get("latency_p95_ms"),
            row["cost"].get("model_size_mb"),
        ]
        for name, row in ranked
    ]
    lines += [
        "## Cost",
        "",
        markdown_table(["model", "fit s", "p95 ms", "size MB"], cost),
        "",
    ]
    importance = board.get("importance") or {}
    for family in ("classical", "deep"):
        if family in importance:
            top = ", ".join(f"{c} ({v:.3g})" for c, v in importance[family]["top"][:5])
            lines.append(f"- Top columns, {importance[family]['model']}: {top}")
    agreement = (importance.get("agreement") or {}).get("spearman")
    if agreement is not None:
        lines.append(f"- Rank agreement (Spearman): {agreement:.2f}")
    lines += [
        "",
        f"Reproduce: git commit `{commit}`, then `dvc repro` (full report: report.html).",
        "",
    ]
    return "\n".join(lines)
