"""The verdict: rank every contestant (with intervals), name the best classical and best
deep model, test whether they differ, and recommend one under the stated constraints."""

from __future__ import annotations

import logging
from typing import Any

from bakeoff.evaluation.importance import rank_agreement
from bakeoff.evaluation.importance import ranked as ranked_importance
from bakeoff.evaluation.metrics import BOUNDS, HIGHER_IS_BETTER, PRIMARY_METRIC, REPORTED
from bakeoff.evaluation.stats import mean_interval, paired_test, verdict_sentence
from bakeoff.params import CompareConfig

log = logging.getLogger(__name__)

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


def ensemble_verdict(
    ranked: list[dict[str, Any]],
    summary: dict[str, Any],
    records: dict[str, dict[str, Any]],
    confidence: float,
) -> dict[str, Any] | None:
    """Does averaging the two family bests beat the better of them alone? The paired test of
    the ensemble against the better family best (by resampled mean), and its sentence; None
    when there is no ensemble with resamples."""
    ensemble = next((r for r in ranked if r["family"] == "ensemble"), None)
    families = [
        r for r in ranked if r["model"] in (summary.get("best_classical"), summary.get("best_deep"))
    ]
    if ensemble is None or not families:
        return None
    better = families[0]  # ranked best first
    metric = summary["metric"]
    test = paired_records(ensemble["model"], better["model"], records, metric, confidence)
    if test is None:
        return None
    level = f"{test['confidence']:.0%}"
    interval = f"{level} CI [{test['low']:+.4f}, {test['high']:+.4f}], p = {test['p_value']:.2g}"
    if test["significant"] and test["delta"] > 0:
        sentence = (
            f"Combining the families helps: the ensemble beats {better['model']} alone by "
            f"{test['delta']:.4f} {metric} ({interval})."
        )
    elif test["significant"]:
        sentence = (
            f"Combining the families does not help: the ensemble is worse than "
            f"{better['model']} alone by {-test['delta']:.4f} {metric} ({interval})."
        )
    else:
        sentence = (
            f"Combining the families makes no significant difference: the ensemble against "
            f"{better['model']} alone, {metric} difference {test['delta']:+.4f} ({interval})."
        )
    return {"ensemble": ensemble["model"], "against": better["model"], **test, "sentence": sentence}


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
    """Top columns of the best classical and best deep model (and the rows each was shuffled
    on), their rank agreement, the reason a family best has none, and the top n-grams of
    every model that has them."""
    best = {f: summary.get(f"best_{f}") for f in ("classical", "deep")}
    chosen = {f: m for f, m in best.items() if m and importances.get(m, {}).get("columns")}
    result: dict[str, Any] = {
        f: {
            "model": m,
            "top": ranked_importance(importances[m]["columns"])[:top],
            # Rows shuffled, of the test rows (older records: every test row).
            "rows": importances[m].get("rows", importances[m].get("test_rows")),
        }
        for f, m in chosen.items()
    }
    if chosen:
        first = importances[next(iter(chosen.values()))]
        result["metric"] = first["metric"]
        result["test_rows"] = first.get("test_rows")
    skipped = {
        m: importances[m]["skipped"]
        for m in best.values()
        if m and importances.get(m, {}).get("skipped")
    }
    if skipped:
        result["skipped"] = skipped
    if len(chosen) == 2:
        result["agreement"] = rank_agreement(
            importances[chosen["classical"]]["columns"], importances[chosen["deep"]]["columns"]
        )
    ngrams = {m: found["top_ngrams"] for m, found in importances.items() if found.get("top_ngrams")}
    if ngrams:  # the TF-IDF linear models' weights (bakeoff.models.text.top_ngrams)
        result["top_ngrams"] = ngrams
    return result


def leaderboard_fields(task: str) -> list[str]:
    """What reports/leaderboard.json keeps of each ranked row."""
    costs = ["fit_seconds", "latency_p50_ms", "latency_p95_ms"]
    return [
        "rank",
        "family",
        *REPORTED[task],
        *costs,
        "test_rows",
        "interpretable",
        "cv",
        "cost",
        "tuning",
        "run_id",
        "model_uri",  # the logged model (models:/<id>), which promote registers
    ]
