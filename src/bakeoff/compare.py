"""Stage `compare`: rank every contestant with intervals, name the best classical and best
deep model, test whether they differ, and tally what each costs and relies on."""

from __future__ import annotations

import logging
from typing import Any

from bakeoff import setup_logging
from bakeoff.importance import rank_agreement
from bakeoff.importance import ranked as ranked_importance
from bakeoff.io import read_json, write_json, write_text
from bakeoff.metrics import BOUNDS, HIGHER_IS_BETTER, PRIMARY_METRIC
from bakeoff.params import CompareConfig, load_params
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
    evaluation_dir,
    model_dir,
    resample_path,
)
from bakeoff.stats import mean_interval, paired_test, verdict_sentence

log = logging.getLogger(__name__)

COLUMNS = {
    "classification": ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}
COST_COLUMNS = ["fit_seconds", "latency_p50_ms", "latency_p95_ms"]
LEDGER_COLUMNS = [
    "fit_seconds",
    "accelerator",
    "peak_memory_mb",
    "gpu_peak_memory_mb",
    "latency_p50_ms",
    "latency_p95_ms",
    "model_size_mb",
    "parameters",
    "tree_nodes",
    "resample_fit_seconds",
    "resample_wall_seconds",
    "hpo_budget",
]
TEST_METHOD = (
    "Corrected resampled t-test (Nadeau & Bengio 2003) on the paired fold scores: every "
    "model is refitted on the same cross-validation folds of train+validation, so the "
    "comparison sees how scores vary with the training rows, which a bootstrap of one frozen "
    "test split cannot; the correction for overlapping training sets keeps the interval from "
    "being over-confident."
)
SEEDS_METHOD = (
    "Paired t-test over refits with new seeds on the same split, scored on the test rows: "
    "the interval covers training randomness only, not which rows were drawn (use "
    "compare.resampling.method=cv for that)."
)


def tuning_text(tuning: dict[str, Any] | None) -> str:
    """How a contestant's config was chosen: the defaults, or a sweep with its budget."""
    if not tuning:
        return "defaults"
    return f"{tuning.get('budget', 'tuned')} (sweep {tuning.get('sweep', '?')})"


def ranked_by_resamples(rows: list[dict[str, Any]]) -> bool:
    """Rank on resampled means only when every model has them: one scale for all."""
    return all(r.get("cv") for r in rows)


