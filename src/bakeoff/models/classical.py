"""Factories for the scikit-learn contestants, named in conf/model/*.yaml as `_target_`.

Each takes the task and the model's hyperparameters and returns an unfitted TabularModel.
This module must not import torch or lightning.
"""

from __future__ import annotations

from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from bakeoff.models import preprocessing
from bakeoff.models.tabular import TabularModel


def _classical(task: str, preprocessor, classifier, regressor) -> TabularModel:
    estimator = classifier() if task == "classification" else regressor()
    return TabularModel(
        family="classical", task=task, preprocessor=preprocessor, estimator=estimator
    )


def dummy(task: str) -> TabularModel:
    """Majority class or mean: the floor every other contestant must clear."""
    return _classical(
        task,
        preprocessing.ordinal(),
        lambda: DummyClassifier(strategy="prior"),
        lambda: DummyRegressor(strategy="mean"),
    )


def linear(task: str, *, C: float = 1.0, max_iter: int = 2000) -> TabularModel:
    """Logistic regression, or ridge regression with alpha = 1 / C."""
    return _classical(
        task,
        preprocessing.scaled_one_hot(),
        lambda: LogisticRegression(C=C, max_iter=max_iter),
        lambda: Ridge(alpha=1.0 / C),
    )


def random_forest(task: str, **hyper) -> TabularModel:
    return _classical(
        task,
        preprocessing.ordinal(),
        lambda: RandomForestClassifier(**hyper),
        lambda: RandomForestRegressor(**hyper),
    )


def hist_gradient_boosting(task: str, **hyper) -> TabularModel:
    return _classical(
        task,
        preprocessing.ordinal(),
        lambda: HistGradientBoostingClassifier(**hyper),
        lambda: HistGradientBoostingRegressor(**hyper),
    )
