"""What the learning curves may claim (issue 17): the final fit stands in for a refit only
where it is that refit exactly; a lead, a crossover or a trend is stated only where the
intervals support it; the plots name the interval they draw."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from bakeoff.evaluation.learning_curve import learning_curve, read_trend
from bakeoff.evaluation.metrics import BOUNDS
from bakeoff.evaluation.scoring import validation_scores
from bakeoff.evaluation.stats import mean_interval
from bakeoff.models.fitting import fit_model
from bakeoff.params import LearningCurveConfig
from bakeoff.reporting.plots import comparison_figure, learning_curve_figure
from conftest import two_feature_splits

FOREST = {"_target_": "bakeoff.models.classical.random_forest", "n_estimators": 25}
NETWORK = {
    "_target_": "bakeoff.models.deep.mlp",
    "max_epochs": 3,
    "trainer": {"accelerator": "cpu", "deterministic": True},
}
FAMILIES = {"hgb": "classical", "mlp": "deep"}


@pytest.mark.parametrize("config", [FOREST, NETWORK], ids=["forest", "network"])
def test_the_first_draws_full_size_refit_is_the_final_fit_exactly(config):
    """Forests bootstrap and networks batch by row order: the reuse holds only because the
    full-size point trains on the rows in the final fit's order, with its seed."""
    splits = two_feature_splits(300, noise=0.8)
    config = {**config, "random_state": 7}
    final, _ = fit_model(
        config, task="classification", train=splits.train, val=splits.val, target="y"
    )
    expected = validation_scores(final, splits.test, "y", "classification")["log_loss"]
    curve = learning_curve(
        config,
        splits,
        LearningCurveConfig(fractions=(0.5, 1.0), repeats=1),
        metric="log_loss",
        seed=7,
        confidence=0.95,
    )
    assert curve[-1]["scores"] == [expected]


def points(draws: list[list[float]], rows=(100, 200, 400)) -> list[dict]:
    """Learning-curve points from each size's scores (one per repeat), as learning_curve
    makes them."""
    return [
        {
            "train_rows": r,
            "fraction": r / rows[-1],
            "scores": scores,
            **mean_interval(scores, confidence=0.95, bounds=BOUNDS["accuracy"]),
        }
        for r, scores in zip(rows, draws, strict=True)
    ]


def test_curves_whose_intervals_overlap_everywhere_are_within_noise():
    """Means that cross (0.90 > 0.88, then 0.92 < 0.93) inside wide intervals."""
    curves = {
        "hgb": points([[0.86, 0.94], [0.87, 0.95], [0.88, 0.96]]),
        "mlp": points([[0.84, 0.92], [0.88, 0.96], [0.89, 0.97]]),
    }
    trend = read_trend(curves, FAMILIES, "accuracy", confidence=0.95)
    assert trend["crossovers"] == [] and trend["leader"] is None
    assert trend["statement"].startswith("The two curves are within noise of each other")
    assert "95% intervals overlap from 100 to 400 training rows" in trend["statement"]
    assert "overtakes" not in trend["statement"] and "catch up" not in trend["statement"]


def test_a_lead_whose_gain_is_noise_is_not_extrapolated():
    """mlp gains 0.073 a doubling on average against hgb's 0.053, but its repeats disagree
    (+0.18, -0.06, +0.10): no catch-up is forecast."""
    curves = {
        "hgb": points([[0.80, 0.80, 0.80], [0.85, 0.85, 0.85], [0.90, 0.90, 0.91]]),
        "mlp": points([[0.60, 0.60, 0.60], [0.60, 0.80, 0.70], [0.78, 0.74, 0.80]]),
    }
    trend = read_trend(curves, FAMILIES, "accuracy", confidence=0.95)
    assert trend["leader"] == "hgb" and trend["doublings_to_close"] is None
    assert "classical hgb leads by 0.1300 accuracy" in trend["statement"]
    assert "catch up" not in trend["statement"]
    assert "includes zero: within noise" in trend["statement"]


def test_a_crossover_with_the_intervals_apart_on_both_sides_is_stated():
    curves = {
        "hgb": points([[0.90, 0.91, 0.905], [0.91, 0.92, 0.915], [0.92, 0.92, 0.921]]),
        "mlp": points([[0.80, 0.81, 0.805], [0.90, 0.92, 0.91], [0.95, 0.96, 0.955]]),
    }
    trend = read_trend(curves, FAMILIES, "accuracy", confidence=0.95)
    assert trend["crossovers"] == [
        {"between_rows": [100, 400], "leader_before": "hgb", "leader_after": "mlp"}
    ]  # at 200 rows the two overlap: the crossing lies somewhere in between
    assert "between 100 and 400 rows mlp overtakes hgb" in trend["statement"]


def test_a_lead_at_full_size_needs_the_paired_test_too():
    """At 100 % every repeat trains on the same rows: two deterministic models have
    zero-width intervals there, apart by any gap. The rotten_tomatoes run stated "tfidf_svm
    leads" and a crossing through that point while the verdict's paired test on the same
    two models found no significant difference (p = 0.11)."""
    curves = {
        "hgb": points([[0.70, 0.69, 0.71], [0.72, 0.72, 0.721], [0.782, 0.782, 0.782]]),
        "mlp": points([[0.71, 0.70, 0.72], [0.74, 0.741, 0.74], [0.758, 0.758, 0.758]]),
    }
    alone = read_trend(curves, FAMILIES, "accuracy", confidence=0.95)
    assert "hgb leads by 0.0240" in alone["statement"] and alone["crossovers"]
    tie = {"significant": False, "p_value": 0.11}
    trend = read_trend(curves, FAMILIES, "accuracy", confidence=0.95, full_size=tie)
    assert trend["leader"] is None and trend["crossovers"] == []
    assert (
        "paired test over the resamples finds no significant difference, p = 0.11"
        in (trend["statement"])
    )
    assert "leads" not in trend["statement"] and "overtakes" not in trend["statement"]
    won = read_trend(curves, FAMILIES, "accuracy", 0.95, full_size={"significant": True})
    assert won["leader"] == "hgb" and "hgb leads by 0.0240" in won["statement"]


def legend_texts(figure) -> list[str]:
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    plt.close(figure)
    return texts


def test_the_plots_name_the_configured_interval():
    cv = {"accuracy": {"mean": 0.9, "low": 0.85, "high": 0.95}}
    rows = [{"model": "logreg", "family": "classical", "accuracy": 0.91, "cv": cv}]
    assert "resampled mean, 90% interval" in legend_texts(comparison_figure(rows, "accuracy", 0.9))
    curves = {"hgb": points([[0.8, 0.82], [0.85, 0.86], [0.9, 0.9]])}
    texts = legend_texts(learning_curve_figure(curves, FAMILIES, "accuracy", [], 0.9))
    assert "hgb: 90% interval" in texts and not any("95%" in t for t in texts)
