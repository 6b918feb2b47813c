"""Factories for the scikit-learn contestants, named in conf/model/*.yaml as `_target_`.

Each takes the task and the model's hyperparameters and returns an unfitted TabularModel.
Text columns reach these models as `text_components` TF-IDF SVD components each (default
100; `+models.<name>.text_components=N`); the TF-IDF linear models are in `models.text`.
This module must not import torch or lightning.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, SVR

from bakeoff.models import preprocessing
from bakeoff.models.tabular import TabularModel, task_tags

log = logging.getLogger(__name__)


def _classical(task: str, preprocessor, classifier, regressor) -> TabularModel:
    estimator = classifier() if task == "classification" else regressor()
    return TabularModel(
        family="classical", task=task, preprocessor=preprocessor, estimator=estimator
    )


TEXT_COMPONENTS = 100


def _text_settings(hyper: dict) -> dict:
    """The text reduction's settings, taken out of an estimator's hyperparameters."""
    return {
        "text_components": hyper.pop("text_components", TEXT_COMPONENTS),
        "random_state": hyper.get("random_state", 0),
    }


def dummy(task: str) -> TabularModel:
    """Majority class or mean: the floor every other contestant must clear."""
    # It ignores its inputs: text columns are dropped rather than reduced for nothing.
    return _classical(
        task,
        preprocessing.ordinal(text_components=None),
        lambda: DummyClassifier(strategy="prior"),
        lambda: DummyRegressor(strategy="mean"),
    )


def linear(
    task: str, *, C: float = 1.0, max_iter: int = 2000, text_components: int = TEXT_COMPONENTS
) -> TabularModel:
    """Logistic regression, or ridge regression with alpha = 1 / C."""
    return _classical(
        task,
        preprocessing.scaled_one_hot(text_components=text_components),
        lambda: LogisticRegression(C=C, max_iter=max_iter),
        lambda: Ridge(alpha=1.0 / C),
    )


def random_forest(task: str, **hyper) -> TabularModel:
    text = _text_settings(hyper)
    return _classical(
        task,
        preprocessing.ordinal(**text),
        lambda: RandomForestClassifier(**hyper),
        lambda: RandomForestRegressor(**hyper),
    )


def hist_gradient_boosting(task: str, **hyper) -> TabularModel:
    text = _text_settings(hyper)
    return _classical(
        task,
        preprocessing.ordinal(**text),
        lambda: HistGradientBoostingClassifier(**hyper),
        lambda: HistGradientBoostingRegressor(**hyper),
    )


def extra_trees(task: str, **hyper) -> TabularModel:
    text = _text_settings(hyper)
    return _classical(
        task,
        preprocessing.ordinal(**text),
        lambda: ExtraTreesClassifier(**hyper),
        lambda: ExtraTreesRegressor(**hyper),
    )


def knn(task: str, *, n_neighbors: int = 15, weights: str = "distance", **hyper) -> TabularModel:
    """k nearest neighbours on standardised, one-hot inputs."""
    text = _text_settings(hyper)
    return _classical(
        task,
        preprocessing.scaled_one_hot(**text),
        lambda: KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, **hyper),
        lambda: KNeighborsRegressor(n_neighbors=n_neighbors, weights=weights, **hyper),
    )


class RBFSupportVectors(BaseEstimator):
    """An RBF support-vector machine that stays affordable on large tables.

    Up to `max_exact_rows` training rows: the exact kernel SVM (SVC with Platt-scaled
    probabilities from cross-validation, or SVR), whose cost grows with rows squared to cubed. Above: the same RBF
    kernel approximated by `n_components` Nystroem features and a linear model on them
    (logistic regression for classes, ridge for numbers). `approximate_` says which was fit.
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        C: float = 1.0,
        gamma: float | str = "scale",
        max_exact_rows: int = 5000,
        n_components: int = 1000,
        random_state: int = 0,
    ):
        self.task = task
        self.C = C
        self.gamma = gamma
        self.max_exact_rows = max_exact_rows
        self.n_components = n_components
        self.random_state = random_state

    def _gamma(self, X: np.ndarray) -> float:
        if self.gamma == "scale":  # as scikit-learn's SVC defines it
            variance = X.var()
            return 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
        return float(self.gamma)

    def fit(self, X, y) -> RBFSupportVectors:
        X = np.asarray(X, dtype=float)
        classify = self.task == "classification"
        self.approximate_ = len(X) > self.max_exact_rows
        self.train_rows_ = len(X)
        if not self.approximate_:
            # Platt scaling, as scikit-learn now spells SVC(probability=True).
            model = (
                CalibratedClassifierCV(
                    SVC(C=self.C, gamma=self.gamma), method="sigmoid", ensemble=False
                )
                if classify
                else SVR(C=self.C, gamma=self.gamma)
            )
        else:
            features = Nystroem(
                gamma=self._gamma(X),
                n_components=min(self.n_components, len(X)),
                random_state=self.random_state,
            )
            linear = LogisticRegression(C=self.C, max_iter=2000) if classify else Ridge(1 / self.C)
            model = make_pipeline(features, clone(linear))
            log.info(
                "svm: %d training rows > max_exact_rows=%d, so the RBF kernel is approximated "
                "(Nystroem, %d components)",
                len(X),
                self.max_exact_rows,
                self.n_components,
            )
        self.model_ = model.fit(X, y)
        if classify:
            self.classes_ = self.model_.classes_
        return self

    def guard(self) -> str | None:
        """The approximation, in words, when the fit used it (the leaderboard shows it)."""
        if not self.approximate_:
            return None
        return (
            f"RBF kernel approximated (Nystroem, {min(self.n_components, self.train_rows_)} "
            f"components): {self.train_rows_:,} training rows > max_exact_rows "
            f"{self.max_exact_rows:,}"
        )

    def predict(self, X) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=float))

    def __sklearn_tags__(self):
        return task_tags(super().__sklearn_tags__(), self.task)


def svm(task: str, **hyper) -> TabularModel:
    """RBF support-vector machine on standardised, one-hot inputs (guarded for large data)."""
    text = _text_settings(hyper)
    return TabularModel(
        family="classical",
        task=task,
        preprocessor=preprocessing.scaled_one_hot(**text),
        estimator=RBFSupportVectors(task=task, **hyper),
    )
