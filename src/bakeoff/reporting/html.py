"""reports/<dataset>/report.html, one self-contained page (images inline, no external
links) that reads offline, and summary.md, its gist.

`report_context` turns the pipeline's records into what the page shows, numbers formatted
(bakeoff.reporting.formatting); the page itself is the Jinja2 template
templates/report.html.j2 with its stylesheet templates/report.css.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bakeoff.reporting import formatting as fmt
from bakeoff.reporting.leaderboard import guarded, leaderboard_rows, metrics_table, verdict

TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class Table:
    """Header, formatted rows, and which columns hold text (left-aligned) or wrap."""

    header: list[str]
    rows: list[list[str]]
    text_columns: int | set[int] = 1  # the first n columns, or these, hold labels
    wrap: set[int] = field(default_factory=set)  # long text: wraps, at least 16em wide
    breaks: set[int] = field(default_factory=set)  # short text: may break between words

    @property
    def classes(self) -> list[str]:
        text = self.text_columns
        labels = text if isinstance(text, set) else set(range(text))
        return [self._class(i, labels) for i in range(len(self.header))]

    def _class(self, column: int, labels: set[int]) -> str:
        if column in self.wrap:
            return "text wrap"
        if column in self.breaks:
            return "breaks"  # right-aligned like the numbers around it
        return "text" if column in labels else ""


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def verdict_context(board: dict[str, Any]) -> dict[str, Any]:
    found = board.get("verdict")
    test = None
    if found:
        test = {
            "classical": found["classical"],
            "deep": found["deep"],
            "metric": found["metric"],
            "delta": fmt.signed(found["delta"]),
            "low": fmt.signed(found["low"]),
            "high": fmt.signed(found["high"]),
            "level": fmt.percent(found["confidence"]),
            "p_value": fmt.p_value(found["p_value"]),
            "resamples": found["resamples"],
            "method_text": found["method_text"],
        }
    ensemble = (board.get("ensemble") or {}).get("sentence")
    return {"sentence": verdict(board), "test": test, "ensemble": ensemble}


def leaderboard_context(board: dict[str, Any], task: str) -> dict[str, Any]:
    ranked = [{"model": n, **r} for n, r in sorted(board["models"].items(), key=_rank)]
    header, rows = leaderboard_rows(ranked, board["metric"])
    all_header, all_rows = metrics_table(ranked, task)
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
            f"Scores: mean ± half-width of the {fmt.percent(board['confidence'])} interval "
            f"over the resamples ({how}). Ranked by the resampled {board['metric']}; the test "
            "column is the final model on the frozen test split."
        )
    else:
        note = "Scores on the frozen test split only: no resamples, so no intervals."
    return {
        "note": note,
        "metric": board["metric"],
        "main": Table(header, rows, text_columns=3),
        "all": Table(all_header, all_rows, text_columns=2),
        "guarded": guarded(ranked),
        "failed": [(n, f["error"]) for n, f in board.get("failed", {}).items()],
    }


def _rank(item: tuple[str, dict[str, Any]]) -> int:
    return item[1]["rank"]


def curves_context(curve: dict[str, Any]) -> dict[str, Any] | None:
    if not curve.get("models"):
        return None
    rows = [
        [
            name,
            info["family"],
            fmt.count(p["train_rows"]),
            fmt.percent(p["fraction"]),
            fmt.score(p["mean"]),
            f"[{fmt.score(p['low'])}, {fmt.score(p['high'])}]",
        ]
        for name, info in curve["models"].items()
        for p in info["points"]
    ]
    level = fmt.percent(curve.get("confidence", 0.95))
    header = ["model", "family", "training rows", "fraction", f"test {curve['metric']}"]
    header.append(f"{level} interval")
    guarded = [
        f"{name} at {fmt.count(p['train_rows'])} rows ({p['guarded_fits']} of {len(p['scores'])})"
        for name, info in curve["models"].items()
        for p in info["points"]
        if p.get("guarded_fits")
    ]
    return {
        "statement": curve["statement"],
        "repeats": curve["repeats"],
        "level": level,
        "table": Table(header, rows, text_columns=2),
        "guarded": ", ".join(guarded),
    }


def weights_text(cost: dict[str, Any]) -> str:
    """A model's size in its own unit: parameters (networks, linear models; with k, the
    members of a network that is an ensemble) or tree nodes."""
    if cost.get("parameters") is not None:
        members = f" (k = {cost['k']} members)" if cost.get("k") else ""
        return f"{fmt.count(cost['parameters'])} parameters{members}"
    if cost.get("tree_nodes") is not None:
        return f"{fmt.count(cost['tree_nodes'])} tree nodes"
    return ""


def cost_context(board: dict[str, Any], latency_rows: int | None) -> dict[str, Any]:
    ranked = sorted(board["models"].items(), key=_rank)
    gpu = any(row["cost"].get("gpu_peak_memory_mb") is not None for _, row in ranked)
    header = ["model", "family", "fit", "device", "peak memory"]
    header += ["GPU memory"] * gpu + ["latency p50", "latency p95", "size", "weights"]
    main = []
    for name, row in ranked:
        cost = row["cost"]
        cells = [
            name,
            row["family"],
            fmt.seconds(cost.get("fit_seconds")),
            cost.get("accelerator", ""),
            fmt.megabytes(cost.get("peak_memory_mb")),
        ]
        cells += [fmt.megabytes(cost.get("gpu_peak_memory_mb"))] * gpu
        cells += [
            fmt.milliseconds(cost.get("latency_p50_ms")),
            fmt.milliseconds(cost.get("latency_p95_ms")),
            fmt.megabytes(cost.get("model_size_mb")),
            weights_text(cost),
        ]
        main.append(cells)
    refits = [
        [
            name,
            fmt.seconds(row["cost"].get("resample_fit_seconds")),
            fmt.seconds(row["cost"].get("resample_wall_seconds")),
            row["cost"].get("hpo_budget", ""),
        ]
        for name, row in ranked
    ]
    fingerprints = {json.dumps(row["cost"].get("hardware"), sort_keys=True) for _, row in ranked}
    hardware = [
        ", ".join(f"{k}: {v}" for k, v in json.loads(f).items())
        for f in sorted(fingerprints)
        if f != "null"
    ]
    return {
        "latency_rows": latency_rows or 1000,
        "hardware": hardware,
        "mixed": len(fingerprints) > 1,
        # The weights cell may break: "812,345 parameters (k = 16 members)" on one line
        # would widen the table past the page.
        "main": Table(header, main, text_columns=2, breaks={len(header) - 1}),
        "refits": Table(
            ["model", "resample fits", "resample wall time", "tuning budget"], refits, wrap={3}
        ),
    }


def side_by_side(lists: list[list[tuple[str, str]]]) -> list[list[str]]:
    """Table rows of (label, value) lists set next to each other, blank where one ends."""
    depth = max((len(pairs) for pairs in lists), default=0)
    return [
        [cell for pairs in lists for cell in (pairs[i] if i < len(pairs) else ("", ""))]
        for i in range(depth)
    ]


def importance_context(board: dict[str, Any]) -> dict[str, Any] | None:
    found = board.get("importance") or {}
    families = [f for f in ("classical", "deep") if f in found]
    skipped = [f"{model}: {reason}" for model, reason in (found.get("skipped") or {}).items()]
    if not families:
        return {"table": None, "skipped": skipped} if skipped else None
    header: list[str] = []
    for family in families:
        header += [f"{family}: {found[family]['model']}", "importance"]
    rows = side_by_side([[(c, fmt.signed(v)) for c, v in found[f]["top"]] for f in families])
    agreement = found.get("agreement")
    text = None
    if agreement:
        rho = agreement["spearman"]
        text = (
            f"{rho:.2f} (p = {fmt.p_value(agreement['p_value'])})"
            if rho is not None
            else "undefined (an importance is constant)"
        )
    return {
        "metric": found["metric"],
        "where": rows_shuffled([found[f] for f in families], found.get("test_rows")),
        "agreement": {"columns": agreement["columns"], "text": text} if agreement else None,
        "table": Table(header, rows, text_columns={2 * i for i in range(len(families))}),
        "skipped": skipped,
    }


def rows_shuffled(bests: list[dict[str, Any]], test_rows: int | None) -> str:
    """Which test rows the family bests' importance shuffled: all, or a sample (each its own
    when the time limit gave them different sizes)."""
    counts = [best.get("rows") for best in bests]
    if test_rows is None or None in counts:
        return "the test split"
    if all(count >= test_rows for count in counts):
        return f"the {fmt.count(test_rows)} test rows"
    if len(set(counts)) == 1:
        return f"a seeded sample of {fmt.count(counts[0])} of the {fmt.count(test_rows)} test rows"
    each = " and ".join(
        f"{fmt.count(c)} ({b['model']})" for c, b in zip(counts, bests, strict=True)
    )
    return f"seeded samples of {each} of the {fmt.count(test_rows)} test rows"


def ngrams_context(board: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per TF-IDF linear model and text column: the word n-grams with the largest
    weights towards each answer, side by side."""
    found = (board.get("importance") or {}).get("top_ngrams") or {}
    tables = []
    for model, columns in found.items():
        for entry in columns:
            answers = list(entry["top"])
            rows = side_by_side([[(t, f"{w:.2f}") for t, w in entry["top"][a]] for a in answers])
            header = [h for answer in answers for h in (f"towards {answer}", "weight")]
            table = Table(header, rows, text_columns={2 * i for i in range(len(answers))})
            tables.append({"model": model, "column": entry["column"], "table": table})
    return tables


