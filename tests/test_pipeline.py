"""End to end: the real DVC pipeline on the embedded dataset, in a temporary copy of the project."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import mlflow
import pandas as pd
import pytest
import yaml

from bakeoff.paths import model_dir
from pipeline_project import (
    DEEP,
    MODELS,
    PROJECT_ROOT,
    QUICK,
    QUICK_VERDICT,
    _env,
    line_up,
    mlp_settings,
    run,
    stages_run,
)


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
    # The weighted average of the best of each family joins the leaderboard as a contestant.
    assert set(board["models"]) == {*MODELS, "ensemble"}
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
    assert sorted(r.data.tags["bakeoff.model"] for r in runs) == sorted([*MODELS, "ensemble"])
    raw = pd.read_parquet(project / "data/raw/dataset.parquet").head(20)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    for r in runs:
        name = r.data.tags["bakeoff.model"]
        assert r.info.status == "FINISHED"
        assert "test/accuracy" in r.data.metrics
        members = r.data.params.get("ensemble.members") or r.data.params["model._target_"]
        assert members
        assert r.data.tags["bakeoff.data_hash"] and r.data.tags["hardware.cpu"]
        # The run's logged model, by id (what train.json and the registry name) and by name.
        (output,) = r.outputs.model_outputs
        trained = json.loads((project / model_dir(name) / "train.json").read_text())
        assert trained["model_uri"] == f"models:/{output.model_id}"
        for uri in (trained["model_uri"], f"runs:/{r.info.run_id}/{name}"):
            predictions = mlflow.pyfunc.load_model(uri).predict(raw)
            assert len(predictions) == 20 and {"prediction", "proba_0", "proba_1"} <= set(
                predictions.columns
            )
    mlp = next(r for r in runs if r.data.tags["bakeoff.model"] == "mlp")
    assert len(client.get_metric_history(mlp.info.run_id, "val/loss")) > 1  # per-epoch curve


def test_editing_a_plotting_helper_makes_exactly_the_plotting_stages_stale(project):
    """dvc.yaml's code deps are each stage's import closure: a change to the plots module is
    seen by the stages that draw (every contestant, the ensemble, compare, learning_curve),
    and only them."""
    plots = project / "src/bakeoff/reporting/plots.py"
    original = plots.read_text()
    try:
        plots.write_text(original.replace("dpi=110", "dpi=120"))
        status = json.loads(run(project, "dvc", "status", "--json").stdout)
    finally:
        plots.write_text(original)
    drawing = {f"contestant@{name}" for name in MODELS} | {"ensemble", "compare", "learning_curve"}
    assert set(status) == drawing, sorted(status)
    changes = [c["changed deps"] for entry in status.values() for c in entry if "changed deps" in c]
    assert len(changes) == len(drawing)
    assert all(change == {"src/bakeoff/reporting/plots.py": "modified"} for change in changes)
    assert run(project, "dvc", "status", "--json").stdout.strip() in ("{}", "")


def test_second_run_is_a_noop_and_exp_show_lists_metrics(project):
    result = run(project, "dvc", "repro")
    assert stages_run(result.stdout) == []
    assert "Data and pipelines are up to date" in run(project, "dvc", "status").stdout
    shown = run(project, "dvc", "exp", "show", "--json").stdout
    assert "reports/leaderboard.json" in shown and "accuracy" in shown


@pytest.mark.slow
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
    trained = [s for s in stages_run(result.stdout) if s.startswith("contestant")]
    assert trained == ["contestant@logreg"]
    assert "compare" in stages_run(result.stdout)


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


@pytest.mark.slow
@pytest.mark.usefixtures("restored")
def test_a_model_that_fails_is_reported_and_the_others_kept(project):
    """A NaN loss (absurd learning rate): the run is FAILED with the epoch named, the
    bake-off completes without the model and lists it as failed."""
    result = run(project, "dvc", "exp", "run", *QUICK, "-S", "models.mlp.lr=1e12")
    stages = stages_run(result.stdout)
    assert "contestant@mlp" in stages and stages[-1] == "report"
    assert {"compare", "learning_curve", "promote"} <= set(stages[-4:])
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert "mlp" not in board["models"] and board["best_deep"] in DEEP[1:]
    assert "FloatingPointError" in board["failed"]["mlp"]["error"]
    assert "at epoch 0" in board["failed"]["mlp"]["error"]
    assert "Failed to train" in (project / "reports/leaderboard.md").read_text()
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    failed = client.get_run(board["failed"]["mlp"]["run_id"])
    assert failed.info.status == "FAILED"
    assert "learning rate" in failed.data.tags["bakeoff.error"]
    # Its refits are not attempted: recorded as failed with the reason, and no interval for it.
    resampled = json.loads((project / "reports/resample/mlp.json").read_text())
    assert resampled["status"] == "failed" and "FloatingPointError" in resampled["error"]


def test_sigterm_leaves_a_killed_run_and_a_checkpoint_that_resumes(project):
    """A terminated training process: MLflow run KILLED (never RUNNING), last.ckpt left
    behind; BAKEOFF_RESUME=1 continues from it and finishes the planned epochs."""
    # Early stopping out of reach: the run is still training when it is terminated.
    checkpoint = project / "checkpoints/breast_cancer/mlp/last.ckpt"
    # Earlier runs leave their own checkpoints: wait for this run's first one, not theirs.
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    with mlp_settings(project, max_epochs=150, patience=150) as new_runs:
        process = subprocess.Popen(
            ["python", "-m", "bakeoff.stages.contestant", "mlp"],
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

        resumed = run(
            project, "python", "-m", "bakeoff.stages.contestant", "mlp", env={"BAKEOFF_RESUME": "1"}
        )
        assert f"resuming from {checkpoint}" in resumed.stderr + resumed.stdout
        trained = json.loads((project / "data/models/mlp/train.json").read_text())
        assert trained["status"] == "trained" and trained["epochs"] == 150


@pytest.mark.slow  # tens of seconds on two cores: make test ALL=1
def test_ddp_on_two_cpu_processes_trains_once_and_rank_zero_alone_logs(project):
    """trainer=ddp with 2 gloo processes: Lightning re-runs the stage for rank 1, both ranks
    train on their shards, and exactly one MLflow run (rank 0's) records the result."""
    trainer = yaml.safe_load((project / "conf/trainer/ddp.yaml").read_text())
    ddp = {"max_epochs": 30, "trainer": {**trainer, "accelerator": "cpu"}}
    with mlp_settings(project, **ddp) as new_runs:
        result = run(project, "python", "-m", "bakeoff.stages.contestant", "mlp")
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


@pytest.mark.slow  # tens of seconds on two cores: make test ALL=1
def test_ddp_training_that_diverges_ends_every_rank_and_rank_zero_records_it(project):
    """trainer=ddp with a NaN loss: both ranks stop at the same epoch, rank 0 records the
    failure, and rank 1 ends there too, rather than start the refits of a model that never
    trained, whose collectives wait on a rank 0 that has gone."""
    trainer = yaml.safe_load((project / "conf/trainer/ddp.yaml").read_text())
    ddp = {"max_epochs": 5, "lr": 1e12, "trainer": {**trainer, "accelerator": "cpu"}}
    with mlp_settings(project, **ddp) as new_runs:
        # A hang shows as a timeout, not as a test that waits for the suite's limit.
        result = subprocess.run(
            ["python", "-m", "bakeoff.stages.contestant", "mlp"],
            cwd=project,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-2000:]
        assert "mlp on DDP rank 1: " in output  # rank 1 saw the NaN too
        # ... and ended there: no refits of a model that never trained, waiting on rank 0.
        assert "refitting" not in output and "failed on a resample" not in output
        (failed,) = new_runs()
        assert failed.info.status == "FAILED"
        trained = json.loads((project / "data/models/mlp/train.json").read_text())
        assert trained["status"] == "failed" and "FloatingPointError" in trained["error"]


@pytest.mark.slow
@pytest.mark.usefixtures("restored")
def test_image_dataset_runs_the_bake_off_with_the_cnn(project):
    """digits: ingest decodes images into pixel columns, the CNN joins the line-up."""
    quick = ["-S", "models.cnn.max_epochs=8", *QUICK_VERDICT, *line_up("dummy", "logreg")]
    result = run(project, "dvc", "exp", "run", "-S", "data=digits", *quick)
    assert "contestant@cnn" in stages_run(result.stdout)
    card = json.loads((project / "data/interim/data_card.json").read_text())
    assert card["image"]["shape"] == [1, 8, 8] and card["rows"] == 1797
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert set(board["models"]) == {"dummy", "logreg", "cnn", "ensemble"}
    assert board["models"]["cnn"]["family"] == "deep"
    assert board["models"]["cnn"]["accuracy"] > board["models"]["dummy"]["accuracy"] + 0.5


def test_the_verdict_report_shows_its_evidence_and_opens_in_a_browser(project):
    """The normal pipeline run wrote the report: intervals from paired folds, the family test,
    learning curves, importance for every model (networks too), the cost ledger; the page is
    self-contained, logged to MLflow, and a real browser shows every image without overflow."""
    from browser import check_page, problems, require_chromium

    board = json.loads((project / "reports/leaderboard.json").read_text())
    folds = {}
    for name in MODELS:
        cv = board["models"][name]["cv"]["accuracy"]
        assert 0 <= cv["low"] <= cv["mean"] <= cv["high"] <= 1 and cv["n"] == 3, name
        record = json.loads((project / f"reports/resample/{name}.json").read_text())
        folds[name] = [r["held_out"] for r in record["resamples"]]
        cost = board["models"][name]["cost"]
        assert 0 < cost["resample_wall_seconds"] == record["wall_seconds"]
        assert cost["fit_seconds"] > 0 and cost["latency_p95_ms"] > 0 and cost["model_size_mb"] > 0
        assert cost["hardware"]["cpu_cores"] > 0 and cost["accelerator"] == "cpu"
        importance = json.loads((project / f"reports/evaluate/{name}/importance.json").read_text())
        assert len(importance["columns"]) == 30 and importance["metric"] == "log_loss"
    assert len({tuple(f) for f in folds.values()}) == 1  # every model on the same folds
    for name in DEEP:
        assert board["models"][name]["cost"]["parameters"] > 1000
    assert board["models"]["random_forest"]["cost"]["tree_nodes"] > 100
    # The networks rely on the data too: shuffling their top column costs log loss.
    mlp = json.loads((project / "reports/evaluate/mlp/importance.json").read_text())
    assert max(c["mean"] for c in mlp["columns"].values()) > 0.01

    verdict = board["verdict"]
    assert (verdict["classical"], verdict["deep"]) == (board["best_classical"], board["best_deep"])
    assert verdict["resamples"] == 3 and verdict["low"] <= verdict["delta"] <= verdict["high"]
    sentence = verdict["sentence"]
    forms = (f"{verdict['classical']} beats", f"{verdict['deep']} beats", "No significant")
    assert sentence.startswith(forms), sentence
    # No constraints are set: the recommendation is the best-ranked model, on the front.
    assert board["recommendation"]["model"] == board["best_model"]
    assert board["best_model"] in board["pareto_front"]
    assert board["importance"]["agreement"]["columns"] == 30

    curve = json.loads((project / "reports/learning_curve.json").read_text())
    assert set(curve["models"]) == {board["best_classical"], board["best_deep"]}
    for name, info in curve["models"].items():
        assert [p["fraction"] for p in info["points"]] == [0.25, 0.5, 1.0]
        assert all(len(p["scores"]) == 2 for p in info["points"])
        # The final model is the first draw's full-size point: it is not fitted again.
        assert info["points"][-1]["scores"][0] == board["models"][name]["accuracy"]
    # A lead at full size stands only with the verdict's paired test behind it: every draw
    # there trains on the same rows.
    if verdict["significant"]:
        assert "hint, not a forecast" in curve["statement"]
    else:
        assert curve["leader"] is None and "within noise" in curve["statement"]

    report = project / "reports/breast_cancer/report.html"
    page = report.read_text()
    for section in (
        "Verdict",
        "Leaderboard",
        "Learning curves",
        "Cost ledger",
        "Importance",
        "Quality vs cost",
        "Registry",
        "Drift",
        "Data",
        "Reproduce",
    ):
        assert f"<h2>{section}</h2>" in page, section
    assert sentence in page.replace("&#x27;", "'") and "Nadeau" in page
    assert 'src="http' not in page and 'href="http' not in page
    summary = (project / "reports/breast_cancer/summary.md").read_text()
    assert sentence in summary and "## Learning curves" in summary

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    artifacts = {a.path for a in client.list_artifacts(board["pipeline_run_id"])}
    assert {"report.html", "summary.md", "learning_curve.png", "pareto.png"} <= artifacts
    shown = run(project, "dvc", "plots", "show", "--json").stdout
    assert "learning curves" in shown and "leaderboard" in shown

    require_chromium()
    screenshot = PROJECT_ROOT / "tests/artifacts/report-breast_cancer.png"
    result = check_page(report, screenshot)
    assert result["images"] == 3 and not problems(result), problems(result)
    # At 1280 px every table shows every column: nothing hides behind a sideways scroll.
    assert result["viewport"]["width"] == 1280 and result["scrolled"] == [], result["scrolled"]
    assert screenshot.stat().st_size > 50_000
