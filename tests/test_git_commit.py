"""The commit a run reports (issue 17): a fresh clone's first run is not "-dirty" because the
run rewrote params.yaml or dvc.lock; an edit to the code is."""

from __future__ import annotations

import subprocess

from bakeoff.tracking.tags import git_commit


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_files_the_run_writes_do_not_make_the_commit_dirty(tmp_path, monkeypatch):
    for name in ("params.yaml", "dvc.lock", "reports/leaderboard.json", "src/model.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("before\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(tmp_path / "src")  # stages may run below the root
    for name in ("params.yaml", "dvc.lock", "reports/leaderboard.json"):
        (tmp_path / name).write_text("written by the run\n")
    # `dvc exp run` stages new files while it runs: outputs' .gitignore, its own state.
    for name in ("data/models/.gitignore", ".dvc/tmp/repro.dat"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("written by DVC\n")
        git(tmp_path, "add", "-f", name)
    assert git_commit() == head
    (tmp_path / "src/model.py").write_text("edited\n")
    assert git_commit() == f"{head}-dirty"
    (tmp_path / "src/model.py").write_text("before\n")
    (tmp_path / "src/new.py").write_text("staged\n")
    git(tmp_path, "add", "src/new.py")
    assert git_commit() == f"{head}-dirty"  # new code, staged: part of what ran
