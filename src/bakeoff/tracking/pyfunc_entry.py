"""The pyfunc wrapper as MLflow "models from code": the saved model names this file instead
of carrying a cloudpickled wrapper object."""

import mlflow

from bakeoff.tracking.serving import BakeoffPyfunc

mlflow.models.set_model(BakeoffPyfunc())
