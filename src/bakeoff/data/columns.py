"""Column conversions shared by ingest (the table) and every saved model (its input rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

BOOLEAN_WORDS = {"true": 1.0, "false": 0.0}


def as_categories(column: pd.Series) -> pd.Series:
    """Categories as `str`; integral floats (ints with NaN) lose their `.0`; NaN stays NaN."""
    if pd.api.types.is_float_dtype(column):
        values = column.dropna()
        if np.all(np.isclose(values, np.round(values))):
            column = column.astype("Int64")
    out = column.astype("str").str.strip()
    return out.mask(column.isna())


def as_numbers(column: pd.Series) -> pd.Series:
    """Floats; booleans and the words true/false as 1/0; anything else unparsable is NaN."""
    if pd.api.types.is_numeric_dtype(column):  # booleans included
        return column.astype(float)
    words = column.astype("str").str.strip().str.lower().map(BOOLEAN_WORDS)
    return pd.to_numeric(column, errors="coerce").astype(float).fillna(words)


def as_datetimes(column: pd.Series) -> pd.Series:
    """Timezone-naive datetimes (UTC when the input carries a zone); unparsable values NaT."""
    out = pd.to_datetime(column, errors="coerce", format="mixed")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def convert(column: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """The column as `kind` (numeric, boolean, datetime, categorical, text), and the mask of
    values that were present but could not be converted."""
    if kind == "numeric" and pd.api.types.is_float_dtype(column):
        # Already numbers: kept as they are (float32 pixels stay float32, no copy).
        return column, pd.Series(False, index=column.index)
    if kind in ("categorical", "text"):
        return as_categories(column), pd.Series(False, index=column.index)
    if kind == "datetime":
        out = as_datetimes(column)
    else:
        out = as_numbers(column)
        if kind == "boolean":
            out = out.where(out.isin([0.0, 1.0]) | out.isna(), np.nan)
    return out, column.notna() & out.isna()
