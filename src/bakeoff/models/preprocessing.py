"""Model-specific preprocessing, fitted on the training split only and saved inside the model.

Columns are routed by dtype: numbers (booleans excluded) vs everything else, which is
treated as categorical.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, QuantileTransformer, StandardScaler

NUMERIC = make_column_selector(dtype_include="number", dtype_exclude="bool")
CATEGORICAL = make_column_selector(dtype_exclude="number")


def _numeric_imputer() -> SimpleImputer:
    # keep_empty_features: an all-NaN column must not silently change the feature count.
    return SimpleImputer(strategy="median", keep_empty_features=True)


def _categorical_imputer() -> SimpleImputer:
    return SimpleImputer(strategy="most_frequent", keep_empty_features=True)


def _one_hot() -> OneHotEncoder:
    # Unseen categories at predict time become all-zero rows instead of an error.
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)


def _columns(numeric, categorical) -> ColumnTransformer:
    return ColumnTransformer(
        [("numeric", numeric, NUMERIC), ("categorical", categorical, CATEGORICAL)],
        sparse_threshold=0.0,  # dense output: HistGradientBoosting and torch need it
        verbose_feature_names_out=False,
    )


def scaled_one_hot() -> ColumnTransformer:
    """For linear models and distance-based ones: impute, standardise, one-hot."""
    return _columns(
        make_pipeline(_numeric_imputer(), StandardScaler()),
        make_pipeline(_categorical_imputer(), _one_hot()),
    )


def ordinal() -> ColumnTransformer:
    """For tree ensembles: impute numbers, ordinal-encode categories (unknown -> -1)."""
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return _columns(_numeric_imputer(), make_pipeline(_categorical_imputer(), encoder))


def quantile_one_hot(random_state: int) -> ColumnTransformer:
    """For neural networks (Gorishniy et al. 2021): quantile-normal numbers, one-hot categories."""
    quantile = QuantileTransformer(
        output_distribution="normal",
        n_quantiles=1000,
        subsample=1_000_000_000,
        random_state=random_state,
    )
    return _columns(
        make_pipeline(_numeric_imputer(), quantile),
        make_pipeline(_categorical_imputer(), _one_hot()),
    )
