"""Model-specific preprocessing, fitted on the training split only and saved inside the model.

Columns are routed by dtype, which ingest sets from the dataset card's column types and
`TabularModel` re-applies to every input: numeric (float, booleans as 0/1), categorical
(`str`), datetime (`datetime64`, expanded into numeric parts). Text columns are `str` too, so
dtype cannot tell them from categories: they are routed by name (`ColumnsByKind.text_columns`,
which `TabularModel.fit` sets from the data card's column kinds).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, QuantileTransformer, StandardScaler

from bakeoff.models.text_features import TextComponents

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


# A missing category is a category of its own, as in the networks' codes
# (network_inputs.QuantileCodes): filled with the most frequent one instead, Adult's unknown
# occupations would pass for its commonest, which earns more.
MISSING_CATEGORY = "(missing)"


def _categorical_imputer() -> SimpleImputer:
    return SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)


def _one_hot() -> OneHotEncoder:
    # Unseen categories at predict time become all-zero rows instead of an error.
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)


class ColumnsByKind(TransformerMixin, BaseEstimator):
    """Each column through the transformer of its kind, outputs in this order: numeric,
    datetime (as parts, then `numeric`), categorical, then one block per text column.

    `text` is cloned for every column named in `text_columns` ("drop": text is ignored;
    None: the model takes no text and says so). `sparse`: keep a sparse matrix when a part
    makes one (TF-IDF); otherwise the output is dense, as HistGradientBoosting and torch need.
    `layout_` (None without text columns or category codes) tells a network where the
    category codes (a categorical transformer with `cardinalities_`) and the text blocks (a
    text transformer with `block_`) sit: see `network_inputs.QuantileCodes`.
    """

    def __init__(
        self,
        *,
        numeric,
        categorical,
        text=None,
        text_columns: tuple[str, ...] | list[str] = (),
        sparse: bool = False,
    ):
        self.numeric = numeric
        self.categorical = categorical
        self.text = text
        self.text_columns = text_columns
        self.sparse = sparse

    def _column_transformer(self, X: pd.DataFrame) -> ColumnTransformer:
        texts = list(self.text_columns)
        missing = [c for c in texts if c not in X.columns]
        if missing:
            raise KeyError(f"text column(s) {missing} are not in the input {list(X.columns)[:20]}")
        if texts and self.text is None:
            raise ValueError(f"this model takes no text columns; got {texts}")

        # Selected here, by name: a fitted ColumnTransformer keeps names, not the selectors.
        categories = [c for c in CATEGORICAL(X) if c not in texts]
        parts = [
            ("numeric", clone(self.numeric), NUMERIC(X)),
            ("datetime", make_pipeline(DatetimeParts(), clone(self.numeric)), DATETIME(X)),
            ("categorical", clone(self.categorical), categories),
        ]
        # A column name, not a list: the text transformer gets the 1-D column of documents.
        parts += [
            (f"text:{c}", "drop" if self.text == "drop" else clone(self.text), c) for c in texts
        ]
        return ColumnTransformer(
            parts,
            sparse_threshold=1.0 if self.sparse else 0.0,
            verbose_feature_names_out=False,
        )

    def fit(self, X: pd.DataFrame, y=None) -> ColumnsByKind:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None):
        self.columns_ = self._column_transformer(X)
        out = self.columns_.fit_transform(X, y)
        self.layout_ = self._layout(X, out.shape[1])
        return out

    def transform(self, X: pd.DataFrame):
        return self.columns_.transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.columns_.get_feature_names_out()

    @property
    def named_transformers_(self):
        return self.columns_.named_transformers_

    @property
    def output_indices_(self) -> dict[str, slice]:
        """Where each part's columns sit in the output (text parts: "text:<column>")."""
        return self.columns_.output_indices_

    def text_transformers(self) -> list[tuple[str, object]]:
        """(column, fitted transformer) of every text column, in output order."""
        fitted = self.columns_.named_transformers_
        return [(c, fitted[f"text:{c}"]) for c in self.text_columns]

    # Text transformers that keep files of their own (pretrained encoders): see
    # TabularModel.save_files.
    def save_files(self, folder: Path) -> bool:
        saved = False
        for i, (_, transformer) in enumerate(self.text_transformers()):
            if hasattr(transformer, "save_files"):
                saved = transformer.save_files(Path(folder) / f"text_{i}") or saved
        return saved

    def load_files(self, folder: Path) -> None:
        for i, (_, transformer) in enumerate(self.text_transformers()):
            if hasattr(transformer, "load_files"):
                transformer.load_files(Path(folder) / f"text_{i}")

    @property
    def requirements(self) -> list[str]:
        names: list[str] = []
        for _, transformer in self.text_transformers():
            names += [n for n in getattr(transformer, "requirements", ()) if n not in names]
        return names

    def _layout(self, X: pd.DataFrame, width: int) -> dict | None:
        codes = self.columns_.named_transformers_["categorical"]
        # An empty column selection leaves that transformer unfitted: no cardinalities_.
        cardinalities = list(codes.cardinalities_) if hasattr(codes, "cardinalities_") else []
        texts = [dict(t.block_) for _, t in self.text_transformers() if hasattr(t, "block_")]
        if not cardinalities and not texts:
            return None
        n_text = sum(block["length"] for block in texts)
        layout = {"n_numeric": width - len(cardinalities) - n_text, "cardinalities": cardinalities}
        if texts:
            layout["texts"] = texts
        return layout


def by_kind(numeric, categorical, text=None, *, sparse: bool = False) -> ColumnsByKind:
    """Numeric and datetime columns through `numeric` (dates as parts), categorical ones
    through `categorical`, each text column through `text`, in that order."""
    return ColumnsByKind(numeric=numeric, categorical=categorical, text=text, sparse=sparse)


def scaled_one_hot(*, text_components: int = 100, random_state: int = 0) -> ColumnsByKind:
    """For linear models and distance-based ones: impute, standardise, one-hot; each text
    column as `text_components` standardised TF-IDF SVD components."""
    return by_kind(
        make_pipeline(_numeric_imputer(), StandardScaler()),
        make_pipeline(_categorical_imputer(), _one_hot()),
        make_pipeline(
            TextComponents(n_components=text_components, random_state=random_state),
            StandardScaler(),
        ),
    )


def ordinal(*, text_components: int | None = 100, random_state: int = 0) -> ColumnsByKind:
    """For tree ensembles: impute numbers, ordinal-encode categories (unknown -> -1), each
    text column as `text_components` TF-IDF SVD components (None: text dropped)."""
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    text = (
        "drop"
        if text_components is None
        else TextComponents(n_components=text_components, random_state=random_state)
    )
    return by_kind(_numeric_imputer(), make_pipeline(_categorical_imputer(), encoder), text)


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


def quantile_one_hot(random_state: int, text=None) -> ColumnsByKind:
    """For neural networks: quantile-normal numbers, one-hot categories, `text` (token ids,
    see network_inputs) for each text column."""
    return by_kind(
        quantile_numbers(random_state), make_pipeline(_categorical_imputer(), _one_hot()), text
    )
