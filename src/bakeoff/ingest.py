"""Stage `ingest`: read the dataset card's source into an immutable Parquet copy and a data card."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from bakeoff import setup_logging
from bakeoff.io import write_json, write_parquet
from bakeoff.params import DataConfig, load_params
from bakeoff.paths import DATA_CARD, RAW_DATASET

log = logging.getLogger(__name__)

SKLEARN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}
# Fewer distinct numeric target values than this (and all integral) means classification.
MAX_CLASSES_WHEN_INFERRING = 20


def read_sklearn(source: dict, target: str) -> pd.DataFrame:
    """One of scikit-learn's bundled datasets as a frame whose target column is `target`."""
    import sklearn.datasets

    name = source.get("name")
    if name not in SKLEARN_DATASETS:
        raise ValueError(
            f"data.source.name={name!r} is not a bundled scikit-learn dataset; "
            f"choose one of {sorted(SKLEARN_DATASETS)}"
        )
    bunch = getattr(sklearn.datasets, SKLEARN_DATASETS[name])(as_frame=True)
    frame = bunch.frame.rename(columns={bunch.target.name: target})
    return frame


READERS = {"sklearn": read_sklearn}


def read_source(data: DataConfig) -> pd.DataFrame:
    kind = data.source.get("kind")
    if kind not in READERS:
        raise ValueError(
            f"data.source.kind={kind!r} is not supported; choose one of {sorted(READERS)}"
        )
    return READERS[kind](data.source, data.target)


def infer_task(y: pd.Series) -> str:
    """Regression for a numeric target with many or non-integral values, else classification."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().to_numpy(dtype=float)
    integral = np.all(np.isclose(values, np.round(values)))
    if integral and y.nunique() <= MAX_CLASSES_WHEN_INFERRING:
        return "classification"
    return "regression"


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the values, column names and dtypes, independent of the file format."""
    digest = hashlib.sha256()
    digest.update("\0".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def column_kind(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    return "categorical"


def describe(frame: pd.DataFrame, data: DataConfig, task: str) -> dict:
    """The data card: what later stages and people need to know about the raw table."""
    y = frame[data.target]
    card = {
        "dataset": data.name,
        "source": data.source,
        "target": data.target,
        "task": task,
        "rows": len(frame),
        "columns": len(frame.columns),
        "features": {c: column_kind(frame[c]) for c in frame.columns if c != data.target},
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
        "missing_values": {c: int(n) for c, n in frame.isna().sum().items() if n},
        "content_hash": content_hash(frame),
    }
    if task == "classification":
        counts = y.value_counts(dropna=False).sort_index()
        card["target_distribution"] = {str(k): int(v) for k, v in counts.items()}
    else:
        card["target_summary"] = {k: float(v) for k, v in y.describe().items()}
    return card


def main() -> None:
    setup_logging()
    params = load_params()
    frame = read_source(params.data)
    if params.data.target not in frame.columns:
        raise SystemExit(
            f"dataset {params.data.name}: target column {params.data.target!r} not found"
        )
    task = params.data.task
    if task is None:
        task = infer_task(frame[params.data.target])
        log.info("data.task not set: inferred %s from the target column", task)
    card = describe(frame, params.data, task)
    write_parquet(RAW_DATASET, frame)
    write_json(DATA_CARD, card)
    log.info(
        "ingested %s: %d rows, %d columns (%s)",
        params.data.name,
        card["rows"],
        card["columns"],
        task,
    )


if __name__ == "__main__":
    main()