def rank_models(rows: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Best first by the task's primary metric: the resampled mean when every model has one
    (it varies less than one test split, and keeps the test rows out of the choice), else
    the test score. Each row gets that score as `quality` and its `rank`; ties keep the
    configured order."""
    metric, higher = PRIMARY_METRIC[task]
    resampled = ranked_by_resamples(rows)
    scored = [{**r, "quality": r["cv"][metric]["mean"] if resampled else r[metric]} for r in rows]
    ranked = sorted(scored, key=lambda r: -r["quality"] if higher else r["quality"])
    return [{**row, "rank": i} for i, row in enumerate(ranked, start=1)]


def summarize(ranked: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """Winner, best of each family and the classical model's test advantage (positive: ahead)."""
    metric, higher = PRIMARY_METRIC[task]
    best = {}
    for row in ranked:
        best.setdefault(row["family"], row)
    summary: dict[str, Any] = {
        "task": task,
        "metric": metric,
        "best_model": ranked[0]["model"],
        "ranked_by": "resampled mean" if ranked_by_resamples(ranked) else "test split",
    }
    for family in ("classical", "deep"):
        summary[f"best_{family}"] = best[family]["model"] if family in best else None
    if "classical" in best and "deep" in best:
        difference = best["classical"][metric] - best["deep"][metric]
        summary["classical_advantage"] = difference if higher else -difference
    return summary


def resampled_intervals(
    record: dict[str, Any], metrics: list[str], confidence: float
) -> dict[str, dict[str, float]]:
    """Per metric: mean and (corrected) interval over a model's resamples."""
    scores = record["resamples"]
    return {
        m: mean_interval(
            [r[m] for r in scores], ratio=record["ratio"], confidence=confidence, bounds=BOUNDS[m]
        )
        for m in metrics
        if all(m in r for r in scores)
    }


def paired_records(
    a: str, b: str, records: dict[str, dict[str, Any]], metric: str, confidence: float
) -> dict[str, Any] | None:
    """The corrected resampled t-test of model `a` against `b` (positive delta: `a` is
    better) on their fold scores; None when either has no resamples."""
    if a not in records or b not in records:
        return None
    first, second = records[a]["resamples"], records[b]["resamples"]
    if [r["held_out"] for r in first] != [r["held_out"] for r in second]:
        raise ValueError(
            f"{a} and {b} were resampled on different rows: re-run their `resample` stages "
            "(dvc exp run) so the scores are paired"
        )
    return paired_test(
        [r[metric] for r in first],
        [r[metric] for r in second],
        higher_is_better=HIGHER_IS_BETTER[metric],
        ratio=records[a]["ratio"],
        confidence=confidence,
    )


def family_verdict(
    summary: dict[str, Any], records: dict[str, dict[str, Any]], confidence: float, rows: int
) -> dict[str, Any] | None:
    """The paired test of the best classical against the best deep model, and its sentence."""
    classical, deep = summary.get("best_classical"), summary.get("best_deep")
    metric = summary["metric"]
    test = paired_records(classical, deep, records, metric, confidence) if deep else None
    if test is None:
        return None
    method = records[classical]["method"]
    return {
        "classical": classical,
        "deep": deep,
        "metric": metric,
        **test,
        "method": method,
        "method_text": TEST_METHOD if method == "cv" else SEEDS_METHOD,
        "sentence": verdict_sentence(classical, deep, test, metric, rows),
    }


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


def cost_ledger(
    trained: dict[str, Any], scores: dict[str, Any], record: dict | None, tuning: dict | None
) -> dict[str, Any]:
    """What a model costs to train, run and keep, from train's and evaluate's records."""
    ledger = {
        k: trained.get(k)
        for k in (
            "fit_seconds",
            "accelerator",
            "peak_memory_mb",
            "gpu_peak_memory_mb",
            "parameters",
            "tree_nodes",
        )
    }
    ledger.update({k: scores.get(k) for k in ("latency_p50_ms", "latency_p95_ms", "model_size_mb")})
    if record and record.get("status") == "done":
        ledger["resample_fit_seconds"] = sum(r["fit_seconds"] for r in record["resamples"])
        ledger["resample_wall_seconds"] = record.get("wall_seconds")  # fits side by side
    ledger["hpo_budget"] = (tuning or {}).get("budget", "none (defaults)")
    ledger["interpretable"] = bool(trained.get("interpretable"))
    ledger["hardware"] = trained.get("hardware")
    return {k: v for k, v in ledger.items() if v is not None}


def pareto_front(rows: list[dict[str, Any]], metric: str) -> list[str]:
    """Models no other model beats on both quality (as `rank_models` scored them) and p95
    latency."""
    sign = 1 if HIGHER_IS_BETTER[metric] else -1

    def dominates(a, b) -> bool:
        qa, qb = sign * a["quality"], sign * b["quality"]
        better = qa >= qb and a["latency_p95_ms"] <= b["latency_p95_ms"]
        strictly = qa > qb or a["latency_p95_ms"] < b["latency_p95_ms"]
        return better and strictly

    timed = [r for r in rows if r.get("latency_p95_ms") is not None]
    return [b["model"] for b in timed if not any(dominates(a, b) for a in timed)]


def recommend(
    ranked: list[dict[str, Any]],
    metric: str,
    config: CompareConfig,
    records: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The model to use under the stated constraints, with the reasons.

    The best-ranked model within `max_latency_ms`; with `prefer_interpretable`, the best
    interpretable one instead when the paired test finds it not significantly worse.
    """
    limit = config.max_latency_ms
    eligible = [r for r in ranked if limit is None or (r.get("latency_p95_ms") or 0) <= limit]
    reasons = []
    if limit is not None:
        excluded = [r["model"] for r in ranked if r not in eligible]
        reasons.append(
            f"compare.max_latency_ms {limit:g}: "
            + (
                f"{', '.join(excluded)} too slow (p95)"
                if excluded
                else "every model is fast enough"
            )
        )
    if not eligible:
        return {"model": None, "reasons": [*reasons, "no model meets the latency limit"]}
    best = eligible[0]
    choice = best
    reasons.append(f"{best['model']} ranks first among the eligible models")
    if config.prefer_interpretable and not best.get("interpretable"):
        readable = [r for r in eligible if r.get("interpretable")]
        if not readable:
            reasons.append("compare.prefer_interpretable: no interpretable model is eligible")
        else:
            candidate = readable[0]
            test = paired_records(
                best["model"], candidate["model"], records, metric, config.confidence
            )
            if test is None:
                reasons.append("compare.prefer_interpretable: no resampled scores to test with")
            elif test["significant"]:
                reasons.append(
                    f"compare.prefer_interpretable: {candidate['model']} is significantly "
                    f"worse ({metric} {-test['delta']:+.4f}, p = {test['p_value']:.2g}), so "
                    "the interpretable model is not recommended"
                )
            else:
                choice = candidate
                reasons.append(
                    f"compare.prefer_interpretable: {candidate['model']} is not significantly "
                    f"worse than {best['model']} ({metric} {-test['delta']:+.4f}, "
                    f"p = {test['p_value']:.2g}), so it is recommended"
                )
    return {"model": choice["model"], "reasons": reasons}


def importance_summary(
    summary: dict[str, Any], importances: dict[str, dict[str, Any]], top: int = 10
) -> dict[str, Any]:
    """Top columns of the best classical and best deep model, and their rank agreement."""
    chosen = {f: summary.get(f"best_{f}") for f in ("classical", "deep")}
    chosen = {f: m for f, m in chosen.items() if m and importances.get(m, {}).get("columns")}
    result: dict[str, Any] = {
        f: {"model": m, "top": ranked_importance(importances[m]["columns"])[:top]}
        for f, m in chosen.items()
    }
    if chosen:
        result["metric"] = importances[next(iter(chosen.values()))]["metric"]
    if len(chosen) == 2:
        result["agreement"] = rank_agreement(
            importances[chosen["classical"]]["columns"], importances[chosen["deep"]]["columns"]
        )
    return result


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
    columns = COLUMNS[task]
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
            mlflow.log_metrics(
                {
                    f"{row['model']}/resampled_{m}_{part}": value[part]
                    for m, value in (row.get("cv") or {}).items()
                    for part in ("mean", "low", "high")
                }
            )
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
        if summary["recommendation"]["model"]:
            mlflow.set_tag("bakeoff.recommended", summary["recommendation"]["model"])
        children = [r["run_id"] for r in ranked] + [f["run_id"] for f in (failed or {}).values()]
        for run_id in children:
            run = client.get_run(run_id)
            if "mlflow.parentRunId" not in run.data.tags:  # trained in this pipeline run
                client.set_tag(run_id, "mlflow.parentRunId", parent.info.run_id)
        if failed:
            mlflow.set_tag("bakeoff.failed_models", ",".join(failed))
        for path in (
            LEADERBOARD_JSON,
            LEADERBOARD_MD,
            LEADERBOARD_CSV,
            COMPARISON_PLOT,
            PARETO_PLOT,
        ):
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


def read_resamples(name: str) -> dict[str, Any] | None:
    """The model's resample record when it finished (absent or failed: no interval)."""
    path = resample_path(name)
    record = read_json(path) if path.is_file() else None
    return record if record and record.get("status") == "done" else None


def main() -> None:
    setup_logging()
    params = load_params()
    config = params.compare
    card = read_json(DATA_CARD)
    task = card["task"]
    rows, failed, records, importances = [], {}, {}, {}
    for name in params.models:
        trained = read_json(model_dir(name) / "train.json")
        if trained.get("status") == "failed":
            failed[name] = {"error": trained["error"], "run_id": trained["run_id"]}
            continue
        scores = read_json(evaluation_dir(name) / "metrics.json")
        record = read_resamples(name)
        if record:
            records[name] = record
        importances[name] = read_json(evaluation_dir(name) / "importance.json")
        rows.append(
            {
                "model": name,
                "family": trained["family"],
                "run_id": trained["run_id"],
                "tuning": tuning_text(params.tuning.get(name)),
                "interpretable": bool(trained.get("interpretable")),
                **scores,
                "cv": resampled_intervals(record, COLUMNS[task], config.confidence)
                if record
                else {},
                "cost": cost_ledger(trained, scores, record, params.tuning.get(name)),
            }
        )
    if not rows:
        raise SystemExit(f"every model failed to train: {failed}")
    ranked = rank_models(rows, task)
    summary = {**summarize(ranked, task), "confidence": config.confidence}
    metric = summary["metric"]
    summary["verdict"] = family_verdict(summary, records, config.confidence, card["rows"])
    summary["recommendation"] = recommend(ranked, metric, config, records)
    summary["pareto_front"] = pareto_front(ranked, metric)
    summary["importance"] = importance_summary(summary, importances)
    if records:  # how the intervals were made: as the resample stages recorded it
        done = next(iter(records.values()))
        summary["resampling"] = {k: done[k] for k in ("method", "folds", "repeats")}
    fields = [
        "rank",
        "family",
        *COLUMNS[task],
        *COST_COLUMNS,
        "test_rows",
        "interpretable",
        "cv",
        "cost",
        "tuning",
        "run_id",
    ]
    board = {**summary, "models": {r["model"]: {k: r[k] for k in fields if k in r} for r in ranked}}
    # `failed` holds strings only: DVC reads this file as metrics and skips non-numbers.
    board["failed"] = failed
    write_json(LEADERBOARD_JSON, board)
    write_text(LEADERBOARD_CSV, leaderboard_csv(ranked, metric))
    markdown = leaderboard_markdown(ranked, summary) + failed_markdown(failed)
    write_text(LEADERBOARD_MD, markdown)
    from bakeoff import plots  # matplotlib: only when plotting, not for `report`'s imports

    plots.comparison_plot(ranked, metric, COMPARISON_PLOT)
    plots.pareto_plot(
        ranked,
        f"{summary['ranked_by']} {metric}",
        summary["pareto_front"],
        summary["recommendation"]["model"],
        PARETO_PLOT,
    )
    parent = log_pipeline_run(params.data.name, ranked, summary, params.tracking_uri, card, failed)
    # For the stages after this one (promote, report), which add to the same run.
    write_json(LEADERBOARD_JSON, {**board, "pipeline_run_id": parent})
    log.info("leaderboard (MLflow run %s):\n%s", parent, markdown)


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


if __name__ == "__main__":
    main()
