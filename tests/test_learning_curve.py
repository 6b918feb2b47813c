import numpy as np
import pandas as pd
import pytest

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation import parallel
from bakeoff.evaluation.learning_curve import curve_table, learning_curve, nested_order, read_trend
from bakeoff.params import LearningCurveConfig
from conftest import two_feature_splits


def test_nested_order_prefixes_keep_class_shares():
    y = pd.Series(["a"] * 90 + ["b"] * 10)
    order = nested_order(y, "classification", seed=0)
    assert sorted(order) == list(range(100))
    for n in (10, 20, 50):
        minority = (y.iloc[order[:n]] == "b").sum()
        assert abs(minority - n / 10) <= 1  # its share, up to one row
    assert not np.array_equal(order, nested_order(y, "classification", seed=1))


def points(means, rows=(100, 200, 400, 800)):
    return [
        {"train_rows": r, "fraction": r / 800, "mean": m, "low": m, "high": m}
        for r, m in zip(rows, means, strict=True)
    ]


def test_trend_marks_a_crossover_and_says_whether_more_data_could_change_the_lead():
    curves = {"hgb": points([0.80, 0.84, 0.86, 0.87]), "mlp": points([0.70, 0.80, 0.87, 0.90])}
    trend = read_trend(curves, {"hgb": "classical", "mlp": "deep"}, "accuracy")
    assert trend["crossovers"] == [
        {"between_rows": [200, 400], "leader_before": "hgb", "leader_after": "mlp"}
    ]
    assert trend["leader"] == "mlp"
    assert "mlp overtakes hgb" in trend["statement"] and "hint" in trend["statement"]


def test_trend_extrapolates_when_the_trailing_family_gains_faster():
    curves = {"hgb": points([0.80, 0.85, 0.87, 0.88]), "mlp": points([0.60, 0.70, 0.78, 0.84])}
    trend = read_trend(curves, {"hgb": "classical", "mlp": "deep"}, "accuracy")
    assert trend["crossovers"] == [] and trend["leader"] == "hgb"
    # gap 0.04 closing by 0.06 - 0.01 = 0.05 per doubling: 0.8 doublings
    assert trend["doublings_to_close"] == pytest.approx(0.8)
    assert "more data could change the verdict" in trend["statement"]


def test_trend_on_lower_is_better_metric_and_a_leader_that_keeps_gaining():
    curves = {"hgb": points([0.60, 0.52, 0.48, 0.45]), "mlp": points([0.70, 0.62, 0.58, 0.57])}
    trend = read_trend(curves, {"hgb": "classical", "mlp": "deep"}, "rmse")
    assert trend["leader"] == "hgb" and trend["doublings_to_close"] is None
    assert "unlikely to change who leads" in trend["statement"]
    table = curve_table(curves, {"hgb": "classical", "mlp": "deep"})
    assert list(table.columns[:3]) == ["fraction", "train_rows", "classical"]
    assert table["deep"].tolist() == [0.70, 0.62, 0.58, 0.57]


LOGREG = {"_target_": "bakeoff.models.classical.linear", "C": 1.0, "max_iter": 200}


@pytest.fixture
def splits() -> FeatureSplits:
    return two_feature_splits(400, noise=0.3)


def test_learning_curve_fits_nested_fractions_and_scores_the_same_test_rows(splits):
    curve = learning_curve(
        LOGREG,
        splits,
        LearningCurveConfig(fractions=[0.1, 1.0], repeats=2),
        metric="accuracy",
        seed=0,
        confidence=0.95,
    )
    assert [p["train_rows"] for p in curve] == [24, 240]
    assert all(len(p["scores"]) == 2 for p in curve)
    assert curve[1]["mean"] > 0.8 and curve[1]["low"] <= curve[1]["mean"] <= curve[1]["high"]


def test_the_final_fit_is_the_first_full_size_point_and_the_rest_run_in_parallel(
    splits, monkeypatch
):
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.0)  # workers even for tiny fits
    config = LearningCurveConfig(fractions=[0.1, 0.5, 1.0], repeats=2)
    kwargs = dict(metric="accuracy", seed=0, confidence=0.95)
    fitted = learning_curve(LOGREG, splits, config, **kwargs)
    reused = learning_curve(LOGREG, splits, config, final_score=0.5, n_jobs=2, **kwargs)
    # The final model's score stands in for the first draw on all rows; nothing else moves.
    assert reused[2]["scores"] == [0.5, fitted[2]["scores"][1]]
    assert [p["scores"] for p in reused[:2]] == [p["scores"] for p in fitted[:2]]
    # With the same seed and all the rows, a refit would have scored what the final fit did.
    final = learning_curve(LOGREG, splits, config, final_score=fitted[2]["scores"][0], **kwargs)
    assert final == fitted


def test_fractions_must_lie_in_zero_one():
    with pytest.raises(ValueError, match="fractions must lie in"):
        LearningCurveConfig(fractions=[0.5, 1.5])
    assert LearningCurveConfig(fractions=[1.0, 0.25, 0.25]).fractions == (0.25, 1.0)


def test_a_catch_up_beyond_ten_doublings_is_not_extrapolated():
    curves = {"hgb": points([0.80, 0.85, 0.87, 0.88]), "mlp": points([0.60, 0.70, 0.79, 0.80001])}
    trend = read_trend(curves, {"hgb": "classical", "mlp": "deep"}, "accuracy")
    assert trend["doublings_to_close"] > 10
    assert "more than 10 doublings" in trend["statement"] and "unlikely" in trend["statement"]


def test_every_prefix_as_long_as_the_classes_holds_every_class():
    y = pd.Series(["a"] * 60 + ["b"] * 30 + ["rare"])
    for seed in range(20):
        order = nested_order(y, "classification", seed=seed)
        assert sorted(order) == list(range(91))
        assert set(y.iloc[order[:3]]) == {"a", "b", "rare"}
