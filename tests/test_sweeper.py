"""Sweep configuration without training: search spaces, the Optuna sweeper's parsing, the
SLURM launcher config, and turning a sweep's best trial into a `dvc exp run`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

import bakeoff.cli.sweep  # registers the bakeoff.direction resolver
from bakeoff.cli.sweep import overrides_dict
from bakeoff.cli.tune import apply_command, hydra_dict, summary_markdown
from bakeoff.fileio import write_json
from bakeoff.paths import DATA_CARD
from bakeoff.tracking import tags
from conftest import PROJECT_ROOT
from hydra_plugins.bakeoff_optuna_sweeper import OptunaSweeper, distribution

CONF = PROJECT_ROOT / "conf"
SEARCH_FILES = sorted(p.stem for p in (CONF / "search").glob("*.yaml"))


def parse(line: str):
    return distribution(OverridesParser.create().parse_override(line))


@pytest.fixture
def sweep_config():
    """Compose conf/sweep.yaml (with Hydra's own config) for the given overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield lambda *overrides: compose(
            "sweep", overrides=list(overrides), return_hydra_config=True
        )
    GlobalHydra.instance().clear()


def test_distributions_follow_hydras_grammar():
    d = optuna.distributions
    assert parse("a=tag(log, interval(1e-4, 1e-2))") == d.FloatDistribution(1e-4, 1e-2, log=True)
    assert parse("a=interval(0, 0.5)") == d.FloatDistribution(0.0, 0.5)
    assert parse("a=tag(int, log, interval(8, 256))") == d.IntDistribution(8, 256, log=True)
    # Hydra's range excludes its stop: range(1, 10, 3) is 1, 4, 7.
    assert parse("a=range(1, 10, 3)") == d.IntDistribution(1, 7, step=3)
    assert parse("a=range(1, 4)") == d.IntDistribution(1, 3)
    assert parse("a=choice(uniform, distance)") == d.CategoricalDistribution(
        ["uniform", "distance"]
    )
    assert parse("a=choice([64,64], [128])") == d.CategoricalDistribution(["[64,64]", "[128]"])
    assert parse("a=0.5") == "0.5"  # not a sweep: a fixed value


