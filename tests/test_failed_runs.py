"""A run that fails ends FAILED with the reason in its `bakeoff.error` tag and the whole
traceback in its error.txt artifact, the error itself propagating."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from bakeoff.tracking import store
from bakeoff.tracking.runs import ERROR_ARTIFACT, TrainingFailed, recorded_outcome


def diverging_fit() -> None:
    raise FloatingPointError("val/loss is nan at epoch 3")


def run_that_fails(experiment_id: str):
    """A run whose fit raises, wrapped as train_and_log wraps a contestant's error."""
    with (
        pytest.raises(TrainingFailed, match="epoch 3"),
        mlflow.start_run(experiment_id=experiment_id) as run,
        recorded_outcome(run),
    ):
        try:
            diverging_fit()
        except FloatingPointError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise TrainingFailed("mlp", run.info.run_id, reason) from exc
    return run


def test_a_failed_run_keeps_the_traceback_of_the_fit_that_failed(tmp_path):
    previous = mlflow.get_tracking_uri()
    uri = store.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # Not the fluent API's active experiment: that would outlive this test and its store.
    experiment_id = mlflow.MlflowClient(uri).create_experiment("failures")
    try:
        run = run_that_fails(experiment_id)
    finally:
        mlflow.set_tracking_uri(previous)
    finished = mlflow.MlflowClient(uri).get_run(run.info.run_id)
    assert finished.info.status == "FAILED"
    assert finished.data.tags["bakeoff.error"] == "FloatingPointError: val/loss is nan at epoch 3"
    text = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path=ERROR_ARTIFACT, tracking_uri=uri
        )
    ).read_text()
    # The fit's own frame and error, then the wrapper's.
    assert "in diverging_fit" in text
    assert "FloatingPointError: val/loss is nan at epoch 3" in text
    assert "TrainingFailed: mlp failed to train" in text