def recommendation_context(board: dict[str, Any]) -> dict[str, Any]:
    found = board["recommendation"]
    return {
        "model": found["model"],
        "reasons": found["reasons"],
        "front": ", ".join(board["pareto_front"]),
    }


def promotion_context(promotion: dict[str, Any]) -> dict[str, Any]:
    table = None
    if "champion_score" in promotion:
        low, high = promotion["interval"]
        table = Table(
            [
                "metric",
                "challenger",
                "champion",
                "improvement",
                "bootstrap interval",
                "margin",
                "test rows",
            ],
            [
                [
                    promotion["metric"],
                    fmt.score(promotion["challenger_score"]),
                    fmt.score(promotion["champion_score"]),
                    fmt.signed(promotion["improvement"]),
                    f"{fmt.percent(promotion['confidence'])} [{fmt.signed(low)}, "
                    f"{fmt.signed(high)}]",
                    fmt.score(promotion["margin"]),
                    fmt.count(promotion["test_rows"]),
                ]
            ],
        )
    return {
        "model": promotion["challenger_model"],
        "uri": f"models:/{promotion['registered_model']}/{promotion['challenger_version']}",
        "decision": promotion["decision"],
        "css": "ok" if promotion["decision"] == "promoted" else "flag",
        "after": promotion.get("champion_after"),
        "before": promotion.get("champion_before"),
        "reasons": promotion["reasons"],
        "table": table,
    }


