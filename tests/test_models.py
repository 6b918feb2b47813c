"""The model contract on tiny mixed-type data, for every classical factory."""

import numpy as np
import pytest

from bakeoff.models import classical

FACTORIES = [
    (classical.dummy, {}),
    (classical.linear, {"C": 1.0}),
    (classical.random_forest, {"n_estimators": 20, "random_state": 0}),
    (classical.hist_gradient_boosting, {"max_iter": 20, "random_state": 0}),
]


@pytest.mark.parametrize(("factory", "hyper"), FACTORIES, ids=lambda f: getattr(f, "__name__", ""))
def test_classification_contract(factory, hyper, mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    model = factory("classification", **hyper).fit(X, y)
    assert model.family == "classical"
    assert list(model.classes_) == ["no", "yes"]
    proba = model.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {"no", "yes"}


@pytest.mark.parametrize(("factory", "hyper"), FACTORIES, ids=lambda f: getattr(f, "__name__", ""))
def test_regression_contract(factory, hyper, regression_frame):
    X, y = regression_frame.drop(columns=["y"]), regression_frame["y"]
    model = factory("regression", **hyper).fit(X, y)
    assert model.predict(X).shape == (80,)
    with pytest.raises(AttributeError):
        model.predict_proba(X)


def test_non_dummy_models_learn(mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    dummy = classical.dummy("classification").fit(X, y)
    linear = classical.linear("classification").fit(X, y)
    assert (linear.predict(X) == y).mean() > (dummy.predict(X) == y).mean() + 0.15


def test_unseen_category_and_all_nan_column_do_not_break_prediction(mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    model = classical.linear("classification").fit(X, y)
    rows = X.head(3).copy()
    rows["colour"] = "ultraviolet"
    assert len(model.predict(rows)) == 3
    # the all-NaN column keeps its slot: the feature count is what the estimator saw
    assert model.preprocessor.transform(X).shape[1] == model.estimator.n_features_in_


def test_missing_column_is_named(mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    model = classical.random_forest("classification", n_estimators=5).fit(X, y)
    with pytest.raises(KeyError, match="x2"):
        model.predict(X.drop(columns=["x2"]))


def test_describe_counts_size(mixed_frame):
    X, y = mixed_frame.drop(columns=["target"]), mixed_frame["target"]
    forest = classical.random_forest("classification", n_estimators=5, random_state=0).fit(X, y)
    assert forest.describe()["tree_nodes"] > 5
    boosted = classical.hist_gradient_boosting("classification", max_iter=5).fit(X, y)
    assert boosted.describe()["tree_nodes"] > 5
    assert classical.linear("classification").fit(X, y).describe()["parameters"] > 3
