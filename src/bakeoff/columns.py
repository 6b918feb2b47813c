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
    if pd.api.types.is_bool_dtype(column):
        return column.astype(float)
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    words = column.astype("str").str.strip().str.lower().map(BOOLEAN_WORDS)
    return pd.to_numeric(column, errors="coerce").astype(float).fillna(words)


def as_datetimes(column: pd.Series) -> pd.Series:
    """Timezone-naive datetimes (UTC when the input carries a zone); unparsable values NaT."""
    out = pd.to_datetime(column, errors="coerce", format="mixed")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out
