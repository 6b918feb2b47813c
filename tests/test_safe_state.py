"""Safe state, end to end (issue 17), in a project copy of its own with a short line-up:
a second run started while one runs is refused before it changes anything; a contestant
killed by the operating system, or too large for the memory allowed, is listed as failed
and the bake-off completes; an interrupted contestant says how to resume; runs left RUNNING
by a killed process are closed; a source outside the project is a dependency DVC checks;
a fresh clone's first run reports a clean commit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import psutil
import pytest
import yaml

from pipeline_project import (
    QUICK_VERDICT,
    _env,
    copy_project,
    line_up,
    mlp_settings,
    run,
    stages_run,
)

pytestmark = pytest.mark.slow

LINE_UP = ["-S", "lineup=full", *line_up("dummy", "logreg", "mlp", "ft_transformer", full=True)]
# Networks may use 20 MB: ft_transformer's estimate (~70 MB on these 30 columns, attention
# maps included) is refused, the MLP's (~4 MB) is not.
NETWORKS = ["-S", "models.mlp.max_epochs=30", "-S", "trainer.max_memory_mb=20"]
QUICK = [*NETWORKS, *QUICK_VERDICT, *LINE_UP]
RUN_RECORD = ".dvc/tmp/bakeoff_run.json"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A fresh copy (a new clone, in effect) after one pipeline run of four contestants."""
    root = tmp_path_factory.mktemp("safe") / "project"
    copy_project(root)
    run(root, "dvc", "exp", "run", *QUICK)
    return root


def exp_run(project: Path, *extra: str, check: bool = True):
    return run(project, "dvc", "exp", "run", *QUICK, *extra, check=check)


class Started:
    """A `dvc exp run` in the background, its output collected as it comes."""

    def __init__(self, project: Path, *extra: str):
        self.process = subprocess.Popen(
            ["dvc", "exp", "run", *QUICK, *extra],
            cwd=project,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def finish(self, timeout: float = 1800) -> int:
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=60)
        return self.process.returncode


