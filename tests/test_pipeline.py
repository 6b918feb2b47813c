"""End to end: the real DVC pipeline on the embedded dataset, in a temporary copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

# Small but real: fewer epochs and trees than the defaults.
QUICK = [
    "-S",
    "models.mlp.max_epochs=30",
    "-S",
    "models.resnet.max_epochs=20",
    "-S",
    "models.ft_transformer.max_epochs=10",
    "-S",
    "models.random_forest.n_estimators=100",
    "-S",
    "models.extra_trees.n_estimators=100",
]
MODELS = [
    "dummy",
    "logreg",
    "knn",
    "svm",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "mlp",
    "resnet",
    "ft_transformer",
]
DEEP = ["mlp", "resnet", "ft_transformer"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        env[key] = "bakeoff tests"
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        env[key] = "tests@bakeoff.invalid"
    return env


def run(
    project: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args,
        cwd=project,
        env={**_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


@contextmanager
def mlp_settings(project: Path, **changes) -> Iterator[Callable[[], list]]:
    """params.yaml with models.mlp changed, for a direct `python -m bakeoff.train mlp`;
    yields a function listing the MLflow runs created since. Restores params.yaml and the
    pipeline's mlp model afterwards."""
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    seen = {r.info.run_id for r in client.search_runs([experiment])}
    params = project / "params.yaml"
    original = params.read_text()
    changed = yaml.safe_load(original)
    changed["models"]["mlp"].update(changes)
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        yield lambda: [r for r in client.search_runs([experiment]) if r.info.run_id not in seen]
    finally:
        params.write_text(original)
        run(project, "dvc", "checkout", "data/models/mlp", check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git + DVC copy of the project's files (committed or not), after one pipeline run."""
    root = tmp_path_factory.mktemp("bakeoff") / "project"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = PROJECT_ROOT / name
        results = name.startswith(("data/", "reports/")) and not name.startswith("data/external/")
        if results or not source.is_file():
            continue  # results of the developer's own runs stay behind
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "copy")
    result = run(root, "dvc", "exp", "run", *QUICK)
    assert stages_run(result.stdout)[:5] == ["config", "ingest", "validate", "split", "featurize"]
    snapshot = root.parent / "snapshot"  # what `restored` puts back
    shutil.copytree(root / "reports", snapshot / "reports")
    for name in SNAPSHOT_FILES:
        shutil.copy2(root / name, snapshot / name)
    return root


# What the first pipeline run wrote that DVC's cache cannot give back: params.yaml (as the
# QUICK overrides composed it), dvc.lock, and reports/ (outputs with `cache: false`).
SNAPSHOT_FILES = ("params.yaml", "dvc.lock")


@pytest.fixture
def restored(project) -> Iterator[Path]:
    """For a test that changes the project: afterwards conf/, params.yaml, dvc.lock and every
    output are as the first pipeline run left them (outputs from DVC's cache), so no test
    depends on what the ones before it did."""
    yield project
    snapshot = project.parent / "snapshot"
    run(project, "git", "checkout", "--", "conf")
    shutil.rmtree(project / "reports")
    shutil.copytree(snapshot / "reports", project / "reports")
    for name in SNAPSHOT_FILES:
        shutil.copy2(snapshot / name, project / name)
    run(project, "dvc", "checkout", "--force")


def test_outputs_exist_and_every_model_beats_dummy(project):
    for name in (
        "data/raw/dataset.parquet",
        "data/raw/data_card.json",
        "data/interim/data_card.json",
        "reports/validation.json",
        "data/processed/test.parquet",
        "reports/leaderboard.md",
        "reports/comparison.png",
    ):
        assert (project / name).is_file(), name
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert set(board["models"]) == set(MODELS)
    assert board["best_classical"] in MODELS and board["best_deep"] in DEEP
    dummy = board["models"]["dummy"]["accuracy"]
    for name in MODELS[1:]:
        assert board["models"][name]["accuracy"] > dummy + 0.2, name
        assert (project / f"reports/evaluate/{name}/plots/roc_curve.png").is_file()
        assert (
            board["models"][name]["latency_p95_ms"] >= board["models"][name]["latency_p50_ms"] > 0
        )


