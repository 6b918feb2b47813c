"""Model-specific preprocessing, fitted on the training split only and saved inside the model.

Columns are routed by dtype, which ingest sets from the dataset card's column types and
`TabularModel` re-applies to every input: numeric (float, booleans as 0/1), categorical
(`str`), datetime (`datetime64`, expanded into numeric parts).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, QuantileTransformer, StandardScaler

NUMERIC = make_column_selector(dtype_include="number", dtype_exclude="bool")
DATETIME = make_column_selector(dtype_include="datetime")
CATEGORICAL = make_column_selector(dtype_exclude=["number", "datetime"])

DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Expand each datetime column into numeric parts: year, month, day, weekday, hour.

    Missing dates stay NaN in every part (the numeric imputer after this fills them).
    """

    def fit(self, X: pd.DataFrame, y=None) -> DatetimeParts:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        parts = [
            getattr(pd.to_datetime(X[column]).dt, part).to_numpy(dtype=float, na_value=np.nan)
            for column in X.columns
            for part in DATETIME_PARTS
        ]
        return np.column_stack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(
            [f"{c}_{part}" for c in self.feature_names_in_ for part in DATETIME_PARTS], dtype=object
        )


def _numeric_imputer() -> SimpleImputer:
    # keep_empty_features: an all-NaN column must not silently change the feature count.
    return SimpleImputer(strategy="median", keep_empty_features=True)


def _categorical_imputer() -> SimpleImputer:
    return SimpleImputer(strategy="most_frequent", keep_empty_features=True)


def _one_hot() -> OneHotEncoder:
    # Unseen categories at predict time become all-zero rows instead of an error.
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)


def by_kind(numeric, categorical) -> ColumnTransformer:
    """Numeric and datetime columns through `numeric` (dates as parts), the rest `categorical`,
    in that order: categorical outputs come last."""
    dates = make_pipeline(DatetimeParts(), clone(numeric))
    return ColumnTransformer(
        [
            ("numeric", numeric, NUMERIC),
            ("datetime", dates, DATETIME),
            ("categorical", categorical, CATEGORICAL),
        ],
        sparse_threshold=0.0,  # dense output: HistGradientBoosting and torch need it
        verbose_feature_names_out=False,
    )


def scaled_one_hot() -> ColumnTransformer:
    """For linear models and distance-based ones: impute, standardise, one-hot."""
    return by_kind(
        make_pipeline(_numeric_imputer(), StandardScaler()),
        make_pipeline(_categorical_imputer(), _one_hot()),
    )


def ordinal() -> ColumnTransformer:
    """For tree ensembles: impute numbers, ordinal-encode categories (unknown -> -1)."""
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return by_kind(_numeric_imputer(), make_pipeline(_categorical_imputer(), encoder))


class QuantileNormal(QuantileTransformer):
    """QuantileTransformer to a normal distribution, quiet about small tables.

    With fewer rows than `n_quantiles` scikit-learn uses one quantile per row, which is what
    we want, but warns on every fit; a bake-off on a small table would print it per model.
    """

    def fit(self, X, y=None) -> QuantileNormal:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"n_quantiles \(\d+\) is greater than")
            return super().fit(X, y)


def quantile_numbers(random_state: int):
    """Median-imputed numbers mapped to a normal distribution (Gorishniy et al. 2021)."""
    quantile = QuantileNormal(
        output_distribution="normal",
        n_quantiles=1000,
        subsample=1_000_000_000,
        random_state=random_state,
    )
    return make_pipeline(_numeric_imputer(), quantile)


def quantile_one_hot(random_state: int) -> ColumnTransformer:
    """For neural networks: quantile-normal numbers, one-hot categories."""
    return by_kind(
        quantile_numbers(random_state), make_pipeline(_categorical_imputer(), _one_hot())
    )