def client_for(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def board(project: Path) -> dict:
    return json.loads((project / "reports/leaderboard.json").read_text())


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_fresh_clones_first_run_reports_a_clean_commit(small):
    """The run rewrote params.yaml (the QUICK overrides) and wrote dvc.lock: not "-dirty".
    (The contestant over the memory cap did not stop it either.)"""
    assert set(board(small)["failed"]) == {"ft_transformer"}
    assert run(small, "git", "status", "--porcelain", "params.yaml").stdout.strip()
    head = run(small, "git", "rev-parse", "HEAD").stdout.strip()
    page = (small / "reports/breast_cancer/report.html").read_text()
    assert f"git commit <code>{head}</code>" in page
    assert f"{head}-dirty" not in page


def test_a_second_run_is_refused_before_it_changes_anything(small):
    first = Started(small, "-S", "models.logreg.C=2")
    try:
        # While the first run trains (the second run came six seconds after it):
        # inside a stage, when DVC does not hold its own repository lock.
        training = "Running stage 'contestant@logreg'"
        wait_for(lambda: training in first.output or first.process.poll() is not None, 900, "it")
        time.sleep(2)
        assert first.process.poll() is None, first.output[-3000:]
        params = (small / "params.yaml").read_text()
        second = exp_run(small, "-S", "models.logreg.C=3", "-S", "seed=7", check=False)
        assert (small / "params.yaml").read_text() == params  # not rewritten
    finally:
        status = first.finish()
    refusal = second.stdout + second.stderr
    assert second.returncode != 0 and stages_run(second.stdout) == []
    assert "'workspace' is busy" in refusal
    assert "bakeoff pipeline run `dvc exp run" in refusal and "models.logreg.C=2" in refusal
    assert "dvc exp run --queue" in refusal and "dvc queue start" in refusal
    assert status == 0, first.output[-3000:]

    # The first run's results are its own and consistent with dvc.lock.
    composed = yaml.safe_load((small / "params.yaml").read_text())
    assert composed["models"]["logreg"]["C"] == 2 and composed["seed"] == 42
    assert "Data and pipelines are up to date" in run(small, "dvc", "status").stdout
    logreg = client_for(small).get_run(board(small)["models"]["logreg"]["run_id"])
    assert logreg.data.params["model.C"] == "2" and logreg.data.params["seed"] == "42"
    # The hold ends with the run: the next one starts without a stale lock or a warning.
    lock = small / ".dvc/tmp/exps/rwlock"
    wait_for(lambda: "workspace" not in lock.read_text(), 30, "the hold to be released")
    assert not (small / RUN_RECORD).exists()


def child_of_contestant(project: Path, name: str) -> psutil.Process | None:
    """The watched child process doing `name`'s work in `project` (bakeoff.watch)."""
    for process in psutil.process_iter(["cmdline"]):
        if (process.info["cmdline"] or [])[-2:] != ["bakeoff.stages.contestant", name]:
            continue
        try:
            if process.cwd() == str(project) and process.environ().get("BAKEOFF_WATCHED_CHILD"):
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def running_run_of(project: Path, pid: int):
    client = client_for(project)
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    found = client.search_runs(
        [experiment], f"tags.`bakeoff.pid` = '{pid}' and attributes.status = 'RUNNING'"
    )
    return found[0] if found else None


def test_contestants_killed_by_the_os_or_over_the_memory_cap_fail_alone(small):
    """ft_transformer was refused for its memory estimate (QUICK's cap); now the MLP's
    process is killed with SIGKILL while it trains, as the out-of-memory killer does. The
    bake-off completes and lists both as failed, with their reasons."""
    long_mlp = ["-S", "models.mlp.max_epochs=2000", "-S", "models.mlp.patience=2000"]
    pipeline = Started(small, *long_mlp)
    try:
        child = wait_for(lambda: child_of_contestant(small, "mlp"), 900, "the mlp contestant")
        mlp_run = wait_for(lambda: running_run_of(small, child.pid), 300, "its MLflow run")
        time.sleep(3)
        child.send_signal(signal.SIGKILL)
    finally:
        status = pipeline.finish()
    output = pipeline.output
    assert status == 0, output[-3000:]
    assert stages_run(output)[-1] == "report"
    failed = board(small)["failed"]
    assert set(failed) == {"mlp", "ft_transformer"} and set(board(small)["models"]) == {
        "dummy",
        "logreg",
    }
    assert "its process was killed by SIGKILL" in failed["mlp"]["error"]
    assert "out-of-memory killer" in failed["mlp"]["error"]
    assert failed["mlp"]["run_id"] == mlp_run.info.run_id
    assert "LightningFTTransformer would need an estimated" in failed["ft_transformer"]["error"]
    assert "more than the 20 MB trainer.max_memory_mb" in failed["ft_transformer"]["error"]
    killed = client_for(small).get_run(mlp_run.info.run_id)
    assert killed.info.status == "KILLED"
    assert "SIGKILL" in killed.data.tags["bakeoff.error"]
    assert "Failed to train" in (small / "reports/leaderboard.md").read_text()


def contestant_by_hand(project: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bakeoff.stages.contestant", name],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_ctrl_c_says_what_happened_and_how_to_resume(small):
    with mlp_settings(small, max_epochs=2000, patience=2000) as new_runs:
        process = contestant_by_hand(small, "mlp")
        try:
            wait_for(lambda: [r for r in new_runs() if r.info.status == "RUNNING"], 300, "a run")
            time.sleep(2)
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        finally:
            output, _ = process.communicate(timeout=300)
        (interrupted,) = new_runs()
    assert process.returncode == 130, output[-3000:]
    assert "mlp: interrupted" in output and "its MLflow run was ended KILLED" in output
    assert "BAKEOFF_RESUME=1 dvc exp run" in output
    assert "checkpoints/breast_cancer/mlp/last.ckpt" in output
    assert interrupted.info.status == "KILLED"


def test_a_run_left_running_by_kill_9_is_closed_with_the_reason(small):
    with mlp_settings(small, max_epochs=2000, patience=2000) as new_runs:
        process = contestant_by_hand(small, "mlp")
        child = wait_for(lambda: child_of_contestant(small, "mlp"), 300, "the mlp contestant")
        wait_for(lambda: running_run_of(small, child.pid), 300, "its MLflow run")
        for pid in (process.pid, child.pid):  # the stage's process and its child: no cleanup
            psutil.Process(pid).send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        (orphan,) = new_runs()
        assert client_for(small).get_run(orphan.info.run_id).info.status == "RUNNING"
        result = run(small, sys.executable, "-m", "bakeoff.cli.tracking", "close-orphans")
        assert "1 orphaned run(s) in experiment 'breast_cancer' marked KILLED" in result.stderr
    closed = client_for(small).get_run(orphan.info.run_id)
    assert closed.info.status == "KILLED"
    assert f"its process {child.pid} on" in closed.data.tags["bakeoff.error"]


OUTSIDE_CARD = """\
name: outside
source:
  kind: file
  path: {path}
{allow}target: label
task: classification
"""


def test_a_source_outside_the_project_is_refused_or_tracked_by_dvc(small, tmp_path):
    table = tmp_path / "shared" / "table.csv"
    table.parent.mkdir()
    rows = ["x,label"] + [f"{i % 17},{'yes' if i % 17 > 8 else 'no'}" for i in range(300)]
    table.write_text("\n".join(rows) + "\n")
    card = small / "conf/data/outside.yaml"
    two = [*line_up("dummy", "logreg"), "-S", "data=outside"]

    card.write_text(OUTSIDE_CARD.format(path=table, allow=""))
    refused = run(small, "dvc", "exp", "run", *QUICK_VERDICT, *two, check=False)
    assert refused.returncode != 0 and stages_run(refused.stdout)[-1] == "ingest"
    message = refused.stdout + refused.stderr
    assert "[outside_project]" in message and "lies outside the project" in message
    assert "data/external/" in message and "allow_outside_project: true" in message

    card.write_text(OUTSIDE_CARD.format(path=table, allow="  allow_outside_project: true\n"))
    run(small, "dvc", "exp", "run", *QUICK_VERDICT, *two)
    lock = yaml.safe_load((small / "dvc.lock").read_text())
    assert str(table) in [dep["path"] for dep in lock["stages"]["ingest"]["deps"]]
    assert "Data and pipelines are up to date" in run(small, "dvc", "status").stdout

    table.write_text(table.read_text() + "3,no\n16,yes\n")  # the shared file changes
    status = run(small, "dvc", "status").stdout
    assert "ingest" in status and str(table) in status
    again = run(small, "dvc", "exp", "run", *QUICK_VERDICT, *two)
    assert "ingest" in stages_run(again.stdout)
    card_json = json.loads((small / "data/raw/data_card.json").read_text())
    assert card_json["rows"] == 302
