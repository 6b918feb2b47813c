"""The saved form of every model: an MLflow pyfunc that takes raw rows as ingested.

It applies the pipeline's featurize steps, then the model's own preprocessing and estimator,
and returns a frame with `prediction` and, for classification, one `proba_<class>` column
per class.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd

from bakeoff.data.features import apply_steps
from bakeoff.models.tabular import TabularModel, prediction_frame
from bakeoff.tracking.datasets import integer_hint_silenced
from bakeoff.tracking.tags import package_versions

MODEL_ARTIFACT = "model.joblib"
# Weights a part of the model keeps as files of its own (a pretrained text encoder's
# safetensors and tokenizer), beside the pickle: TabularModel.save_files / load_files.
FILES_ARTIFACT = "files"


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
        if FILES_ARTIFACT in context.artifacts:
            self.served.model.load_files(Path(context.artifacts[FILES_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.served.predict_frame(model_input)


def _requirements(model) -> list[str]:
    wanted = ["scikit-learn", "pandas", "mlflow", "joblib"]
    members = getattr(model, "members", {}).values()  # an ensemble predicts with its members'
    if "deep" in {model.family, *(m.family for m in members)}:
        wanted += ["torch"]  # a saved network predicts with torch alone
    # What the model's parts name (a text encoder: transformers, tokenizers, safetensors).
    extra = [n for part in (model, *members) for n in getattr(part, "requirements", list)()]
    wanted += [name for name in dict.fromkeys(extra) if name not in wanted]
    versions = {**package_versions(), **{name: metadata.version(name) for name in extra}}
    pins = [f"{name}=={versions[name]}" for name in wanted if name in versions]
    return [p.replace("+cpu", "") for p in pins]


def _model_arguments(served: ServedModel, example: pd.DataFrame, workdir: Path) -> dict[str, Any]:
    """What makes the MLflow model folder, for save_model and log_model alike (which call
    it with MLflow's integer-column hint silenced)."""
    artifact = workdir / MODEL_ARTIFACT
    artifacts = {"model": str(artifact)}
    # Parts with files write them first; their pickled state then leaves the weights out.
    if hasattr(served.model, "save_files") and served.model.save_files(workdir / FILES_ARTIFACT):
        artifacts[FILES_ARTIFACT] = str(workdir / FILES_ARTIFACT)
    joblib.dump(served, artifact)
    example = example.drop(columns=[served.target], errors="ignore")
    signature = mlflow.models.infer_signature(example, served.predict_frame(example))
    return {
        "python_model": str(Path(__file__).with_name("pyfunc_entry.py")),
        "artifacts": artifacts,
        "signature": signature,
        "input_example": example,
        # Stated rather than inferred: inference loads the model again in a subprocess.
        "pip_requirements": _requirements(served.model),
    }


def save_served_model(
    served: ServedModel, path: Path, example: pd.DataFrame, workdir: Path
) -> None:
    """Save as an MLflow model folder with signature and input example (no tracking store)."""
    with integer_hint_silenced():
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
    with integer_hint_silenced():
        return mlflow.pyfunc.log_model(
            name=name, tags=tags, **_model_arguments(served, example, workdir)
        )
