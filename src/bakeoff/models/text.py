"""The classical text contestants: TF-IDF n-grams of each text column, fitted on the training
split, feeding a linear model. Named in conf/model/tfidf_*.yaml. scikit-learn only: this
module must not import torch, lightning or transformers.

Other columns of the table join the n-grams: numbers imputed and standardised, categories
one-hot. The matrix stays sparse (a few hundred thousand n-gram columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from bakeoff.models import preprocessing
from bakeoff.models.tabular import TabularModel
from bakeoff.models.text_features import TfidfText


def _tfidf_columns(
    word_ngrams, char_ngrams, min_df, sublinear_tf, max_features
) -> preprocessing.ColumnsByKind:
    text = TfidfText(
        word_ngrams=tuple(word_ngrams),
        char_ngrams=None if char_ngrams is None else tuple(char_ngrams),
        min_df=min_df,
        sublinear_tf=sublinear_tf,
        max_features=max_features,
    )
    return preprocessing.by_kind(
        make_pipeline(preprocessing._numeric_imputer(), StandardScaler()),
        make_pipeline(preprocessing._categorical_imputer(), preprocessing._one_hot()),
        text,
        sparse=True,
    )


def tfidf_logreg(
    task: str,
    *,
    C: float = 4.0,
    max_iter: int = 2000,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] | None = (2, 5),
    min_df: int | float = 2,
    sublinear_tf: bool = True,
    max_features: int | None = None,
) -> TabularModel:
    """TF-IDF word and character n-grams, then logistic regression (ridge, alpha = 1 / C,
    for regression)."""
    estimator = (
        LogisticRegression(C=C, max_iter=max_iter)
        if task == "classification"
        else Ridge(alpha=1.0 / C)
    )
    return TabularModel(
        family="classical",
        task=task,
        preprocessor=_tfidf_columns(word_ngrams, char_ngrams, min_df, sublinear_tf, max_features),
        estimator=estimator,
    )


def tfidf_svm(
    task: str,
    *,
    C: float = 0.5,
    max_iter: int = 5000,
    calibration_folds: int = 3,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] | None = (2, 5),
    min_df: int | float = 2,
    sublinear_tf: bool = True,
    max_features: int | None = None,
    random_state: int = 0,
) -> TabularModel:
    """TF-IDF word and character n-grams, then a linear support-vector machine.

    Classification: LinearSVC (hinge loss, the classic strong text baseline) with
    Platt-scaled probabilities from `calibration_folds`-fold cross-validation, then refitted
    on every row (`ensemble=False`): the comparison scores log loss and ROC-AUC, which need
    probabilities, and an SGD log-loss model would be logistic regression again.
    Regression: LinearSVR (epsilon-insensitive loss).
    """
    if task == "classification":
        estimator = CalibratedClassifierCV(
            LinearSVC(C=C, max_iter=max_iter, random_state=random_state),
            method="sigmoid",
            cv=calibration_folds,
            ensemble=False,
        )
    else:
        estimator = LinearSVR(C=C, max_iter=max_iter, random_state=random_state)
    return TabularModel(
        family="classical",
        task=task,
        preprocessor=_tfidf_columns(word_ngrams, char_ngrams, min_df, sublinear_tf, max_features),
        estimator=estimator,
    )


def _linear_weights(estimator) -> np.ndarray | None:
    """(n_outputs, n_features) weights of a fitted linear estimator, or None. A calibrated
    SVM (`ensemble=False`) holds one classifier refitted on every row: its weights."""
    if isinstance(estimator, CalibratedClassifierCV):
        estimator = estimator.calibrated_classifiers_[0].estimator
    coef = getattr(estimator, "coef_", None)
    return None if coef is None else np.atleast_2d(np.asarray(coef, dtype=float))


def top_ngrams(model: TabularModel, k: int = 10) -> list[dict[str, Any]] | None:
    """The word n-grams of each text column whose weights push a fitted TF-IDF linear model
    hardest towards each answer, `k` per answer; None for any other model.

    Binary classification: positive weights push towards `classes_[1]`, negative ones
    towards `classes_[0]`; several classes: each class's own weights; regression: "higher"
    and "lower". Weights compare within a column's word block only (each block is
    L2-normalised), so character n-grams and other columns are left out.
    """
    text_parts = getattr(model.preprocessor, "text_transformers", None)
    weights = _linear_weights(model.estimator)
    if text_parts is None or weights is None:
        return None
    if model.task == "classification":
        classes = [str(c) for c in model.classes_]
        if weights.shape[0] == 1:  # binary: one row of weights, towards classes_[1]
            directions = [(classes[0], -weights[0]), (classes[1], weights[0])]
        else:
            directions = list(zip(classes, weights, strict=True))
    else:
        directions = [("higher", weights[0]), ("lower", -weights[0])]
    found = []
    for column, transformer in text_parts():
        if not isinstance(transformer, TfidfText):
            continue
        block = model.preprocessor.output_indices_[f"text:{column}"]
        names = transformer.get_feature_names_out().astype(str)
        where = np.flatnonzero(np.char.startswith(names, "word__"))
        terms = [names[i].removeprefix("word__") for i in where]
        where = where + block.start
        top = {}
        for answer, w in directions:
            order = np.argsort(-w[where], kind="stable")[:k]
            top[answer] = [[terms[i], float(w[where][i])] for i in order if w[where][i] > 0]
        found.append({"column": column, "top": top})
    return found or None
