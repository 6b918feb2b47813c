"""A tracking store that fails once must fail the stage and move nothing (issue 17): only
"no such registered model" means there is no champion, a champion that cannot read today's
columns is the one case promote reports instead of failing on, and an experiment is never
created silently where MLflow puts artifacts by default.

A real SQLite store throughout; the failure is a real client whose named calls raise once
what a store under load returns (MLflow's TEMPORARILY_UNAVAILABLE, HTTP 503)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from bakeoff.models import classical
from bakeoff.params import params_from_mapping
from bakeoff.stages.promote import promote
from bakeoff.tracking import store
from bakeoff.tracking.registry import CHAMPION, alias_version, register
from bakeoff.tracking.serving import ServedModel, log_served_model
from conftest import PROJECT_ROOT

NAME = "flaky"


class FlakyClient(mlflow.MlflowClient):
    """MlflowClient whose calls named in `failing` raise once, then work."""

    def __init__(self, *args, failing=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.failing = set(failing)

    def _once(self, method: str) -> None:
        if method in self.failing:
            self.failing.discard(method)
            raise MlflowException(f"{method}: 503 Service Unavailable", TEMPORARILY_UNAVAILABLE)

    def get_registered_model(self, *args, **kwargs):
        self._once("get_registered_model")
        return super().get_registered_model(*args, **kwargs)

    def get_model_version_by_alias(self, *args, **kwargs):
        self._once("get_model_version_by_alias")
        return super().get_model_version_by_alias(*args, **kwargs)

    def get_model_version_download_uri(self, *args, **kwargs):
        self._once("get_model_version_download_uri")
        return super().get_model_version_download_uri(*args, **kwargs)

    def create_experiment(self, *args, **kwargs):
        self._once("create_experiment")
        return super().create_experiment(*args, **kwargs)


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh SQLite store, the current one for mlflow while the test runs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # a project root for the store
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # store.connect prefers it to any other
    store.connect()
    yield uri
    mlflow.set_tracking_uri(previous)


def logged_model(frame, drop: tuple[str, ...] = ()) -> dict:
    """A logistic regression trained on `frame` (less `drop`), logged in a run as the
    pipeline logs its models (a LoggedModel): the row a leaderboard holds for it."""
    X, y = frame.drop(columns=["target", "empty", *drop]), frame["target"]
    model = classical.linear("classification").fit(X, y)
    served = ServedModel(model=model, steps=[], target="target")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run() as run:
        logged = log_served_model(served, "logreg", X.head(5), Path(tmp), tags={})
    accuracy = float((served.predict_frame(X)["prediction"] == y).mean())
    return {
        "run_id": run.info.run_id,
        "model_uri": f"models:/{logged.model_id}",
        "family": "classical",
        "rank": 1,
        "accuracy": accuracy,
    }


def champion_registry(client, frame, drop=()) -> str:
    version = register(client, NAME, "logreg", logged_model(frame, drop), {})
    client.set_registered_model_alias(NAME, CHAMPION, version)
    return version


def promote_args(frame, row):
    base = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params = params_from_mapping({**base, "promote": {"registered_model": NAME}})
    card = {"task": "classification", "target": "target", "content_hash": "abc"}
    board = {"models": {"logreg": row}, "pipeline_run_id": ""}
    return params, card, board, frame


def test_no_champion_only_when_the_model_or_alias_does_not_exist(tracking, mixed_frame):
    client = mlflow.MlflowClient()
    assert alias_version(client, NAME, CHAMPION) is None  # no registered model
    register(client, NAME, "logreg", logged_model(mixed_frame), {})
    assert alias_version(client, NAME, CHAMPION) is None  # a model, no alias
    client.set_registered_model_alias(NAME, CHAMPION, "1")
    assert alias_version(client, NAME, CHAMPION) == "1"
    flaky = FlakyClient(failing={"get_registered_model", "get_model_version_by_alias"})
    with pytest.raises(MlflowException) as caught:
        alias_version(flaky, NAME, CHAMPION)
    assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE"


def test_a_store_error_looking_up_the_champion_fails_promote_and_moves_nothing(
    tracking, mixed_frame
):
    client = mlflow.MlflowClient()
    champion_registry(client, mixed_frame)
    args = promote_args(mixed_frame, logged_model(mixed_frame))
    flaky = FlakyClient(failing={"get_registered_model", "get_model_version_by_alias"})
    with pytest.raises(MlflowException, match="503"):
        promote(flaky, *args)
    assert alias_version(client, NAME, CHAMPION) == "1"
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1  # nothing registered


def test_a_store_error_loading_the_champion_fails_promote_and_moves_nothing(tracking, mixed_frame):
    client = mlflow.MlflowClient()
    champion_registry(client, mixed_frame)
    args = promote_args(mixed_frame, logged_model(mixed_frame))
    with pytest.raises(MlflowException, match="503"):
        promote(FlakyClient(failing={"get_model_version_download_uri"}), *args)
    assert alias_version(client, NAME, CHAMPION) == "1"
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1


def test_a_champion_that_cannot_read_todays_columns_is_kept_with_the_reason(tracking, mixed_frame):
    """The one error promote reports: the champion needs a column today's rows lack."""
    client = mlflow.MlflowClient()
    today = mixed_frame.drop(columns=["x2"])
    champion_registry(client, mixed_frame)  # trained with x2
    report = promote(client, *promote_args(today, logged_model(today)))
    assert report["decision"] == "kept champion" and report["champion_after"] == "1"
    (reason,) = report["reasons"]
    assert "champion v1 cannot score the current test split (column 'x2' is missing" in reason
    assert "python -m bakeoff.cli.registry promote --version 2" in reason


def test_a_better_challenger_is_promoted(tracking, mixed_frame):
    """The path the errors above must not take by accident: compared, and it wins."""
    client = mlflow.MlflowClient()
    champion_registry(client, mixed_frame, drop=("x1",))  # blind to the signal
    report = promote(client, *promote_args(mixed_frame, logged_model(mixed_frame)))
    assert report["decision"] == "promoted" and report["champion_after"] == "2"
    assert report["improvement"] > 0


def test_only_a_concurrent_creation_is_tolerated_when_creating_the_experiment(tracking):
    with pytest.raises(MlflowException, match="503"):
        store.use_experiment("dataset", FlakyClient(failing={"create_experiment"}))
    # Not created by mlflow with its default artifact location either.
    assert mlflow.MlflowClient().get_experiment_by_name("dataset") is None
    experiment_id = store.use_experiment("dataset", FlakyClient())
    assert (
        mlflow.MlflowClient()
        .get_experiment(experiment_id)
        .artifact_location.endswith("mlartifacts/dataset")
    )


class StaleLookup(FlakyClient):
    """Its first lookup answers as if the experiment did not exist yet: a parallel job
    creates it between the lookup and the creation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.looked = False

    def get_experiment_by_name(self, name):
        if not self.looked:
            self.looked = True
            return None
        return super().get_experiment_by_name(name)


def test_an_experiment_created_meanwhile_must_keep_its_artifacts_where_we_want(tracking):
    client = mlflow.MlflowClient()
    wanted = store.use_experiment("parallel")  # created here first, as the parallel job did
    assert store.use_experiment("parallel", StaleLookup()) == wanted
    client.create_experiment("elsewhere", artifact_location="file:///tmp/not-the-project")
    with pytest.raises(RuntimeError, match="not-the-project, not file://"):
        store.use_experiment("elsewhere", StaleLookup())
