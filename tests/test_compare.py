from bakeoff.compare import leaderboard_markdown, rank_models, summarize

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


def test_markdown_lists_every_model():
    ranked = rank_models(ROWS, "classification")
    text = leaderboard_markdown(ranked, summarize(ranked, "classification"))
    assert "forest leads mlp by 0.0200 accuracy" in text
    assert text.count("\n| ") == 4  # header + 3 rows


def test_failed_models_are_listed_with_their_reason():
    from bakeoff.compare import failed_markdown

    assert failed_markdown({}) == ""
    text = failed_markdown({"mlp": {"error": "FloatingPointError: nan", "run_id": "abc"}})
    assert "Failed to train" in text and "**mlp**: FloatingPointError: nan (MLflow run abc)" in text
