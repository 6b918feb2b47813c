"""The project copy the end-to-end tests share: one real pipeline run (`project`), helpers
to run commands in it, and `restored` for tests that change it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A hung command fails its test after this long; a busy shared machine may need more.
COMMAND_TIMEOUT = float(os.environ.get("BAKEOFF_TEST_TIMEOUT", "900"))

# conf/config.yaml's line-up, and what conf/lineup/full.yaml adds to it.
DEFAULT_LINE_UP = ["dummy", "logreg", "random_forest", "hist_gradient_boosting", "mlp", "tabm"]
FULL_LINE_UP = [*DEFAULT_LINE_UP, "knn", "svm", "extra_trees", "resnet", "ft_transformer"]
# The shared project's line-up: the default one (one contestant of each kind: the floor, a
# linear model, two kinds of trees, a network, TabM's member axis), so that every stage and
# the ensemble run for real; every model of the full line-up is fitted in the unit tests
# (tests/test_models.py, tests/models/).
MODELS = DEFAULT_LINE_UP
DEEP = ["mlp", "tabm"]


def line_up(*keep: str, full: bool = False) -> list[str]:
    """`dvc exp run` overrides that take every other contestant out of this run's line-up
    (Hydra's `~` on the defaults list): short runs for tests about something else. `full`:
    out of the full line-up (with `-S lineup=full`)."""
    names = FULL_LINE_UP if full else DEFAULT_LINE_UP
    return [x for name in names if name not in keep for x in ("-S", f"~model@models.{name}")]


# Small but real: the default line-up, fewer epochs and trees than the defaults.
QUICK_MODELS = [
    "-S",
    "models.mlp.max_epochs=30",
    "-S",
    "models.tabm.max_epochs=20",
    "-S",
    "models.random_forest.n_estimators=100",
]
# The verdict's refits: fewer folds, fractions and repeats than the defaults.
QUICK_VERDICT = [
    "-S",
    "compare.resampling.folds=3",
    "-S",
    "compare.learning_curve.fractions=[0.25,0.5,1.0]",
    "-S",
    "compare.learning_curve.repeats=2",
    "-S",
    "compare.importance.repeats=2",
]
QUICK = QUICK_MODELS + QUICK_VERDICT


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
        timeout=COMMAND_TIMEOUT,
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
    """params.yaml with models.mlp changed, for a direct `python -m bakeoff.stages.contestant mlp`;
    yields a function listing the MLflow runs created since. Restores params.yaml and the
    pipeline's mlp outputs afterwards (its model from DVC's cache, its reports as they were)."""
    import tempfile

    import mlflow  # here, not at import: conftest imports this module for every test run

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    seen = {r.info.run_id for r in client.search_runs([experiment])}
    params = project / "params.yaml"
    original = params.read_text()
    changed = yaml.safe_load(original)
    changed["models"]["mlp"].update(changes)
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    reports = ["reports/resample/mlp.json", "reports/evaluate/mlp"]  # cache: false outputs
    with tempfile.TemporaryDirectory() as kept:
        for i, name in enumerate(reports):
            if (project / name).exists():
                copy = shutil.copytree if (project / name).is_dir() else shutil.copy2
                copy(project / name, Path(kept) / str(i))
        try:
            yield lambda: [r for r in client.search_runs([experiment]) if r.info.run_id not in seen]
        finally:
            params.write_text(original)
            for i, name in enumerate(reports):
                if (Path(kept) / str(i)).exists():
                    shutil.rmtree(project / name, ignore_errors=True)
                    copy = shutil.copytree if (Path(kept) / str(i)).is_dir() else shutil.copy2
                    copy(Path(kept) / str(i), project / name)
            run(
                project,
                "dvc",
                "checkout",
                "data/models/mlp",
                "data/resample/mlp.parquet",
                check=False,
            )


def copy_project(root: Path, extra: dict[str, Path] | None = None) -> None:
    """The project's files (committed or not, results of the developer's own runs left
    behind), plus `extra` (path in the copy -> file), committed to a fresh git repo."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sources = {name: PROJECT_ROOT / name for name in files}
    for name, source in {**sources, **(extra or {})}.items():
        results = name.startswith(("data/", "reports/")) and not name.startswith("data/external/")
        if results or not source.is_file():
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "copy")


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A git + DVC copy of the project's files (committed or not), after one pipeline run."""
    root = tmp_path_factory.mktemp("bakeoff") / "project"
    copy_project(root)
    # As `make run` runs it: the stages fork from the warm server (bakeoff.warm), none refused.
    result = run(root, sys.executable, "-m", "bakeoff.warm", "dvc", "exp", "run", *QUICK)
    assert "starts cold" not in result.stdout + result.stderr, result.stderr[-3000:]
    stages = stages_run(result.stdout)
    assert stages[:4] == ["config", "ingest", "validate", "split"]
    assert set(stages[4:6]) == {"drift", "featurize"}
    assert set(stages[-4:]) == {"compare", "learning_curve", "promote", "report"}
    assert stages[-4] == "compare" and stages[-1] == "report"
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
    run(project, "git", "clean", "-fdq", "--", "conf")  # cards a test added
    shutil.rmtree(project / "reports")
    shutil.copytree(snapshot / "reports", project / "reports")
    for name in SNAPSHOT_FILES:
        shutil.copy2(snapshot / name, project / name)
    run(project, "dvc", "checkout", "--force")
