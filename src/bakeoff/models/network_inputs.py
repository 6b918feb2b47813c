"""Preprocessing for the networks: numbers plus category codes and token ids, and pixel columns.

scikit-learn only (no torch), fitted on the training split and saved inside the model.
`QuantileCodes` feeds an MLP that embeds categories and text: it outputs the numeric features
first, then one integer code per categorical column, then each text column's token ids
(`text_features.TokenIds`), and describes that split in `layout_`.
`Pixels` feeds a CNN: the `pixel_<i>` columns in index order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from bakeoff.data.images import checked_shape, image_columns
from bakeoff.models import preprocessing
from bakeoff.models.text_features import TokenIds

UNKNOWN_CODE = 0  # a category not seen in training (or missing, when training had none)
MISSING_CODE = 1
N_RESERVED_CODES = 2  # known categories are coded from here on


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Each column's categories as integer codes: 0 unknown, 1 missing, 2... the known ones.

    Known categories are the training values, sorted. A missing value at predict time in a
    column that had none in training gets the unknown code: its missing code never trained.
    Cardinality of column i (codes it can emit, reserved ones included): `len(categories_[i]) + 2`.
    """

    def fit(self, X: pd.DataFrame, y=None) -> CategoryCodes:
        X = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        # astype("str"): a category is its text, whatever the column held (NaN stays NaN).
        self.categories_ = [
            pd.Index(sorted(X[c].dropna().astype("str").unique())) for c in X.columns
        ]
        self.missing_seen_ = [bool(X[c].isna().any()) for c in X.columns]
        return self

    @property
    def cardinalities_(self) -> list[int]:
        return [len(categories) + N_RESERVED_CODES for categories in self.categories_]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        columns = [
            _codes(X[c], categories, missing_seen)
            for c, categories, missing_seen in zip(
                self.feature_names_in_, self.categories_, self.missing_seen_, strict=True
            )
        ]
        return np.column_stack(columns) if columns else np.empty((len(X), 0), dtype=np.int64)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_.copy()


def _codes(column: pd.Series, categories: pd.Index, missing_seen: bool) -> np.ndarray:
    found = categories.get_indexer(column.astype("str"))  # -1: unseen or missing
    codes = np.where(found >= 0, found + N_RESERVED_CODES, UNKNOWN_CODE)
    codes[column.isna().to_numpy()] = MISSING_CODE if missing_seen else UNKNOWN_CODE
    return codes.astype(np.int64)


class QuantileCodes(TransformerMixin, BaseEstimator):
    """Numbers quantile-normal (dates as parts), then one integer code per category column,
    then the token ids of each text column (`text`, default `TokenIds()`; the columns named
    in `text_columns`, which `TabularModel.fit` sets).

    `layout_` tells the network which output columns are codes and token ids:
    `{"n_numeric": <leading float columns>, "cardinalities": [<codes per code column>]}`,
    plus `"texts": [{"vocabulary": <ids>, "length": <columns>}, ...]` with text columns.
    """

    def __init__(self, *, random_state: int = 0, text=None, text_columns=()):
        self.random_state = random_state
        self.text = text
        self.text_columns = text_columns

    def fit(self, X: pd.DataFrame, y=None) -> QuantileCodes:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        # Codes and token ids come last, so the network can split every row at n_numeric.
        self.columns_ = preprocessing.ColumnsByKind(
            numeric=preprocessing.quantile_numbers(self.random_state),
            categorical=CategoryCodes(),
            text=TokenIds() if self.text is None else self.text,
            text_columns=self.text_columns,
        )
        out = self.columns_.fit_transform(X)
        self.layout_ = self.columns_.layout_ or {"n_numeric": out.shape[1], "cardinalities": []}
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.columns_.transform(X)

    @property
    def requirements(self) -> list[str]:
        # A model fitted before text existed holds a plain ColumnTransformer here.
        return list(getattr(self.columns_, "requirements", []))


def quantile_codes(random_state: int, text=None) -> QuantileCodes:
    """For networks that embed categories and text: quantile-normal numbers, category codes,
    token ids (`text`, a `TokenIds`), a layout."""
    return QuantileCodes(random_state=random_state, text=text)


class Pixels(TransformerMixin, BaseEstimator):
    """The `pixel_0` ... `pixel_<C*H*W - 1>` columns in index order, float32, missing as 0.

    Index order, not frame order: the network reshapes each row to (C, H, W) in C-order.
    Other columns are ignored.
    """

    def __init__(self, *, image_shape: Sequence[int] | None = None):
        self.image_shape = image_shape

    def fit(self, X: pd.DataFrame, y=None) -> Pixels:
        self.columns_ = image_columns(checked_shape(self.image_shape))
        self._check_columns(X)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self._check_columns(X)
        pixels = X[self.columns_].to_numpy(dtype=np.float32, na_value=np.nan)
        return np.nan_to_num(pixels, nan=0.0)

    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ValueError(
                f"image_shape {list(self.image_shape)} needs {len(self.columns_)} pixel columns "
                f"({self.columns_[0]} ... {self.columns_[-1]}); missing: "
                f"{', '.join(missing[:5])}{more}"
            )
