import numpy as np
import pandas as pd
import pytest

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.resampling import cv_folds, ratio, resample_scores, reseeded
from bakeoff.params import ResamplingConfig
from conftest import two_feature_splits

LOGREG = {"_target_": "bakeoff.models.classical.linear", "C": 1.0, "max_iter": 200}


@pytest.fixture
def splits() -> FeatureSplits:
    return two_feature_splits(300, noise=0.5)


def test_cv_resamples_are_the_same_rows_for_every_model(splits):
    config = ResamplingConfig(method="cv", folds=3, repeats=2)
    a = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7)
    b = resample_scores({**LOGREG, "C": 0.01}, splits, config, val_share=0.25, seed=7)
    assert len(a) == 6
    assert [r["held_out"] for r in a] == [r["held_out"] for r in b]
    assert len({r["held_out"] for r in a}) == 6  # two repeats draw different folds
    assert all(r["test_rows"] == 80 and r["train_rows"] == 160 and r["fit_rows"] == 120 for r in a)
    assert ratio(config, a) == pytest.approx(0.5)  # 3 folds: n_test / n_train = 1 / 2
    assert np.mean([r["accuracy"] for r in a]) > 0.75


def test_folds_are_stratified_when_the_classes_allow_it():
    y = pd.Series(["a"] * 40 + ["b"] * 10)
    for _, held_out in cv_folds(y, "classification", folds=5, repeats=1, seed=0):
        assert (y.iloc[held_out] == "b").sum() == 2


def test_seeds_refit_the_same_split_and_score_the_test_rows(splits):
    config = ResamplingConfig(method="seeds", repeats=3)
    forest = {
        "_target_": "bakeoff.models.classical.random_forest",
        "n_estimators": 5,
        "random_state": 0,
    }
    scores = resample_scores(forest, splits, config, val_share=0.25, seed=1)
    assert [r["held_out"] for r in scores] == ["test"] * 3 and ratio(config, scores) == 0.0
    assert len({r["log_loss"] for r in scores}) > 1  # the seed changed the forest
    assert reseeded(forest, 5)["random_state"] == 5 and reseeded(LOGREG, 5) == LOGREG


def test_resampling_settings_are_checked():
    with pytest.raises(ValueError, match="cv or seeds"):
        ResamplingConfig(method="bootstrap")
    with pytest.raises(ValueError, match="seeds: an interval"):
        ResamplingConfig(method="seeds", repeats=1)


def test_refits_a_time_budget_stopped_are_recorded_and_counted_in_the_cost_ledger(splits):
    from bakeoff.evaluation.cost import refit_guard
    from bakeoff.evaluation.learning_curve import learning_curve
    from bakeoff.params import LearningCurveConfig

    trainer = {"accelerator": "cpu", "devices": 1, "max_time": 1e-6}  # spent in epoch one
    budgeted = {
        "_target_": "bakeoff.models.deep.mlp",
        "hidden_sizes": [8],
        "max_epochs": 20,
        "random_state": 0,
        "trainer": trainer,
    }
    config = ResamplingConfig(method="cv", folds=3, repeats=1)
    records = resample_scores(budgeted, splits, config, val_share=0.25, seed=7)
    assert all(r["guard"].startswith("stopped by its time budget") for r in records)
    assert (
        refit_guard(records) == f"3 of 3 resample refits guarded (the first: {records[0]['guard']})"
    )
    unbudgeted = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7)
    assert "guard" not in unbudgeted[0] and refit_guard(unbudgeted) is None
    curve = learning_curve(
        budgeted,
        splits,
        LearningCurveConfig(fractions=[0.5, 1.0], repeats=2),
        metric="accuracy",
        seed=0,
        confidence=0.95,
        final_score=0.5,  # the final fit's point: not refitted, so not counted
    )
    assert [p.get("guarded_fits") for p in curve] == [2, 1]


def test_a_class_too_small_for_the_folds_is_never_held_out():
    y = pd.Series(["a"] * 30 + ["b"] * 20 + ["rare"] * 2)
    rare = set(np.flatnonzero(y == "rare"))
    folds = list(cv_folds(y, "classification", folds=5, repeats=1, seed=0))
    assert len(folds) == 5
    for fit, held_out in folds:
        assert rare <= set(fit) and not rare & set(held_out)
        assert (y.iloc[held_out] == "b").sum() == 4  # the others still stratified
    held = np.sort(np.concatenate([h for _, h in folds]))
    assert list(held) == sorted(set(range(len(y))) - rare)  # every other row held out once


def test_folds_without_a_rare_class_are_those_of_stratified_k_fold():
    from sklearn.model_selection import RepeatedStratifiedKFold

    y = pd.Series(["a"] * 30 + ["b"] * 20)
    ours = list(cv_folds(y, "classification", folds=5, repeats=2, seed=3))
    theirs = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=3).split(y, y)
    for (fit, held_out), (fit2, held_out2) in zip(ours, theirs, strict=True):
        assert list(fit) == list(fit2) and list(held_out) == list(held_out2)


def test_a_class_of_one_training_row_is_resampled_by_every_contestant():
    # One row of a class: every fold and every early-stopping split must train on it (held
    # out, or among a network's early-stopping rows, the refit failed).
    base = two_feature_splits(300, noise=0.5)
    train = base.train.copy()
    train.iloc[0, train.columns.get_loc("y")] = "rare"
    splits = FeatureSplits(train, base.val, base.test, task="classification", target="y")
    config = ResamplingConfig(method="cv", folds=5, repeats=1)
    mlp = {
        "_target_": "bakeoff.models.deep.mlp",
        "hidden_sizes": [8],
        "max_epochs": 3,
        "random_state": 0,
        "trainer": {"accelerator": "cpu", "devices": 1},
    }
    for model in (LOGREG, mlp):
        records = resample_scores(model, splits, config, val_share=0.25, seed=7)
        assert len(records) == 5 and all(0 <= r["accuracy"] <= 1 for r in records)
