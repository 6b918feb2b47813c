"""The retraining loop, end to end in the shared project copy: batches arrive in a folder,
`dvc exp run` re-splits stably, reports drift, registers a challenger and promotes it only
when it is better; a drifted batch halts retraining; the champion is served over HTTP and
by batch prediction alike; a rollback is one command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from pipeline_project import _env, line_up, run, stages_run

pytestmark = pytest.mark.slow

NAME = "batches"
CARD = """\
name: batches
source:
  kind: file
  path: data/external/batches   # every file in the folder, by name: one batch each
target: label
task: classification
key: [id]                     # identifies rows across batches; not a feature
drop_columns: []
column_types: {}
"""
# A one-model line-up (logreg) keeps the three pipeline runs quick. Serving a deep champion
# uses the shared project's MLP (breast_cancer).
DROPPED = line_up("logreg")


def make_batch(
    seed: int,
    n: int,
    first_id: int,
    shift: float = 0.0,
    new_colour: float = 0.0,
    x2_effect: float = -1.0,
):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    colour = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    colour[rng.random(n) < new_colour] = "purple"
    logit = 1.5 * x1 + x2_effect * x2 + 0.8 * (colour == "red")
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n),
            "x1": x1.round(4),
            "x2": x2.round(4),
            "colour": colour,
            "label": label,
        }
    )


def exp_run(project: Path, *extra: str, check: bool = True):
    return run(project, "dvc", "exp", "run", "-S", f"data={NAME}", *DROPPED, *extra, check=check)


def split_ids(project: Path, part: str) -> set[int]:
    return set(pd.read_parquet(project / f"data/interim/{part}.parquet")["id"])


def client_for(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def champion(client, name: str = NAME) -> str:
    return str(client.get_model_version_by_alias(name, "champion").version)


def predict_cli(project: Path, model: str, rows: Path, out: Path, check=True, name=NAME):
    """`python -m bakeoff.cli.predict` in the project (batches rows carry an `id` to keep)."""
    keep = ["--keep", "id"] if name == NAME else []
    args = ["--model", model, "--input", str(rows), "--output", str(out), "--name", name]
    return run(project, sys.executable, "-m", "bakeoff.cli.predict", *args, *keep, check=check)


def registry(project: Path, command: str, name: str, *args: str):
    """`python -m bakeoff.tracking.registry <command> --name <name> ...` in the project."""
    return run(
        project, sys.executable, "-m", "bakeoff.cli.registry", command, "--name", name, *args
    )


def history_of(client, name: str) -> list[dict]:
    return json.loads(client.get_registered_model(name).tags["bakeoff.champion_history"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served_predictions(project: Path, uri: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Start `mlflow models serve` on 127.0.0.1, send the rows, stop it."""
    port = free_port()
    env = {**_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    return pd.DataFrame(json.loads(response.read())["predictions"])
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stdout.read().decode()[-3000:]) from None
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def assert_same_predictions(served: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert list(served["prediction"].astype(str)) == list(batch["prediction"].astype(str))
    proba = [c for c in batch.columns if c.startswith("proba_")]
    np.testing.assert_allclose(
        served[proba].to_numpy(float), batch[proba].to_numpy(float), rtol=1e-6
    )


def test_new_batches_drift_promotion_serving_and_rollback(restored, tmp_path):
    project = restored
    (project / "conf/data/batches.yaml").write_text(CARD)
    folder = project / "data/external/batches"
    folder.mkdir(parents=True)
    client = client_for(project)
    try:
        _loop(project, folder, client, tmp_path)
    finally:
        shutil.rmtree(folder)  # the breast_cancer pipeline depends on data/external


def _loop(project: Path, folder: Path, client, tmp_path: Path) -> None:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")  # for models:/ URIs here
    try:
        _steps(project, folder, client, tmp_path)
    finally:
        mlflow.set_tracking_uri(previous)


def _steps(project: Path, folder: Path, client, tmp_path: Path) -> None:
    # The shared project's breast_cancer MLP, for serving a deep champion in step 5.
    deep_model = json.loads((project / "data/models/mlp/train.json").read_text())["model_uri"]
    # 1. The first batch: v1 becomes champion. In it x2 does not matter (it will).
    make_batch(1, 700, 0, x2_effect=0.0).to_csv(folder / "2026-01.csv", index=False)
    exp_run(project, "-S", "promote.margin=0.005")
    promotion = json.loads((project / "reports/promotion.json").read_text())
    assert promotion["challenger_version"] == "1" and promotion["decision"] == "promoted"
    assert promotion["reasons"] == ["first model: there was no champion"]
    assert champion(client) == "1"
    assert json.loads((project / "reports/drift.json").read_text())["status"] == "single_batch"
    first = {part: split_ids(project, part) for part in ("train", "val", "test")}
    new_rows = make_batch(9, 50, 10_000)
    rows_csv = tmp_path / "rows.csv"
    new_rows.drop(columns=["label"]).to_csv(rows_csv, index=False)
    predict_cli(project, "champion", rows_csv, tmp_path / "v1.csv")
    v1 = pd.read_csv(tmp_path / "v1.csv")
    assert list(v1["id"]) == list(new_rows["id"])
    direct = mlflow.pyfunc.load_model(f"models:/{NAME}/1").predict(new_rows.drop(columns="label"))
    assert_same_predictions(v1, direct)

    # 2. A second batch with the same columns' distributions (nothing drifts), in which x2
    # now moves the label strongly: only data-dependent stages re-run, rows keep their parts,
    # and v2, which has seen x2 matter, beats v1 (blind to it) by more than the margin.
    make_batch(2, 700, 1000, x2_effect=-3.0).to_csv(folder / "2026-02.csv", index=False)
    result = exp_run(project, "-S", "promote.margin=0.005")
    assert "config" not in stages_run(result.stdout)
    assert "ingest" in stages_run(result.stdout)
    for part, ids in first.items():
        assert ids <= split_ids(project, part), part
    drift = json.loads((project / "reports/drift.json").read_text())
    assert drift["status"] == "compared" and drift["flagged"] == [], drift["flagged"]
    assert drift["batch"].endswith("2026-02.csv") and drift["batch_rows"] == 700
    assert drift["reference_rows"] == len(first["train"])
    promotion = json.loads((project / "reports/promotion.json").read_text())
    assert promotion["challenger_version"] == "2" and promotion["champion_before"] == "1"
    # The challenger's run names the data it saw: the new batch, and DVC's hash of the split.
    challenger = client.get_run(client.get_model_version(NAME, "2").run_id)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    md5 = {out["path"]: out["md5"] for out in lock["stages"]["split"]["outs"]}
    seen = {i.dataset.name: i.dataset.digest for i in challenger.inputs.dataset_inputs}
    assert seen == {
        f"{NAME}/{part}@2026-02": md5[f"data/interim/{part}.parquet"]
        for part in ("train", "val", "test")
    }
    test = pd.read_parquet(project / "data/interim/test.parquet")
    X, y = test.drop(columns="label"), test["label"]
    # Accuracy computed here, not with promote's own functions: an independent check.
    scores = {
        v: float(
            (
                mlflow.pyfunc.load_model(f"models:/{NAME}/{v}").predict(X)["prediction"].astype(str)
                == y.astype(str).to_numpy()
            ).mean()
        )
        for v in ("1", "2")
    }
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert scores["2"] == pytest.approx(board["models"]["logreg"]["accuracy"])  # evaluate's
    assert promotion["champion_score"] == pytest.approx(scores["1"])
    assert promotion["challenger_score"] == pytest.approx(scores["2"])
    assert scores["2"] - scores["1"] > 0.005, scores
    assert promotion["decision"] == "promoted"
    assert promotion["reasons"] == [f"improvement {promotion['improvement']:+.4f} > margin 0.005"]
    assert champion(client) == "2"
    assert client.get_model_version(NAME, "2").tags["bakeoff.decision"] == promotion["decision"]
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == "2"
    report = (project / f"reports/{NAME}/report.html").read_text()
    assert promotion["decision"] in report and "No column drifted" in report

    # 3. A drifted batch with drift.action=stop: the pipeline halts before training.
    make_batch(3, 500, 2000, shift=1.5, new_colour=0.3).to_csv(folder / "2026-03.csv", index=False)
    result = exp_run(project, "-S", "drift.action=stop", check=False)
    assert result.returncode != 0
    assert (
        "x1" in result.stderr + result.stdout
        and "drift.action=warn" in result.stderr + result.stdout
    )
    drift = json.loads((project / "reports/drift.json").read_text())
    assert set(drift["flagged"]) == {"x1", "colour"}, drift["columns"]
    assert drift["columns"]["x1"]["psi"] > 0.2 and drift["columns"]["colour"]["unseen_share"] > 0.2
    assert len(client.search_model_versions(f"name='{NAME}'")) == 2  # no new challenger
    (folder / "2026-03.csv").unlink()

    # 4. The champion over HTTP equals batch prediction.
    current = champion(client)
    assert client.get_model_version(NAME, current).tags["bakeoff.family"] == "classical"
    predict_cli(project, "champion", rows_csv, tmp_path / "batch.csv")
    features = new_rows.drop(columns="label")
    served = served_predictions(project, f"models:/{NAME}@champion", features)
    assert_same_predictions(served, pd.read_csv(tmp_path / "batch.csv"))

    # 5. A deep champion likewise: the shared project's breast_cancer MLP, promoted by hand.
    before = champion(client, "breast_cancer")  # the pipeline's choice, to come back to
    deep = mlflow.register_model(deep_model, "breast_cancer").version
    registry(
        project, "promote", "breast_cancer", "--version", str(deep), "--reason", "serve the network"
    )
    assert champion(client, "breast_cancer") == str(deep)
    # Raw rows as the breast_cancer card delivers them (the project now holds batches').
    cancer_rows = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20)
    cancer_rows.to_csv(tmp_path / "cancer.csv", index=False)
    predict_cli(
        project, "champion", tmp_path / "cancer.csv", tmp_path / "deep.csv", name="breast_cancer"
    )
    served = served_predictions(project, "models:/breast_cancer@champion", cancer_rows)
    assert_same_predictions(served, pd.read_csv(tmp_path / "deep.csv"))
    registry(
        project, "rollback", "breast_cancer", "--reason", "served it; back to the pipeline's choice"
    )
    assert champion(client, "breast_cancer") == before

    # 6. Rollback: one command, back to the champion before, with the reason recorded.
    other = str(int(current) % 2 + 1)  # the batches version that is not champion
    registry(
        project, "promote", NAME, "--version", other, "--reason", "a trial of the other version"
    )
    assert champion(client) == other
    registry(project, "rollback", NAME, "--reason", "the trial is over")
    assert champion(client) == current
    restored_version = client.get_model_version(NAME, current)
    assert restored_version.tags["bakeoff.rollback_reason"] == "the trial is over"
    history = history_of(client, NAME)
    assert [e["action"] for e in history][-2:] == ["manual", "rollback"]
    status = registry(project, "status", NAME)
    assert "rollback" in status.stdout and "champion" in status.stdout

    # 7. Bad input: every problem at once, naming the file and column; nothing is written.
    bad = features.drop(columns="x2").assign(colour="purple")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = predict_cli(project, "champion", tmp_path / "bad.csv", tmp_path / "x.csv", check=False)
    assert result.returncode == 1 and "bad.csv" in result.stderr
    assert "[missing_column]" in result.stderr and "'x2'" in result.stderr
    assert "[unseen_category]" in result.stderr and "'colour'" in result.stderr  # a warning
    assert not (tmp_path / "x.csv").exists()
