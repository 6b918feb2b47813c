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


def test_a_model_logged_and_registered_the_0_1_way_still_loads(mixed_frame, tmp_path):
    """0.1 uploaded the model folder as run artifacts and registered `runs:/<run>/model`; 0.2
    logs models as LoggedModels, and those 0.1 runs and versions still load."""
    from bakeoff.serving import ServedModel as ServedModel_0_1

    assert ServedModel_0_1 is ServedModel  # the import path 0.1's pickles name
    served = _served(mixed_frame)
    save_served_model(served, tmp_path / "model", mixed_frame.head(5), tmp_path)
    raw = mixed_frame.drop(columns=["target"])
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("ds", artifact_location=(tmp_path / "art").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(tmp_path / "model"), artifact_path="model")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "ds").version
        mlflow.MlflowClient().set_registered_model_alias("ds", "champion", version)
        expected = list(served.predict_frame(raw)["prediction"])
        for uri in (f"runs:/{run.info.run_id}/model", "models:/ds/1", "models:/ds@champion"):
            assert list(mlflow.pyfunc.load_model(uri).predict(raw)["prediction"]) == expected
    finally:
        mlflow.set_tracking_uri(previous)
