"""The saved form of every model: an MLflow pyfunc that takes raw rows as ingested.

It applies the pipeline's featurize steps, then the model's own preprocessing and estimator,
and returns a frame with `prediction` and, for classification, one `proba_<class>` column
per class.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd

from bakeoff.featurize import apply_steps
from bakeoff.models.tabular import TabularModel
from bakeoff.tracking import package_versions

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
        out = pd.DataFrame(index=raw.index)
        out["prediction"] = self.model.predict(features)
        if self.model.task == "classification":
            proba = self.model.predict_proba(features)
            for i, label in enumerate(self.model.classes_):
                out[f"proba_{label}"] = proba[:, i]
        return out


class BakeoffPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow's wrapper around a joblib-saved ServedModel."""

    def load_context(self, context) -> None:
        self.served = joblib.load(context.artifacts["model"])
        if FILES_ARTIFACT in context.artifacts:
            self.served.model.load_files(Path(context.artifacts[FILES_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.served.predict_frame(model_input)


def _requirements(family: str, extra: list[str] | None = None) -> list[str]:
    wanted = ["scikit-learn", "pandas", "mlflow", "joblib"]
    if family == "deep":
        wanted += ["torch"]  # a saved network predicts with torch alone
    wanted += [name for name in extra or [] if name not in wanted]
    versions = {**package_versions(), **{name: metadata.version(name) for name in extra or []}}
    pins = [f"{name}=={versions[name]}" for name in wanted if name in versions]
    return [p.replace("+cpu", "") for p in pins]


def save_served_model(
    served: ServedModel, path: Path, example: pd.DataFrame, workdir: Path
) -> None:
    """Save as an MLflow model folder (what DVC keeps) with signature and input example."""
    artifact = workdir / MODEL_ARTIFACT
    artifacts = {"model": str(artifact)}
    model = served.model
    # Parts with files write them first; their pickled state then leaves the weights out.
    if hasattr(model, "save_files") and model.save_files(workdir / FILES_ARTIFACT):
        artifacts[FILES_ARTIFACT] = str(workdir / FILES_ARTIFACT)
    joblib.dump(served, artifact)
    example = example.drop(columns=[served.target], errors="ignore")
    with warnings.catch_warnings():
        # The hint is about integer columns and missing values; predictions have none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = mlflow.models.infer_signature(example, served.predict_frame(example))
    mlflow.pyfunc.save_model(
        path,
        python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts=artifacts,
        signature=signature,
        input_example=example,
        # Stated rather than inferred: inference loads the model again in a subprocess.
        pip_requirements=_requirements(
            model.family, model.requirements() if hasattr(model, "requirements") else None
        ),
    )


def predict_proba_columns(predictions: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    columns = [c for c in predictions.columns if c.startswith("proba_")]
    return predictions[columns].to_numpy(dtype=float), [c.removeprefix("proba_") for c in columns]
