"""Saved models take raw rows: featurize steps, preprocessing and estimator travel together."""

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from bakeoff.evaluation.metrics import predict_proba_columns
from bakeoff.models import classical
from bakeoff.tracking.serving import ServedModel, save_served_model


def _served(mixed_frame):
    X, y = mixed_frame.drop(columns=["target", "empty"]), mixed_frame["target"]
    model = classical.linear("classification").fit(X, y)
    return ServedModel(model=model, steps=[{"drop_columns": ["empty"]}], target="target")


def test_predict_frame_applies_steps_and_ignores_target(mixed_frame):
    frame = _served(mixed_frame).predict_frame(mixed_frame)  # raw rows, target included
    assert list(frame.columns) == ["prediction", "proba_no", "proba_yes"]
    proba, classes = predict_proba_columns(frame)
    assert classes == ["no", "yes"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_pyfunc_round_trip(mixed_frame, tmp_path):
    served = _served(mixed_frame)
    save_served_model(served, tmp_path / "model", mixed_frame.head(5), tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    raw = mixed_frame.drop(columns=["target"])
    out = loaded.predict(raw)
    assert list(out["prediction"]) == list(served.predict_frame(raw)["prediction"])
    assert loaded.metadata.get_input_schema().input_names() == list(raw.columns)


def test_pyfunc_names_a_missing_column(mixed_frame, tmp_path):
    save_served_model(_served(mixed_frame), tmp_path / "model", mixed_frame.head(5), tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    with pytest.raises(MlflowException, match=r"missing inputs.*'x1'"):
        loaded.predict(mixed_frame.drop(columns=["target", "x1"]))
