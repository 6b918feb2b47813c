import numpy as np
import pytest

from bakeoff.evaluation.verdict import (
    family_verdict,
    importance_summary,
    pareto_front,
    rank_models,
    recommend,
    resampled_intervals,
    summarize,
)
from bakeoff.params import CompareConfig
from bakeoff.reporting.leaderboard import leaderboard_markdown

ROWS = [
    {"model": "dummy", "family": "classical", "accuracy": 0.60, "rmse": 9.0},
    {"model": "mlp", "family": "deep", "accuracy": 0.93, "rmse": 1.0},
    {"model": "forest", "family": "classical", "accuracy": 0.95, "rmse": 2.0},
]


def test_rank_classification_higher_is_better():
    ranked = rank_models(ROWS, "classification")
    assert [r["model"] for r in ranked] == ["forest", "mlp", "dummy"]
    assert [r["rank"] for r in ranked] == [1, 2, 3]


def test_rank_regression_lower_is_better():
    assert [r["model"] for r in rank_models(ROWS, "regression")] == ["mlp", "forest", "dummy"]


def test_summary_names_best_of_each_family_and_gap():
    summary = summarize(rank_models(ROWS, "classification"), "classification")
    assert summary["best_model"] == "forest"
    assert (summary["best_classical"], summary["best_deep"]) == ("forest", "mlp")
    assert abs(summary["classical_advantage"] - 0.02) < 1e-12
    regression = summarize(rank_models(ROWS, "regression"), "regression")
    assert abs(regression["classical_advantage"] - (-1.0)) < 1e-12  # deep is ahead


def test_summary_without_deep_model():
    summary = summarize(rank_models(ROWS[:1], "classification"), "classification")
    assert summary["best_deep"] is None and "classical_advantage" not in summary


def test_importance_summary_keeps_the_family_bests_columns_and_every_models_ngrams():
    summary = summarize(rank_models(ROWS, "classification"), "classification")
    columns = {"a": {"mean": 0.2}, "b": {"mean": 0.1}}
    ngrams = [{"column": "review", "top": {"fresh": [["good", 1.0]], "rotten": []}}]
    importances = {
        "forest": {"metric": "log_loss", "columns": columns},
        "mlp": {"metric": "log_loss", "columns": {"a": {"mean": 0.0}, "b": {"mean": 0.3}}},
        "dummy": {"metric": "log_loss", "columns": columns, "top_ngrams": ngrams},
    }
    found = importance_summary(summary, importances)
    assert found["classical"] == {"model": "forest", "top": [("a", 0.2), ("b", 0.1)], "rows": None}
    assert found["deep"]["model"] == "mlp" and found["agreement"]["columns"] == 2
    assert found["top_ngrams"] == {"dummy": ngrams}  # not only the family bests'
    del importances["dummy"]["top_ngrams"]
    assert "top_ngrams" not in importance_summary(summary, importances)
    # A family best whose importance the limits left out: its reason, and no agreement.
    importances["mlp"] = {"metric": "log_loss", "rows": 0, "columns": {}, "skipped": "too slow"}
    found = importance_summary(summary, importances)
    assert "deep" not in found and "agreement" not in found
    assert found["skipped"] == {"mlp": "too slow"} and found["classical"]["model"] == "forest"


def test_markdown_lists_every_model():
    ranked = rank_models(ROWS, "classification")
    text = leaderboard_markdown(ranked, summarize(ranked, "classification"))
    assert "forest leads mlp by 0.0200 test accuracy (single test split, no interval)" in text
    main, every = text.split("Every metric:")
    lines = [line for line in main.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].split("|")[1:-1]]
    assert header == [
        "rank",
        "model",
        "family",
        "accuracy",
        "test accuracy",
        "fit",
        "p95 latency",
        "tuning",
    ]
    assert [line.split("|")[2].strip() for line in lines[2:]] == ["forest", "mlp", "dummy"]
    assert sum(line.startswith("|") for line in every.splitlines()) == 2 + 3


def test_a_guarded_model_is_ranked_and_its_guard_is_said_under_the_table():
    rows = [{**r, "cost": {}} for r in ROWS]
    rows[1]["cost"]["guard"] = "stopped by its time budget after 3 of 100 epochs"
    ranked = rank_models(rows, "classification")
    text = leaderboard_markdown(ranked, summarize(ranked, "classification"))
    main = text.split("Every metric:")[0]
    assert "Guarded: **mlp** stopped by its time budget after 3 of 100 epochs." in main
    rows[2]["cost"]["refit_guard"] = "2 of 5 resample refits guarded (the first: stopped)"
    ranked = rank_models(rows, "classification")
    text = leaderboard_markdown(ranked, summarize(ranked, "classification"))
    assert "Guarded: **forest** 2 of 5 resample refits guarded (the first: stopped)." in text
    plain = rank_models(ROWS, "classification")
    assert "Guarded" not in leaderboard_markdown(plain, summarize(plain, "classification"))


def test_failed_models_are_listed_with_their_reason():
    from bakeoff.reporting.leaderboard import failed_markdown

    assert failed_markdown({}) == ""
    text = failed_markdown({"mlp": {"error": "FloatingPointError: nan", "run_id": "abc"}})
    assert "Failed to train" in text and "**mlp**: FloatingPointError: nan (MLflow run abc)" in text