def test_one_finished_run_per_model_loads_from_mlflow(project):
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("breast_cancer")
    (parent, *_) = client.search_runs(
        [experiment.experiment_id],
        "tags.`bakeoff.kind` = 'pipeline'",
        order_by=["attributes.start_time ASC"],
    )
    assert parent.info.status == "FINISHED"
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert sorted(r.data.tags["bakeoff.model"] for r in runs) == sorted(MODELS)
    raw = pd.read_parquet(project / "data/raw/dataset.parquet").head(20)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    for r in runs:
        assert r.info.status == "FINISHED"
        assert "test/accuracy" in r.data.metrics and r.data.params["model._target_"]
        assert r.data.tags["bakeoff.data_hash"] and r.data.tags["hardware.cpu"]
        predictions = mlflow.pyfunc.load_model(f"runs:/{r.info.run_id}/model").predict(raw)
        assert len(predictions) == 20 and {"prediction", "proba_0", "proba_1"} <= set(
            predictions.columns
        )
    mlp = next(r for r in runs if r.data.tags["bakeoff.model"] == "mlp")
    assert len(client.get_metric_history(mlp.info.run_id, "val/loss")) > 1  # per-epoch curve


def test_second_run_is_a_noop_and_exp_show_lists_metrics(project):
    result = run(project, "dvc", "repro")
    assert stages_run(result.stdout) == []
    assert "Data and pipelines are up to date" in run(project, "dvc", "status").stdout
    shown = run(project, "dvc", "exp", "show", "--json").stdout
    assert "reports/leaderboard.json" in shown and "accuracy" in shown


@pytest.mark.usefixtures("restored")
def test_conf_edit_then_repro_stops_and_exp_run_retrains_that_model_alone(project):
    conf = project / "conf/model/logreg.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.5"))
    stale = run(project, "dvc", "repro", check=False)
    assert stale.returncode != 0
    assert "models.logreg.C: conf/ has 0.5, params.yaml has 1.0" in stale.stderr + stale.stdout
    assert "dvc exp run" in stale.stderr + stale.stdout
    assert stages_run(stale.stdout) == ["config"]

    result = run(project, "dvc", "exp", "run", *QUICK)
    trained = [s for s in stages_run(result.stdout) if s.startswith(("train", "evaluate"))]
    assert trained == ["train@logreg", "evaluate@logreg"]
    assert "compare" in stages_run(result.stdout)


def test_hydra_multirun_grid_logs_each_job(project):
    result = run(
        project,
        "python",
        "-m",
        "bakeoff.sweep",
        "-m",
        "model=mlp",
        "model.lr=1e-3,3e-3",
        "model.dropout=0,0.1",
        "model.max_epochs=3",
    )
    assert (
        result.stderr.count("validation accuracy") == 4
        or result.stdout.count("validation accuracy") == 4
    )
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("breast_cancer")
    runs = client.search_runs([experiment.experiment_id], "tags.`bakeoff.sweep` != ''")
    assert len(runs) == 4
    assert {(r.data.params["model.lr"], r.data.params["model.dropout"]) for r in runs} == {
        ("0.001", "0"),
        ("0.001", "0.1"),
        ("0.003", "0"),
        ("0.003", "0.1"),
    }
    assert all(r.info.status == "FINISHED" and "val/accuracy" in r.data.metrics for r in runs)


