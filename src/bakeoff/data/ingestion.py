"""Typing a freshly read table: column kinds inferred (or taken from the card) and applied,
the task inferred, and the data card that describes the table.

Column types are inferred (numeric, categorical, boolean, datetime, free text) unless the
card overrides them, then applied, so that every later stage and every saved model sees the
same dtypes. Ingest only fails on input it cannot read; everything else is for `validate`.
"""

from __future__ import annotations

import hashlib
import logging
import re

import numpy as np
import pandas as pd

from bakeoff.data.columns import BOOLEAN_WORDS, convert
from bakeoff.params import DataConfig
from bakeoff.problems import Problem

log = logging.getLogger(__name__)

# Fewer distinct numeric target values than this (and all integral) means classification.
MAX_CLASSES_WHEN_INFERRING = 20
DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
# Strings with this many words on average, mostly distinct, are free text, not categories.
TEXT_MIN_WORDS = 4
TEXT_MIN_DISTINCT_SHARE = 0.5
INFERENCE_SAMPLE = 2000


def infer_task(y: pd.Series) -> str:
    """Regression for a numeric target with many or non-integral values, else classification."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().to_numpy(dtype=float)
    integral = np.all(np.isclose(values, np.round(values)))
    if integral and y.nunique() <= MAX_CLASSES_WHEN_INFERRING:
        return "classification"
    return "regression"


def infer_column_kind(column: pd.Series) -> str:
    """numeric, boolean, datetime, text or categorical, from dtype and (for strings) values."""
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    values = column.dropna()
    if values.empty:
        return "numeric"  # all missing: validate drops it; numeric keeps the dtype simple
    sample = (
        values.astype(str).str.strip().sample(n=min(len(values), INFERENCE_SAMPLE), random_state=0)
    )
    if set(sample.str.lower().unique()) <= set(BOOLEAN_WORDS):
        return "boolean"
    if pd.to_numeric(sample, errors="coerce").notna().all():
        return "numeric"
    if sample.str.match(DATE_LIKE).mean() >= 0.95:
        return "datetime"
    words = sample.str.split().str.len().mean()
    if words >= TEXT_MIN_WORDS and sample.nunique() / len(sample) >= TEXT_MIN_DISTINCT_SHARE:
        return "text"
    return "categorical"


def source_kind(column: str, data: DataConfig) -> str | None:
    """A kind the source itself fixes: a text folder's documents are text, however short."""
    if data.source.get("kind") == "text_folder" and column == data.source.get(
        "text_column", "text"
    ):
        return "text"
    return None


def apply_column_types(
    frame: pd.DataFrame, types: dict[str, str], file: str | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Convert each column to its kind; values that do not convert are listed as errors."""
    out = frame.copy(deep=False)  # columns are replaced, never written into
    problems = []
    for name, kind in types.items():
        out[name], failed = convert(frame[name], kind)
        if failed.any():
            bad = frame.loc[failed, name]
            problems.append(
                Problem(
                    f"not_{kind}",
                    f"{int(failed.sum())} value(s) are not {kind} (column type {kind!r} "
                    "from data.column_types or inference); fix them or change the type",
                    file=file,
                    column=name,
                    examples=[{"row": int(i), "value": v} for i, v in bad.head(5).items()],
                )
            )
    return out, problems


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the values, column names and dtypes, independent of the file format."""
    digest = hashlib.sha256()
    digest.update("\0".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def describe(frame: pd.DataFrame, data: DataConfig, task: str | None, types: dict) -> dict:
    """The raw data card: what later stages and people need to know about the table."""
    card = {
        "dataset": data.name,
        "source": data.source,
        "target": data.target,
        "task": task,
        "rows": len(frame),
        "columns": len(frame.columns),
        "features": types,
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
        "missing_values": {c: int(n) for c, n in frame.isna().sum().items() if n},
        "content_hash": content_hash(frame),
    }
    if data.image:
        card["image"] = dict(data.image)
    if data.target not in frame.columns:
        return card
    y = frame[data.target]
    if task == "classification":
        counts = y.value_counts(dropna=False).sort_index()
        card["target_distribution"] = {str(k): int(v) for k, v in counts.items()}
    elif pd.api.types.is_numeric_dtype(y):
        card["target_summary"] = {k: float(v) for k, v in y.describe().items()}
    return card


def ingest(frame: pd.DataFrame, data: DataConfig) -> tuple[pd.DataFrame, dict, list[Problem]]:
    """Scale, drop and type the columns of a freshly read table; returns frame, card, errors.

    Configured columns that do not exist are skipped here and reported by `validate`.
    """
    # Several files are batches of one table (sources.read_file); anything else is one batch.
    batches = frame.attrs.get("batches") or [
        {
            "file": str(data.source.get("path") or data.source.get("name") or data.name),
            "rows": len(frame),
        }
    ]
    frame = frame.rename(columns=str)  # a new frame (copy-on-write): the caller's is untouched
    frame.attrs = {}
    source_columns = list(frame.columns)
    frame = frame.drop(columns=[c for c in data.drop_columns if c in frame.columns])
    features = [c for c in frame.columns if c != data.target]
    types = {
        c: data.column_types.get(c) or source_kind(c, data) or infer_column_kind(frame[c])
        for c in features
    }
    file = data.source.get("path")
    frame, problems = apply_column_types(frame, types, file=file)
    # After typing, so that numbers read as text are scaled too.
    for name, factor in data.scale.items():
        if name not in frame.columns:
            continue  # validate reports configured columns that do not exist
        if pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name] * float(factor)
        else:
            problems.append(
                Problem(
                    "not_numeric_scale",
                    f"data.scale multiplies this column by {factor}, but it is "
                    f"{types.get(name, 'not numeric')} (dtype {frame[name].dtype})",
                    file=file,
                    column=name,
                )
            )
    task = data.task
    if task is None and data.target in frame.columns:
        task = infer_task(frame[data.target])
        log.info("data.task not set: inferred %s from the target column", task)
    card = describe(frame, data, task, types)
    card["source_columns"] = source_columns
    card["batches"] = batches
    return frame, card, problems
