"""The classical text contestants: TF-IDF n-grams of each text column, fitted on the training
split, feeding a linear model. Named in conf/model/tfidf_*.yaml. scikit-learn only: this
module must not import torch, lightning or transformers.

Other columns of the table join the n-grams: numbers imputed and standardised, categories
one-hot. The matrix stays sparse (a few hundred thousand n-gram columns).
"""

from __future__ import annotations

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
