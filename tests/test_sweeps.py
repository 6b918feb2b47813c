"""End to end: Hydra sweeps on the shared project copy's featurized splits: grid and Optuna,
parallel jobs, parent and child MLflow runs, failures, the best trial back through the
pipeline, queued experiments, and a PostgreSQL-backed tracking server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow
import pytest
import sqlalchemy
import yaml

from bakeoff.tracking import tags
from pipeline_project import QUICK, QUICK_VERDICT, line_up, run, stages_run


def sweep(project: Path, folder: str, *overrides: str, env: dict | None = None):
    """`python -m bakeoff.cli.sweep -m ...` into multirun/<folder>; returns the process result."""
    return run(
        project,
        "python",
        "-m",
        "bakeoff.cli.sweep",
        "-m",
        *overrides,
        f"hydra.sweep.dir=multirun/{folder}",
        env=env,
    )


def sweep_runs(client: mlflow.MlflowClient, folder: str, experiment: str = "breast_cancer"):
    """The sweep's parent run and its children, in trial order."""
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    (parent,) = client.search_runs(
        [experiment_id], f"tags.`bakeoff.sweep` = '{folder}' and tags.`bakeoff.role` = 'sweep'"
    )
    children = client.search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    return parent, sorted(children, key=lambda r: int(r.data.tags["bakeoff.trial"]))


