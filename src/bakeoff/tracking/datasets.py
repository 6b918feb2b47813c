"""The data a contestant saw, as MLflow run inputs: one dataset per split, so the runs table's
Dataset column and the run page say which rows each model was fitted, stopped and scored on.

A split's digest is DVC's hash of its file (the md5 that dvc.lock records for
data/interim/<split>.parquet), so an MLflow run and a DVC experiment name the same bytes; its
source is the data card that describes the table. The name carries the dataset and the split,
and the newest batch when the table is several (`batches/train@2026-02`): a challenger
retrained on a new batch shows it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from bakeoff.fileio import md5_of
from bakeoff.paths import DATA_CARD, find_workspace, split_path

MAX_INPUT_TAG_VALUE = 500

# MLflow's context names for the splits (the run page groups inputs by them).
CONTEXTS = {"train": "training", "val": "validation", "test": "test"}


@contextmanager
def integer_hint_silenced() -> Iterator[None]:
    """MLflow's hint that integer columns cannot hold missing values, printed whenever it
    infers a schema (a dataset's, a signature's, the input example's check): the saved
    model's signature says what the columns are, and the hint repeats on every run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        yield


def dataset_name(card: dict[str, Any], split: str) -> str:
    name = f"{card['dataset']}/{split}"
    batches = card.get("batches") or []
    if len(batches) > 1:
        name += f"@{Path(batches[-1]['file']).stem}"
    return name


def split_dataset(card: dict[str, Any], split: str, workspace: Path | None = None):
    """The split's raw rows (as the saved model takes them) as an MLflow dataset."""
    import mlflow

    workspace = workspace or find_workspace()
    path = workspace / split_path(split)
    with warnings.catch_warnings(), integer_hint_silenced():
        # MLflow registers its local-file source for two URI schemes and warns that a path
        # matches both; either way it is that one source.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(
            pd.read_parquet(path),
            source=str(workspace / DATA_CARD),
            name=dataset_name(card, split),
            digest=md5_of(path),
            targets=card["target"],
        )
        # The schema is inferred on first use (and cached): here, inside the silence, rather
        # than wherever the dataset is logged or metrics name it.
        dataset.schema  # noqa: B018
        return dataset


def log_split(card: dict[str, Any], split: str, run_id: str | None = None):
    """Log the split as an input of the run (the active run unless `run_id` is given);
    returns the dataset (metrics computed on it are logged with it)."""
    import mlflow
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    dataset = split_dataset(card, split)
    batches = card.get("batches") or []
    tags = {
        MLFLOW_DATASET_CONTEXT: CONTEXTS[split],
        "bakeoff.file": split_path(split).as_posix(),
        "bakeoff.rows": str(dataset.profile["num_rows"]),
        "bakeoff.batches": str(len(batches)),
        "bakeoff.data_hash": card["content_hash"],
    }
    if batches:
        # MLflow caps an input tag's value at 500 characters.
        tags["bakeoff.newest_batch"] = batches[-1]["file"][-MAX_INPUT_TAG_VALUE:]
    entry = DatasetInput(
        Dataset(**dataset.to_dict()), tags=[InputTag(k, v) for k, v in tags.items()]
    )
    mlflow.MlflowClient().log_inputs(run_id or mlflow.active_run().info.run_id, datasets=[entry])
    return dataset


def log_fit_splits(card: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The splits a model is fitted and stopped on (train, val), as inputs of the run; the
    datasets by split."""
    return {split: log_split(card, split, run_id) for split in ("train", "val")}
