"""The verdict's significance logic on synthetic score sets whose answer is known."""

import numpy as np
import pytest

from bakeoff.evaluation.stats import mean_interval, paired_test, verdict_sentence

RATIO = 1 / 4  # 5-fold cross-validation: each held-out fold is a quarter of its training part


def folds(mean: float, noise: float, seed: int, n: int = 5) -> np.ndarray:
    return mean + np.random.default_rng(seed).normal(0, noise, n)


def test_clear_win_is_significant_and_named_first():
    shared = folds(0.0, 0.02, seed=1)  # fold difficulty, common to both models: pairing removes it
    classical, deep = 0.90 + shared, 0.80 + shared + folds(0.0, 0.003, seed=2)
    test = paired_test(classical, deep, higher_is_better=True, ratio=RATIO)
    assert test["significant"] and test["p_value"] < 0.001
    assert test["low"] > 0 and test["delta"] == pytest.approx(0.1, abs=0.01)
    sentence = verdict_sentence("hist_gradient_boosting", "mlp", test, "accuracy")
    assert sentence.startswith("hist_gradient_boosting beats mlp by 0.1")
    assert "95% CI [0.0" in sentence


def test_clear_loss_names_the_deep_model_as_winner_with_a_positive_interval():
    classical, deep = folds(0.80, 0.005, seed=3), folds(0.90, 0.005, seed=4)
    test = paired_test(classical, deep, higher_is_better=True, ratio=RATIO)
    assert test["significant"] and test["high"] < 0
    sentence = verdict_sentence("logreg", "cnn", test, "accuracy")
    assert sentence.startswith("cnn beats logreg by 0.")
    low, high = (float(x) for x in sentence.split("CI [")[1].split("]")[0].split(", "))
    assert 0 < low < 0.1 < high  # the interval of the winner's advantage, positive


def test_tie_is_no_significant_difference():
    classical, deep = folds(0.85, 0.03, seed=5), folds(0.85, 0.03, seed=6)
    test = paired_test(classical, deep, higher_is_better=True, ratio=RATIO)
    assert not test["significant"] and test["low"] < 0 < test["high"]
    sentence = verdict_sentence("svm", "mlp", test, "accuracy", rows=569)
    assert sentence.startswith("No significant difference at this data size (569 rows)")


def test_lower_is_better_metrics_flip_the_sign():
    classical, deep = folds(0.45, 0.002, seed=7), folds(0.50, 0.002, seed=8)  # RMSE
    test = paired_test(classical, deep, higher_is_better=False, ratio=RATIO)
    assert test["significant"] and test["delta"] == pytest.approx(0.05, abs=0.005)
    assert verdict_sentence("hgb", "mlp", test, "rmse").startswith("hgb beats mlp by 0.04")


def test_correction_widens_the_interval_over_the_naive_t_test():
    a, b = folds(0.86, 0.02, seed=9), folds(0.85, 0.02, seed=10)
    naive = paired_test(a, b, higher_is_better=True, ratio=0.0)
    corrected = paired_test(a, b, higher_is_better=True, ratio=RATIO)
    assert corrected["high"] - corrected["low"] > naive["high"] - naive["low"]
    assert corrected["p_value"] > naive["p_value"]


def test_identical_scores_are_a_tie_and_constant_gaps_a_win():
    same = [0.9, 0.8, 0.85]
    assert not paired_test(same, same, higher_is_better=True)["significant"]
    shifted = paired_test([s + 0.01 for s in same], same, higher_is_better=True)
    assert shifted["significant"] and shifted["p_value"] == 0.0


def test_paired_test_refuses_unpaired_or_single_scores():
    with pytest.raises(ValueError, match="two equal runs"):
        paired_test([0.1, 0.2], [0.1, 0.2, 0.3], higher_is_better=True)
    with pytest.raises(ValueError, match="two equal runs"):
        paired_test([0.1], [0.2], higher_is_better=True)


def test_mean_interval_covers_the_true_mean_about_as_often_as_promised():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        interval = mean_interval(rng.normal(0.7, 0.05, 5), confidence=0.9)
        hits += interval["low"] <= 0.7 <= interval["high"]
    assert 0.85 <= hits / 400 <= 0.95


def test_mean_interval_is_clipped_to_the_metric_range_and_degenerate_for_one_score():
    wide = mean_interval([0.99, 0.9, 1.0], bounds=(0.0, 1.0))
    assert wide["high"] == 1.0 and wide["low"] < 0.99
    assert mean_interval([0.5]) == {"mean": 0.5, "low": 0.5, "high": 0.5, "std": 0.0, "n": 1}