def project_client(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


@pytest.mark.slow  # tens of seconds on two cores: make test ALL=1
def test_grid_sweep_of_a_network_is_one_parent_run_with_a_child_per_job(project):
    sweep(
        project,
        "grid-mlp",
        "model=mlp",
        "model.lr=1e-3,3e-3",
        "model.dropout=0,0.1",
        "model.max_epochs=3",
        "trainer.max_time=1e-6",  # spent within the first epoch: every trial is guarded
    )
    client = project_client(project)
    parent, children = sweep_runs(client, "grid-mlp")
    assert [c.info.status for c in children] == ["FINISHED"] * 4
    # Every trial's model is a LoggedModel of its run, its validation scores linked to it.
    for child in children:
        (output,) = child.outputs.model_outputs
        linked = {m.key for m in client.get_logged_model(output.model_id).metrics}
        assert "validation/accuracy" in linked
    assert {(c.data.params["model.lr"], c.data.params["model.dropout"]) for c in children} == {
        ("0.001", "0"),
        ("0.001", "0.1"),
        ("0.003", "0"),
        ("0.003", "0.1"),
    }
    assert {c.data.tags["bakeoff.budget"] for c in children} == {"grid, 4 trials"}
    scores = [c.data.metrics["validation/accuracy"] for c in children]
    best = yaml.safe_load((project / "multirun/grid-mlp/best.yaml").read_text())
    winner = children[scores.index(max(scores))]
    assert best["value"] == max(scores) == parent.data.metrics["best/validation/accuracy"]
    assert best["best_run_id"] == winner.info.run_id == parent.data.params["best.run_id"]
    assert best["overrides"]["model.lr"] == parent.data.params["best.model.lr"]
    assert float(best["overrides"]["model.lr"]) == float(winner.data.params["model.lr"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["budget"] == "grid, 4 trials"
    # The search space is the grid itself, not conf/search/mlp.yaml (Optuna's).
    assert {k: v for k, v in parent.data.params.items() if k.startswith("search.")} == {
        "search.model.lr": "1e-3,3e-3",
        "search.model.dropout": "0,0.1",
    }
    assert parent.data.metrics["sweep/trials"] == 4 and parent.data.metrics["sweep/failed"] == 0
    # Each trial's run says what stopped it; the sweep counts them and names the best's.
    assert all("time budget" in c.data.tags[tags.GUARD] for c in children)
    assert parent.data.metrics["sweep/guarded"] == best["guarded"] == 4
    assert best["best_guard"] == winner.data.tags[tags.GUARD]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"optimisation_history.png", "search_space.yaml", "best.yaml"} <= artifacts


def test_a_failing_trial_is_a_failed_child_and_the_sweep_goes_on(project):
    sweep(project, "failing", "model=logreg", "model.C=1,-1")  # C must be positive
    parent, (good, bad) = sweep_runs(project_client(project), "failing")
    assert good.info.status == "FINISHED" and bad.info.status == "FAILED"
    assert "'C' parameter of LogisticRegression" in bad.data.tags["bakeoff.error"]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["bakeoff.failed_trials"] == "1"
    best = yaml.safe_load((project / "multirun/failing/best.yaml").read_text())
    assert (best["trials"], best["finished"], best["failed"]) == (2, 1, 1)
    assert best["best_run_id"] == good.info.run_id


def test_tune_all_gives_each_contestant_a_sweep_of_the_same_budget(project):
    run(
        project,
        "python",
        "-m",
        "bakeoff.cli.tune",
        "all",
        "--models",
        "dummy,logreg",
        "--trials",
        "2",
        "--out",
        "multirun/tune-all",
    )
    summary = json.loads((project / "multirun/tune-all/summary.json").read_text())
    assert summary["not_tuned"] == ["dummy"]  # its search space is empty
    (row,) = summary["models"]
    assert (row["model"], row["trials"], row["finished"], row["guarded"]) == ("logreg", 2, 2, 0)
    parent, children = sweep_runs(project_client(project), "tune-all/logreg")
    assert len(children) == 2 and parent.data.tags["bakeoff.budget"] == row["budget"]


@pytest.mark.slow  # tens of seconds on two cores: make test ALL=1
def test_four_parallel_jobs_on_a_fresh_store_all_finish(project, tmp_path):
    """MLflow's migration of a new SQLite store races when processes start together; the
    sweep creates the store before its jobs start, so all four land."""
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = sweep(
        project,
        "fresh-store",
        "model=logreg",
        "model.C=0.01,0.1,1,10",
        "hydra.launcher.n_jobs=4",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert "Joblib.Parallel(n_jobs=4" in result.stdout + result.stderr
    client = mlflow.MlflowClient(uri)
    parent, children = sweep_runs(client, "fresh-store")
    assert parent.info.status == "FINISHED"
    assert [c.info.status for c in children] == ["FINISHED"] * 4
    for child in children:
        assert "validation/accuracy" in child.data.metrics
        (output,) = child.outputs.model_outputs  # the trial's model, a LoggedModel
        artifacts = client.list_logged_model_artifacts(output.model_id)
        assert "MLmodel" in {a.path.rsplit("/", 1)[-1] for a in artifacts}


@pytest.mark.slow  # tens of seconds on two cores: make test ALL=1
def test_optuna_tunes_a_network_in_parallel_trials_starting_from_its_defaults(project):
    sweep(
        project,
        "optuna-mlp",
        "hydra/sweeper=optuna",
        "model=mlp",
        "budget.trials=4",
        "hydra.launcher.n_jobs=2",
        "model.max_epochs=4",
    )
    parent, children = sweep_runs(project_client(project), "optuna-mlp")
    assert [c.info.status for c in children] == ["FINISHED"] * 4
    assert parent.data.params["budget"] == "optuna, 4 trials"
    assert parent.data.params["sweeper"] == "OptunaSweeper"
    assert parent.data.params["search.model.lr"] == "tag(log, interval(1e-4, 3e-3))"
    first = children[0].data.params
    assert (first["model.lr"], first["model.dropout"], first["model.hidden_sizes"]) == (
        "0.001",
        "0.1",
        "[256, 256]",
    )
    assert len({c.data.params["model.lr"] for c in children}) == 4  # then Optuna's picks
    client = project_client(project)
    for child in children:  # one final score, apart from the per-epoch val/ curves
        assert len(client.get_metric_history(child.info.run_id, "validation/accuracy")) == 1
    results = yaml.safe_load(
        (project / "multirun/optuna-mlp/optimization_results.yaml").read_text()
    )
    best = yaml.safe_load((project / "multirun/optuna-mlp/best.yaml").read_text())
    assert (
        results["best_value"]
        == best["value"]
        == max(c.data.metrics["validation/accuracy"] for c in children)
    )


@pytest.mark.slow
@pytest.mark.usefixtures("restored")
def test_best_trial_of_a_sweep_reproduces_through_the_pipeline(project):
    sweep(
        project,
        "optuna-hgb",
        "hydra/sweeper=optuna",
        "model=hist_gradient_boosting",
        "budget.trials=4",
        "hydra.launcher.n_jobs=2",
    )
    best = yaml.safe_load((project / "multirun/optuna-hgb/best.yaml").read_text())
    assert (best["trials"], best["finished"]) == (4, 4)
    result = run(
        project, "python", "-m", "bakeoff.cli.tune", "apply", "multirun/optuna-hgb", "--run", *QUICK
    )
    assert [s for s in stages_run(result.stdout) if s.startswith("contestant")] == [
        "contestant@hist_gradient_boosting"
    ]
    trained = json.loads((project / "data/models/hist_gradient_boosting/train.json").read_text())
    assert trained["val"]["accuracy"] == best["value"]
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert board["models"]["hist_gradient_boosting"]["tuning"] == (
        "optuna, 4 trials (sweep optuna-hgb)"
    )
    assert board["models"]["logreg"]["tuning"] == "defaults"
    assert "optuna, 4 trials (sweep optuna-hgb)" in (project / "reports/leaderboard.md").read_text()


@pytest.mark.slow
@pytest.mark.usefixtures("restored")
def test_queued_experiments_run_two_at_a_time_and_log_to_the_project_store(project):
    # A short line-up keeps the copies' checkouts small; logreg is what changes.
    short = line_up("dummy", "logreg", "hist_gradient_boosting", "mlp")
    started = int(time.time() * 1000)
    # C values no other test trains: DVC's run cache would restore those without a new run.
    for c in ("0.25", "4.0"):
        run(
            project,
            "dvc",
            "exp",
            "run",
            "--queue",
            *QUICK[:2],
            *QUICK_VERDICT,
            *short,
            "-S",
            f"models.logreg.C={c}",
        )
    run(project, "dvc", "queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = run(project, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") == 2, status
    client = project_client(project)
    experiment_id = client.get_experiment_by_name("breast_cancer").experiment_id
    runs = client.search_runs(
        [experiment_id],
        f"tags.`bakeoff.model` = 'logreg' and attributes.start_time > {started}",
    )
    assert all(r.data.tags["bakeoff.dvc_experiment"] for r in runs)
    assert sorted(r.data.params["model.C"] for r in runs) == ["0.25", "4.0"]
    assert all(r.info.status == "FINISHED" and "test/accuracy" in r.data.metrics for r in runs)


def test_sweep_through_a_tracking_server_backed_by_postgresql(
    project,
    mlflow_server,
    postgres_url,
):
    sweep(
        project,
        "server",
        "model=logreg",
        "model.C=0.1,1",
        "hydra.launcher.n_jobs=2",
        env={"MLFLOW_TRACKING_URI": mlflow_server.uri},
    )
    client = mlflow.MlflowClient(mlflow_server.uri)
    parent, children = sweep_runs(client, "server")
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep/finished"] == 2
    assert [c.info.status for c in children] == ["FINISHED"] * 2
    experiment_id = parent.info.experiment_id
    for child in children:
        assert 0.5 < child.data.metrics["validation/accuracy"] <= 1
        # The logged model's files, on the server's artifact store (proxied uploads).
        (output,) = child.outputs.model_outputs
        stored = list(
            mlflow_server.artifacts.glob(f"{experiment_id}/**/{output.model_id}/**/MLmodel")
        )
        assert len(stored) == 1, sorted(mlflow_server.artifacts.rglob("MLmodel"))
    assert (
        mlflow_server.artifacts / experiment_id / parent.info.run_id / "artifacts" / "best.yaml"
    ).is_file()
    # The parent logged the data before the trials started, so parallel trials found each
    # dataset in the store instead of racing to insert it.
    inputs = {d.dataset.name: d.dataset.digest for d in parent.inputs.dataset_inputs}
    assert sorted(inputs) == ["breast_cancer/train", "breast_cancer/val"]
    for child in children:
        assert {d.dataset.name: d.dataset.digest for d in child.inputs.dataset_inputs} == inputs
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("select status from runs where experiment_id = :e"),
            {"e": int(experiment_id)},
        ).all()
        datasets = connection.execute(
            sqlalchemy.text("select name from datasets where experiment_id = :e"),
            {"e": int(experiment_id)},
        ).all()
    engine.dispose()
    assert sorted(r.status for r in rows) == ["FINISHED"] * 3
    assert sorted(d.name for d in datasets) == sorted(inputs)
