"""Stable row identity: which part of the split a row belongs to must not change when new
batches arrive, when files are re-ordered, or when a column's dtype widens (int -> float
once a batch brings a missing value)."""

from __future__ import annotations

import numpy as np
import pandas as pd

HASH_RANGE = float(2**64)


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Values in one representation per kind: numbers (and booleans) as float64, the rest as
    text; so 3, 3.0 and True/1 hash alike whatever dtype a batch gave the column."""
    out = {}
    for name, column in frame.items():
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out[name] = column.astype("float64")
        else:
            out[name] = column.astype("string").fillna("<NA>").astype(object)
    return pd.DataFrame(out, index=frame.index)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def row_keys(frame: pd.DataFrame, columns: list[str] | None = None, seed: int = 0) -> np.ndarray:
    """A uint64 per row from the key columns (all columns when none are named), salted by
    `seed`. Column order does not matter; equal rows get equal keys."""
    columns = sorted(columns or frame.columns)
    hashed = pd.util.hash_pandas_object(canonical(frame[columns]), index=False)
    # pandas salts only text columns (hash_key): salt every row here instead.
    salt = _mix(np.array([seed], dtype=np.uint64))
    with np.errstate(over="ignore"):
        return _mix(hashed.to_numpy(dtype=np.uint64) ^ salt)


def row_fractions(
    frame: pd.DataFrame, columns: list[str] | None = None, seed: int = 0
) -> np.ndarray:
    """Each row's key as a number in [0, 1): a split by thresholds on it is stable per row."""
    return row_keys(frame, columns, seed).astype(np.float64) / HASH_RANGE
