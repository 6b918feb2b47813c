"""The saved form of every model: an MLflow pyfunc that takes raw rows as ingested.

It applies the pipeline's featurize steps, then the model's own preprocessing and estimator,
and returns a frame with `prediction` and, for classification, one `proba_<class>` column
per class.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd

from bakeoff.data.features import apply_steps
from bakeoff.models.tabular import TabularModel, prediction_frame
from bakeoff.tracking.tags import package_versions

MODEL_ARTIFACT = "model.joblib"


class ServedModel:
    """Featurize steps + fitted TabularModel: raw rows in, a prediction frame out."""

    def __init__(self, *, model: TabularModel, steps: list[dict[str, Any]], target: str):
        self.model = model
        self.steps = steps
        self.target = target

    def predict_frame(self, raw: pd.DataFrame) -> pd.DataFrame:
        features = apply_steps(
            raw.drop(columns=[self.target], errors="ignore"), self.steps, self.target
        )
        return prediction_frame(self.model, features)


class BakeoffPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow's wrapper around a joblib-saved ServedModel."""

    def load_context(self, context) -> None:
        self.served = joblib.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.served.predict_frame(model_input)


def _requirements(model) -> list[str]:
    wanted = ["scikit-learn", "pandas", "mlflow", "joblib"]
    members = getattr(model, "members", {}).values()  # an ensemble predicts with its members'
    if "deep" in {model.family, *(m.family for m in members)}:
        wanted += ["torch"]  # a saved network predicts with torch alone
    versions = package_versions()
    pins = [f"{name}=={versions[name]}" for name in wanted if name in versions]
    return [p.replace("+cpu", "") for p in pins]


def _model_arguments(served: ServedModel, example: pd.DataFrame, workdir: Path) -> dict[str, Any]:
    """What makes the MLflow model folder, for save_model and log_model alike."""
    artifact = workdir / MODEL_ARTIFACT
    joblib.dump(served, artifact)
    example = example.drop(columns=[served.target], errors="ignore")
    with warnings.catch_warnings():
        # The hint is about integer columns and missing values; predictions have none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = mlflow.models.infer_signature(example, served.predict_frame(example))
    return {
        "python_model": str(Path(__file__).with_name("pyfunc_entry.py")),
        "artifacts": {"model": str(artifact)},
        "signature": signature,
        "input_example": example,
        # Stated rather than inferred: inference loads the model again in a subprocess.
        "pip_requirements": _requirements(served.model),
    }


def save_served_model(
    served: ServedModel, path: Path, example: pd.DataFrame, workdir: Path
) -> None:
    """Save as an MLflow model folder with signature and input example (no tracking store)."""
    mlflow.pyfunc.save_model(path, **_model_arguments(served, example, workdir))


def log_served_model(
    served: ServedModel,
    name: str,
    example: pd.DataFrame,
    workdir: Path,
    tags: dict[str, str],
) -> mlflow.models.model.ModelInfo:
    """Log as an MLflow 3 LoggedModel of the active run: the experiment's Models tab lists it,
    metrics logged with its id rank it, and the registry registers it as `models:/<id>`."""
    return mlflow.pyfunc.log_model(
        name=name, tags=tags, **_model_arguments(served, example, workdir)
    )