def record(scores: list[float], held_out: str = "f") -> dict:
    return {
        "status": "done",
        "method": "cv",
        "ratio": 0.25,
        "resamples": [{"accuracy": a, "held_out": f"{held_out}{i}"} for i, a in enumerate(scores)],
    }


RECORDS = {
    "logreg": record([0.90, 0.91, 0.89, 0.92, 0.90]),  # interpretable, a shade behind
    "forest": record([0.91, 0.92, 0.90, 0.93, 0.91]),
    "mlp": record([0.80, 0.82, 0.79, 0.81, 0.80]),
}


def board_rows() -> list[dict]:
    rows = [
        {"model": "mlp", "family": "deep", "accuracy": 0.95, "latency_p95_ms": 50.0},
        {
            "model": "logreg",
            "family": "classical",
            "accuracy": 0.90,
            "latency_p95_ms": 2.0,
            "interpretable": True,
        },
        {"model": "forest", "family": "classical", "accuracy": 0.91, "latency_p95_ms": 40.0},
    ]
    for row in rows:
        row["cv"] = resampled_intervals(RECORDS[row["model"]], ["accuracy"], 0.95)
    return rows


def test_ranking_follows_the_resampled_mean_not_the_test_split():
    ranked = rank_models(board_rows(), "classification")
    assert [r["model"] for r in ranked] == ["forest", "logreg", "mlp"]  # mlp leads on test only
    summary = summarize(ranked, "classification")
    assert summary["ranked_by"] == "resampled mean"
    assert ranked[0]["cv"]["accuracy"]["low"] < 0.914 < ranked[0]["cv"]["accuracy"]["high"]
    partial = board_rows()
    partial[0]["cv"] = {}  # one model without resamples: everyone is ranked on test
    assert next(r["model"] for r in rank_models(partial, "classification")) == "mlp"


def test_family_verdict_tests_the_family_bests_and_refuses_unpaired_folds():
    ranked = rank_models(board_rows(), "classification")
    summary = summarize(ranked, "classification")
    found = family_verdict(summary, RECORDS, 0.95, rows=500)
    assert (found["classical"], found["deep"]) == ("forest", "mlp")
    assert found["significant"] and found["sentence"].startswith("forest beats mlp by 0.1")
    other_rows = {**RECORDS, "mlp": record([0.8] * 5, held_out="g")}
    with pytest.raises(ValueError, match="resampled on different rows"):
        family_verdict(summary, other_rows, 0.95, rows=500)
    assert family_verdict({**summary, "best_deep": None}, RECORDS, 0.95, rows=500) is None


def test_pareto_front_keeps_models_no_other_beats_on_quality_and_latency():
    ranked = rank_models(board_rows(), "classification")
    # mlp leads on test, but quality is the resampled mean: forest is better and faster
    assert sorted(pareto_front(ranked, "accuracy")) == ["forest", "logreg"]
    # one model without resamples: every model is scored on test, one scale for all
    slow = {"model": "slow", "family": "deep", "accuracy": 0.99, "latency_p95_ms": 100.0}
    mixed = rank_models([*board_rows(), slow], "classification")
    assert sorted(pareto_front(mixed, "accuracy")) == ["forest", "logreg", "mlp", "slow"]
    rmse = [
        {"model": m, "family": "classical", "rmse": e, "latency_p95_ms": t}
        for m, e, t in [("a", 0.5, 1), ("b", 0.4, 2), ("c", 0.6, 3)]
    ]
    assert sorted(pareto_front(rank_models(rmse, "regression"), "rmse")) == ["a", "b"]


def test_recommendation_respects_latency_and_interpretability():
    ranked = rank_models(board_rows(), "classification")
    plain = recommend(ranked, "accuracy", CompareConfig(), RECORDS)
    assert plain["model"] == "forest"
    fast = recommend(ranked, "accuracy", CompareConfig(max_latency_ms=10), RECORDS)
    assert fast["model"] == "logreg" and "forest, mlp too slow" in fast["reasons"][0]
    # logreg trails forest by 0.01 on every fold: a consistent gap, significant
    readable = recommend(ranked, "accuracy", CompareConfig(prefer_interpretable=True), RECORDS)
    assert readable["model"] == "forest" and "significantly worse" in readable["reasons"][-1]
    noisy = {**RECORDS, "logreg": record([0.93, 0.88, 0.92, 0.90, 0.92])}
    readable = recommend(ranked, "accuracy", CompareConfig(prefer_interpretable=True), noisy)
    assert readable["model"] == "logreg" and "not significantly worse" in readable["reasons"][-1]
    none = recommend(ranked, "accuracy", CompareConfig(max_latency_ms=1), RECORDS)
    assert none["model"] is None


def test_intervals_per_metric_are_clipped_to_its_range():
    intervals = resampled_intervals(record([1.0, 0.9, 1.0, 0.95, 1.0]), ["accuracy", "f1"], 0.95)
    assert set(intervals) == {"accuracy"}  # f1 was not recorded
    assert intervals["accuracy"]["high"] == 1.0
    assert intervals["accuracy"]["mean"] == pytest.approx(np.mean([1.0, 0.9, 1.0, 0.95, 1.0]))