@pytest.mark.usefixtures("restored")
def test_bad_input_stops_at_validate_with_every_problem_named(project):
    """Two columns the table lacks: validate lists both and fails; nothing downstream runs."""
    before = (project / "data/interim/train.parquet").stat().st_mtime_ns
    result = run(
        project,
        "dvc",
        "exp",
        "run",
        "-S",
        "data.drop_columns=[patient_id,mean_radius]",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert stages_run(result.stdout)[-1] == "validate"
    assert "2 error(s)" in output
    assert "data.drop_columns names column 'patient_id'" in output
    assert "did you mean ['mean radius']" in output
    report = json.loads((project / "reports/validation.json").read_text())
    assert report["status"] == "failed"
    assert [p["rule"] for p in report["problems"]] == ["configured_column_missing"] * 2
    assert not (project / "data/interim/dataset.parquet").exists()
    assert (project / "data/interim/train.parquet").stat().st_mtime_ns == before


@pytest.mark.usefixtures("restored")
def test_a_model_that_fails_is_reported_and_the_others_kept(project):
    """A NaN loss (absurd learning rate): the run is FAILED with the epoch named, the
    bake-off completes without the model and lists it as failed."""
    result = run(project, "dvc", "exp", "run", *QUICK, "-S", "models.mlp.lr=1e12")
    assert stages_run(result.stdout)[-1] == "compare"
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert "mlp" not in board["models"] and board["best_deep"] in DEEP[1:]
    assert "FloatingPointError" in board["failed"]["mlp"]["error"]
    assert "at epoch 0" in board["failed"]["mlp"]["error"]
    assert "Failed to train" in (project / "reports/leaderboard.md").read_text()
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    failed = client.get_run(board["failed"]["mlp"]["run_id"])
    assert failed.info.status == "FAILED"
    assert "learning rate" in failed.data.tags["bakeoff.error"]


def test_sigterm_leaves_a_killed_run_and_a_checkpoint_that_resumes(project):
    """A terminated training process: MLflow run KILLED (never RUNNING), last.ckpt left
    behind; BAKEOFF_RESUME=1 continues from it and finishes the planned epochs."""
    # Early stopping out of reach: the run is still training when it is terminated.
    checkpoint = project / "checkpoints/breast_cancer/mlp/last.ckpt"
    # Earlier runs leave their own checkpoints: wait for this run's first one, not theirs.
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    with mlp_settings(project, max_epochs=600, patience=600) as new_runs:
        process = subprocess.Popen(
            ["python", "-m", "bakeoff.train", "mlp"],
            cwd=project,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(480):  # wait for the first epoch's checkpoint (imports take seconds)
            if checkpoint.is_file() or process.poll() is not None:
                break
            time.sleep(0.25)
        assert checkpoint.is_file(), "training never reached its first checkpoint"
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        assert process.returncode != 0, output[-2000:]
        (killed,) = new_runs()
        assert killed.info.status == "KILLED"
        assert checkpoint.is_file()

        resumed = run(project, "python", "-m", "bakeoff.train", "mlp", env={"BAKEOFF_RESUME": "1"})
        assert f"resuming from {checkpoint}" in resumed.stderr + resumed.stdout
        trained = json.loads((project / "data/models/mlp/train.json").read_text())
        assert trained["status"] == "trained" and trained["epochs"] == 600


def test_ddp_on_two_cpu_processes_trains_once_and_rank_zero_alone_logs(project):
    """trainer=ddp with 2 gloo processes: Lightning re-runs the stage for rank 1, both ranks
    train on their shards, and exactly one MLflow run (rank 0's) records the result."""
    trainer = yaml.safe_load((project / "conf/trainer/ddp.yaml").read_text())
    ddp = {"max_epochs": 30, "trainer": {**trainer, "accelerator": "cpu"}}
    with mlp_settings(project, **ddp) as new_runs:
        result = run(project, "python", "-m", "bakeoff.train", "mlp")
        output = result.stdout + result.stderr
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output
        assert "mlp: DDP rank 1 trained; rank 0 records the run" in output
        (logged,) = new_runs()
        assert logged.info.status == "FINISHED"
        assert logged.data.params["model.trainer.strategy"] == "ddp"
        trained = json.loads((project / "data/models/mlp/train.json").read_text())
        assert trained["status"] == "trained" and trained["run_id"] == logged.info.run_id
        client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
        accuracy = client.get_metric_history(logged.info.run_id, "val/accuracy")
        assert len(accuracy) == trained["epochs"] and max(m.value for m in accuracy) > 0.9


@pytest.mark.usefixtures("restored")
def test_image_dataset_runs_the_bake_off_with_the_cnn(project):
    """digits: ingest decodes images into pixel columns, the CNN joins the line-up."""
    quick = ["-S", "models.cnn.max_epochs=8", "-S", "models.mlp.max_epochs=8"]
    # Hydra's `~` takes contestants out of this run's line-up (keeps the test short).
    dropped = ["knn", "svm", "random_forest", "extra_trees", "resnet", "ft_transformer"]
    for name in dropped:
        quick += ["-S", f"~model@models.{name}"]
    result = run(project, "dvc", "exp", "run", "-S", "data=digits", *QUICK[:2], *quick)
    assert "train@cnn" in stages_run(result.stdout)
    card = json.loads((project / "data/interim/data_card.json").read_text())
    assert card["image"]["shape"] == [1, 8, 8] and card["rows"] == 1797
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert set(board["models"]) == {*MODELS, "cnn"} - set(dropped)
    assert board["models"]["cnn"]["family"] == "deep"
    assert board["models"]["cnn"]["accuracy"] > board["models"]["dummy"]["accuracy"] + 0.5