def test_every_contestant_has_a_search_space_over_keys_its_config_has():
    assert set(SEARCH_FILES) == {p.stem for p in (CONF / "model").glob("*.yaml")}
    for name in SEARCH_FILES:
        space = yaml.safe_load((CONF / "search" / f"{name}.yaml").read_text()) or {}
        model = yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())
        for key, line in space.items():
            assert key.startswith("model.") and key.removeprefix("model.") in model, (name, key)
            assert not isinstance(parse(f"{key}={line}"), str), (name, key)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """An empty workspace (dvc.yaml only) as the current folder; `card(task)` writes its card."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)

    def card(task):
        write_json(tmp_path / DATA_CARD, {"task": task})

    return card


@pytest.mark.parametrize(
    ("task", "expected"), [("classification", "maximize"), ("regression", "minimize")]
)
def test_direction_follows_the_data_cards_task(workspace, task, expected):
    workspace(task)
    assert bakeoff.cli.sweep.direction() == expected


def test_direction_without_a_data_card_says_what_to_run(workspace):
    with pytest.raises(FileNotFoundError, match=r"data_card\.json is missing.*dvc repro featurize"):
        bakeoff.cli.sweep.direction()


def test_optuna_sweeper_composes_with_the_models_space_and_starts_from_its_defaults(
    sweep_config, workspace
):
    workspace("regression")
    cfg = sweep_config("hydra/sweeper=optuna", "model=mlp", "budget.trials=7")
    sweeper = instantiate(cfg.hydra.sweeper)
    assert sweeper.direction == "minimize"
    # Hydra's plugin discovery loads the module afresh: compare the class by name.
    assert type(sweeper).__qualname__ == OptunaSweeper.__qualname__
    assert type(sweeper).__module__ == OptunaSweeper.__module__
    assert (sweeper.n_trials, sweeper.n_jobs, sweeper.timeout) == (7, 1, None)
    assert isinstance(sweeper.sampler_config, optuna.samplers.TPESampler)
    sweeper.config = cfg
    sweeper.hydra_context = type("Context", (), {"config_loader": None})()
    space, fixed = sweeper.search_space(["model.dropout=interval(0.2, 0.3)", "model.patience=3"])
    assert set(space) == {"model.hidden_sizes", "model.dropout", "model.lr", "model.weight_decay"}
    assert space["model.dropout"] == optuna.distributions.FloatDistribution(0.2, 0.3)  # CLI wins
    assert fixed == ["model.patience=3"]
    # The defaults, where the space holds them: dropout 0.1 lies outside [0.2, 0.3].
    assert sweeper.configured_values(space) == {
        "model.hidden_sizes": "[256,256]",
        "model.lr": 0.001,
        "model.weight_decay": 1e-05,
    }


@pytest.mark.parametrize(
    ("launcher", "batch"),
    [(["hydra.launcher.n_jobs=4"], 4), (["hydra/launcher=slurm"], 16), ([], 1)],
)
def test_optuna_asks_as_many_trials_per_batch_as_the_launcher_runs_at_once(
    sweep_config, launcher, batch
):
    cfg = sweep_config("hydra/sweeper=optuna", *launcher)
    assert cfg.hydra.sweeper.n_jobs == batch  # joblib's n_jobs, SLURM's array_parallelism
    assert (
        OmegaConf.select(cfg, "hydra.callbacks.tracking._target_")
        == "bakeoff.cli.sweep.SweepTracking"
    )


def test_the_parent_run_records_what_the_sweeper_searches(sweep_config, workspace):
    workspace("classification")
    cfg = sweep_config("hydra/sweeper=optuna", "model=mlp", "model.lr=0.01")
    space = bakeoff.cli.sweep.sweeps(cfg)
    # The command line fixes lr: the sweeper does not search it, so neither does the record.
    assert set(space) == {"model.hidden_sizes", "model.dropout", "model.weight_decay"}
    assert bakeoff.cli.sweep.budget_text(cfg, space) == "optuna, 20 trials"
    cfg = sweep_config("model=logreg")  # compose refuses sweeps; a multirun records them so
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["model=logreg", "model.C=0.1,1,10", "seed=1,2"]
    space = bakeoff.cli.sweep.sweeps(cfg)
    assert {k: bakeoff.cli.sweep.as_written(o) for k, o in space.items()} == {
        "model.C": "0.1,1,10",
        "seed": "1,2",
    }
    assert bakeoff.cli.sweep.budget_text(cfg, space) == "grid, 6 trials"


def test_slurm_launcher_config_composes_and_instantiates(sweep_config):
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    cfg = sweep_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__qualname__ == SlurmLauncher.__qualname__
    assert launcher.params["partition"] == "gpu"
    assert launcher.params["array_parallelism"] == 16
    assert launcher.params["submitit_folder"].startswith(str(cfg.hydra.sweep.dir))


def test_best_trial_becomes_one_dvc_exp_run(tmp_path):
    best = {
        "sweep": "tune-x/hist_gradient_boosting",
        "model": "hist_gradient_boosting",
        "budget": "optuna, 20 trials",
        "metric": "validation/rmse",
        "value": 0.45,
        "overrides": overrides_dict(
            [
                "model=hist_gradient_boosting",
                "data=california_housing",
                "budget.trials=20",
                "hydra.launcher.n_jobs=2",
                "model.learning_rate=0.07",
                "+model.max_bins=63",
                "model.monotonic_cst=[1, 0]",  # a value with a space stays whole
            ]
        ),
    }
    (tmp_path / "hgb").mkdir()
    (tmp_path / "hgb" / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
    assert apply_command([tmp_path / "hgb"], ["hgb"]) == [
        "dvc",
        "exp",
        "run",
        "-S",
        "data=california_housing",
        "-S",
        "models.hgb.learning_rate=0.07",
        "-S",
        "+models.hgb.max_bins=63",
        "-S",
        "models.hgb.monotonic_cst=[1, 0]",
        "-S",
        '++tuning.hgb={sweep:"tune-x/hist_gradient_boosting",budget:"optuna, 20 trials",'
        'metric:"validation/rmse",value:0.45}',
    ]
    other = {**best, "overrides": {"data": "adult", "model.max_iter": "10"}}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "best.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(SystemExit, match="different settings"):
        apply_command([tmp_path / "hgb", tmp_path / "other"], None)


def test_hydra_dict_round_trips_through_the_override_parser():
    values = {"sweep": 'a "quoted", comma', "value": 0.25, "trials": 3}
    override = OverridesParser.create().parse_override(f"++x={hydra_dict(values)}")
    assert override.value() == values


def sweep_record(parent: str, experiment_id: str, uri: str, folder: Path) -> dict:
    """What SweepTracking records when a sweep of mlp on a "tiny" dataset starts."""
    return {
        "run_id": parent,
        "experiment_id": experiment_id,
        "tracking_uri": uri,
        "sweep": "tune/mlp",
        "folder": str(folder),
        "model": "mlp",
        "dataset": "tiny",
        "task": "classification",
        "budget": "optuna, 4 trials",
        "started": time.time(),
    }


def test_a_sweep_counts_its_guarded_trials_and_says_when_the_best_was_one(tmp_path):
    import mlflow  # here: the other tests of this file need no tracking store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("tiny")
    parent = client.create_run(experiment_id).info.run_id
    stopped = "stopped by its time budget (trainer.max_time=60) after 3 of 200 epochs"
    # (validation accuracy, guard, finished): the best trial is a guarded one
    trials = [(0.81, None, True), (0.93, stopped, True), (0.88, stopped, True), (None, None, False)]
    for number, (accuracy, guard, finished) in enumerate(trials):
        run_tags = {
            "mlflow.parentRunId": parent,
            "bakeoff.trial": str(number),
            "bakeoff.overrides": json.dumps([f"model.lr={number}"]),
            **({tags.GUARD: guard} if guard else {}),
        }
        child = client.create_run(experiment_id, tags=run_tags).info.run_id
        if accuracy is not None:
            client.log_metric(child, "validation/accuracy", accuracy)
        client.set_terminated(child, "FINISHED" if finished else "FAILED")
    record = sweep_record(parent, experiment_id, uri, tmp_path / "tune" / "mlp")
    summary = bakeoff.cli.sweep.summarise(record)
    assert (summary["finished"], summary["failed"], summary["guarded"]) == (3, 1, 2)
    assert (summary["trial"], summary["best_guard"]) == (1, stopped)
    assert yaml.safe_load((tmp_path / "tune/mlp/best.yaml").read_text())["guarded"] == 2
    assert client.get_run(parent).data.metrics["sweep/guarded"] == 2
    text = summary_markdown([{**summary, "wall_seconds": 12.0}], [])
    assert f"- mlp's best trial: {stopped}" in text


def test_an_interrupted_sweeps_best_is_applied_only_when_asked(tmp_path):
    best = {
        "sweep": "tune-x/mlp",
        "model": "mlp",
        "budget": "optuna, 20 trials",
        "trials": 3,
        "metric": "validation/accuracy",
        "value": 0.9,
        "interrupted": True,
        "overrides": {"model.lr": "0.01"},
    }
    (tmp_path / "mlp").mkdir()
    (tmp_path / "mlp" / "best.yaml").write_text(yaml.safe_dump(best))
    with pytest.raises(SystemExit, match=r"interrupted after 3 trial\(s\).*--partial"):
        apply_command([tmp_path / "mlp"], None)
    assert "models.mlp.lr=0.01" in apply_command([tmp_path / "mlp"], None, partial=True)


def test_a_finished_sweep_whose_summary_fails_fails_and_closes_its_parent_run(tmp_path):
    """No best.yaml (here: its folder is a file) is the sweep's failure, not a success with a
    log line; an interrupted sweep only logs it, on its way out."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("tiny")
    (tmp_path / "not-a-folder").write_text("")
    for interrupted in (False, True):
        parent = client.create_run(experiment_id).info.run_id
        tracking = bakeoff.cli.sweep.SweepTracking()
        tracking.record = sweep_record(parent, experiment_id, uri, tmp_path / "not-a-folder")
        if interrupted:
            tracking._close(interrupted=True)
        else:
            with pytest.raises(FileExistsError):
                tracking.on_multirun_end(config=None)
        assert client.get_run(parent).info.status == "FAILED"


def test_a_trial_whose_job_raised_is_failed_and_logged_with_its_traceback(caplog):
    """A job's exception (Hydra's JobReturn re-raises it) is a failed trial, and the log
    keeps where it came from."""

    def buggy_job():
        return {}["missing key"]

    try:
        buggy_job()
    except KeyError as exc:
        raised = exc
    study = optuna.create_study()
    trial = study.ask()
    with caplog.at_level("WARNING"):
        OptunaSweeper._tell(study, trial, JobReturn(status=JobStatus.FAILED, _return_value=raised))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert "trial 0 failed: KeyError" in caplog.text
    assert "in buggy_job" in caplog.text  # the traceback