def drift_context(drift: dict[str, Any]) -> dict[str, Any] | None:
    if drift["status"] != "compared":
        return None
    columns = sorted(drift["columns"].items(), key=lambda kv: not kv[1]["flagged"])
    rows = [
        [
            name,
            c["kind"],
            fmt.score(c.get("psi")),
            fmt.p_value(c.get("ks_pvalue")),
            fmt.p_value(c.get("chi2_pvalue")),
            fmt.percent(c.get("unseen_share")),
            fmt.signed(c.get("missing_change")),
            "; ".join(c.get("reasons", [])),
        ]
        for name, c in columns
    ]
    header = ["column", "kind", "PSI", "KS p", "chi² p", "unseen", "missing change", "reasons"]
    return {
        "batch": drift["batch"],
        "batch_rows": fmt.count(drift["batch_rows"]),
        "reference_rows": fmt.count(drift["reference_rows"]),
        "action": drift["action"],
        "flagged": drift["flagged"],
        "table": Table(header, rows, text_columns=2, wrap={7}),
    }


def data_context(card: dict[str, Any], split: dict[str, Any] | None = None) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for kind in card["features"].values():
        kinds[kind] = kinds.get(kind, 0) + 1
    warnings = [
        {"rule": w.get("rule", ""), "column": w.get("column") or "", "message": w.get("message")}
        for w in card.get("validation", {}).get("warnings", [])
        if isinstance(w, dict)
    ]
    # The split stage's check: a part whose target is off taints every score measured on it.
    warnings += [
        {"rule": "unrepresentative_split", "column": card["target"], "message": found["message"]}
        for found in (split or {}).get("unrepresentative", [])
    ]
    return {
        "rows": fmt.count(card["rows"]),
        "features": len(card["features"]),
        "kinds": ", ".join(f"{n} {k}" for k, n in kinds.items()),
        "target": card["target"],
        "task": card["task"],
        "batches": len(card.get("batches", [])),
        "hash": card["content_hash"][:16],
        "columns": Table(["column", "type"], sorted(card["features"].items()), text_columns=2),
        "warnings": warnings,
    }


def reproduce_context(commit: str, lock_hash: str | None, params_text: str) -> dict[str, Any]:
    return {
        "commit": commit,
        "lock": lock_hash,
        "params_hash": hashlib.sha256(params_text.encode()).hexdigest()[:16],
        "params": params_text,
    }


def report_context(
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
    split: dict | None = None,
) -> dict[str, Any]:
    """Everything the page shows, formatted."""
    return {
        "dataset": dataset,
        "stamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "verdict": verdict_context(board),
        "leaderboard": leaderboard_context(board, card["task"]),
        "curves": curves_context(curve),
        "cost": cost_context(board, latency_rows),
        "importance": importance_context(board),
        "ngrams": ngrams_context(board),
        "recommendation": recommendation_context(board),
        "promotion": promotion_context(promotion),
        "drift": drift_context(drift),
        "data": data_context(card, split),
        "reproduce": reproduce_context(commit, lock_hash, params_text),
        "plots": {name: data_uri(path) for name, path in plots.items()},
    }


def render(**records: Any) -> str:
    """The report page from the pipeline's records (see `report_context`)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,  # a missing value is a bug in the context, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(**report_context(**records))
