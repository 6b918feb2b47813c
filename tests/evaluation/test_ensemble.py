"""The ensemble contestant on small made-up predictions: the weight is fitted on validation
rows only, the average predicts and serves like any contestant, and its resampled scores
pair with the members'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bakeoff.evaluation.ensemble import blend, fit_weights, resampled_scores
from bakeoff.models import classical
from bakeoff.models.ensemble import WeightedAverage


def proba_frame(p_yes: np.ndarray, index=None) -> pd.DataFrame:
    frame = pd.DataFrame({"proba_no": 1 - p_yes, "proba_yes": p_yes}, index=index)
    frame.insert(0, "prediction", np.where(p_yes > 0.5, "yes", "no"))
    return frame


def test_the_weight_goes_to_the_member_that_is_right_on_validation():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(["no", "yes"], size=400))
    truth = (y == "yes").to_numpy(float)
    sharp = proba_frame(np.clip(truth * 0.9 + 0.05 + rng.normal(0, 0.02, 400), 0.01, 0.99))
    noise = proba_frame(rng.uniform(0.2, 0.8, 400))
    weights = fit_weights({"good": sharp, "bad": noise}, y, "classification")
    assert weights["good"] > 0.8 and abs(sum(weights.values()) - 1) < 1e-12
    # two equally good, independent members: the average beats either, near an even split
    other = proba_frame(np.clip(truth * 0.6 + 0.2 + rng.normal(0, 0.25, 400), 0.01, 0.99))
    twin = proba_frame(np.clip(truth * 0.6 + 0.2 + rng.normal(0, 0.25, 400), 0.01, 0.99))
    weights = fit_weights({"a": other, "b": twin}, y, "classification")
    assert 0.3 <= weights["a"] <= 0.7


def test_blend_averages_probabilities_and_regression_values():
    a, b = proba_frame(np.array([0.9, 0.2])), proba_frame(np.array([0.3, 0.4]))
    out = blend({"a": a, "b": b}, {"a": 0.25, "b": 0.75}, "classification")
    np.testing.assert_allclose(out["proba_yes"], [0.45, 0.35])
    assert list(out["prediction"]) == ["no", "no"]
    r = blend(
        {
            "a": pd.DataFrame({"prediction": [1.0, 3.0]}),
            "b": pd.DataFrame({"prediction": [3.0, 5.0]}),
        },
        {"a": 0.5, "b": 0.5},
        "regression",
    )
    np.testing.assert_allclose(r["prediction"], [2.0, 4.0])


def test_resampled_scores_fit_each_weight_on_the_early_stopping_rows_alone():
    """The held-out rows are misleading on purpose (member `a` is right there, `b` on the
    validation rows): a weight fitted on held-out rows would favour `a`."""
    rows = []
    for resample in range(2):
        for part, good in (("val", "b"), ("held_out", "a")):
            y = np.array(["no", "yes"] * 20)
            right = np.where(y == "yes", 0.9, 0.1)
            for name in ("a", "b"):
                p = right if name == good else 1 - right
                frame = proba_frame(p).assign(y_true=y, resample=resample, part=part)
                rows.append((name, frame.rename_axis("row").reset_index()))
    predictions = {
        name: pd.concat([f for n, f in rows if n == name], ignore_index=True) for name in "ab"
    }
    size = {"train_rows": 80, "fit_rows": 60, "test_rows": 40}
    records = {
        name: {"resamples": [{"resample": i, **size, "held_out": f"h{i}"} for i in range(2)]}
        for name in "ab"
    }
    results = resampled_scores(predictions, records, "classification")
    assert [r["held_out"] for r in results] == ["h0", "h1"]
    assert all(r["weights"]["b"] == 1.0 for r in results)
    assert all(r["accuracy"] == 0.0 for r in results)  # b is wrong on the held-out rows


def test_members_that_saw_different_rows_are_refused():
    frame = proba_frame(np.array([0.9, 0.1])).assign(y_true=["yes", "no"], resample=0, part="val")
    a = pd.concat([frame, frame.assign(part="held_out")]).rename_axis("row").reset_index()
    b = a.copy()
    b.loc[b["part"] == "val", "row"] = [5, 6]
    records = {
        n: {
            "resamples": [
                {"resample": 0, "train_rows": 2, "fit_rows": 1, "test_rows": 2, "held_out": "h"}
            ]
        }
        for n in "ab"
    }
    with pytest.raises(ValueError, match="saw different val rows"):
        resampled_scores({"a": a, "b": b}, records, "classification")


def test_the_average_predicts_like_a_contestant_and_describes_its_members(mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    linear = classical.linear("classification").fit(X, y)
    forest = classical.random_forest("classification", n_estimators=10, random_state=0).fit(X, y)
    model = WeightedAverage(
        task="classification",
        members={"linear": linear, "forest": forest},
        weights={"linear": 0.3, "forest": 0.7},
    )
    expected = 0.3 * linear.predict_proba(X) + 0.7 * forest.predict_proba(X)
    np.testing.assert_allclose(model.predict_proba(X), expected)
    assert list(model.predict(X)) == list(model.classes_[expected.argmax(axis=1)])
    info = model.describe()
    assert info["members"]["forest"]["weight"] == 0.7 and info["tree_nodes"] > 10
    assert model.family == "ensemble"
    with pytest.raises(ValueError, match="must sum to 1"):
        WeightedAverage(task="classification", members={"a": linear}, weights={"a": 0.5})
