"""The promotion rule, the paired bootstrap behind it and batch prediction's input checks,
on small made-up inputs where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from bakeoff.cli.predict import check_rows, model_uri
from bakeoff.evaluation.promotion import choose_challenger, decide, metric_of, paired_bootstrap
from bakeoff.models import classical
from bakeoff.params import PromoteConfig
from bakeoff.tracking.serving import ServedModel


def outcomes(rng, n, accuracy):
    return (rng.random(n) < accuracy).astype(float)


def test_bootstrap_interval_separates_a_clear_win_a_clear_loss_and_a_tie():
    rng = np.random.default_rng(0)
    champion = outcomes(rng, 2000, 0.80)
    better = np.where(rng.random(2000) < 0.5, 1.0, champion)  # fixes half the errors: ~0.90
    worse = np.where(rng.random(2000) < 0.5, 0.0, champion)  # breaks half the hits: ~0.40
    same = champion.copy()
    kwargs = {"resamples": 500, "confidence": 0.95, "seed": 1}
    low, high = paired_bootstrap("classification", better, champion, **kwargs)
    assert 0 < low < 0.1 < high < 0.13
    low, high = paired_bootstrap("classification", worse, champion, **kwargs)
    assert high < 0
    low, high = paired_bootstrap("classification", same, champion, **kwargs)
    assert low == high == 0
    # Regression: squared errors, lower RMSE is better, so halving the errors is a gain.
    errors = rng.normal(size=1000) ** 2
    low, _ = paired_bootstrap("regression", errors / 4, errors, **kwargs)
    assert low > 0
    assert metric_of("regression", np.array([4.0, 4.0])) == 2.0


@pytest.mark.parametrize(
    ("improvement", "interval", "config", "promoted", "reason"),
    [
        (0.02, (0.01, 0.03), PromoteConfig(margin=0.01), True, "> margin 0.01"),
        # inside the margin
        (0.005, (0.001, 0.01), PromoteConfig(margin=0.01), False, "not above promote.margin"),
        (0.0, (0.0, 0.0), PromoteConfig(), False, "+0.0000 is not above"),  # equal is not better
        (-0.02, (-0.03, -0.01), PromoteConfig(), False, "-0.0200 is not above"),  # worse
        (0.02, (-0.01, 0.05), PromoteConfig(require_significant=True), False, "includes zero"),
        (0.02, (-0.01, 0.05), PromoteConfig(require_significant=False), True, "> margin 0.0"),
    ],
)
def test_decision_follows_margin_and_significance(improvement, interval, config, promoted, reason):
    decision, reasons = decide(improvement=improvement, interval=interval, config=config, broken=[])
    assert decision is promoted
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_constraints_pick_the_best_model_that_meets_them_or_block_promotion():
    board = {
        "models": {
            "slow": {"rank": 1, "latency_p95_ms": 90.0},
            "fast": {"rank": 2, "latency_p95_ms": 5.0},
        }
    }
    assert choose_challenger(board, PromoteConfig()) == ("slow", [])
    assert choose_challenger(board, PromoteConfig(max_latency_ms=10)) == ("fast", [])
    chosen, broken = choose_challenger(board, PromoteConfig(max_latency_ms=1))
    assert chosen == "slow" and "max_latency_ms" in broken[0]
    decision, reasons = decide(
        improvement=0.1, interval=(0.05, 0.2), config=PromoteConfig(), broken=broken
    )
    assert not decision and reasons == broken


def test_model_argument_is_an_alias_a_version_or_a_uri():
    assert model_uri("champion", "ds") == "models:/ds@champion"
    assert model_uri("3", "ds") == "models:/ds/3"
    assert model_uri("runs:/abc/model", "ds") == "runs:/abc/model"


def test_input_checks_name_missing_columns_bad_values_and_unseen_categories(mixed_frame):
    X, y = mixed_frame.drop(columns=["target", "empty"]), mixed_frame["target"]
    served = ServedModel(
        model=classical.linear("classification").fit(X, y), steps=[], target="target"
    )
    rows = X.drop(columns=["x2"]).assign(colour="purple")
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[rows.index[:2], "x1"] = "n/a"
    problems = check_rows(rows, served, ["x1", "x2", "colour"], "new.csv")
    found = {(p.rule, p.column, p.severity) for p in problems}
    assert found == {
        ("missing_column", "x2", "error"),
        ("not_numeric", "x1", "error"),
        ("unseen_category", "colour", "warning"),
    }
    assert all(p.file == "new.csv" for p in problems)
    assert check_rows(X, served, ["x1", "x2", "colour"], "ok.csv") == []
