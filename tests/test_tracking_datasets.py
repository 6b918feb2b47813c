"""The splits as MLflow dataset inputs of a run."""

from __future__ import annotations

import warnings

import mlflow
import pandas as pd

from bakeoff.paths import DATA_CARD, split_path
from bakeoff.tracking.datasets import log_fit_splits


def test_logging_the_splits_prints_no_integer_column_hint(tmp_path, monkeypatch):
    """MLflow infers a dataset's schema on first use (logging the input), not when it is
    made: its hint about integer columns came three times per contestant on every run until
    the dataset was made with its schema already inferred, inside the silence."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    for split in ("train", "val"):
        path = tmp_path / split_path(split)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"count": [1, 2, 3], "target": [0, 1, 0]}).to_parquet(path)
    (tmp_path / DATA_CARD).write_text("{}")
    card = {"dataset": "toy", "target": "target", "content_hash": "abc"}
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        # Its own experiment: an earlier test's active experiment id is not in this store.
        experiment = mlflow.create_experiment("toy", artifact_location=(tmp_path / "a").as_uri())
        with (
            warnings.catch_warnings(record=True) as caught,
            mlflow.start_run(experiment_id=experiment) as run,
        ):
            warnings.simplefilter("always")
            log_fit_splits(card)
        hints = [w for w in caught if "Inferred schema contains integer" in str(w.message)]
        assert hints == []
        logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
        assert sorted(d.dataset.name for d in logged) == ["toy/train", "toy/val"]
    finally:
        mlflow.set_tracking_uri(previous)
