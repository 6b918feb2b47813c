import os
import time

import pytest

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation import parallel
from bakeoff.evaluation.resampling import resample_scores
from bakeoff.models import build_model
from bakeoff.params import ResamplingConfig
from conftest import two_feature_splits

LOGREG = {"_target_": "bakeoff.models.classical.linear", "C": 1.0, "max_iter": 200}
NETWORK = {"_target_": "bakeoff.models.deep.mlp", "trainer": {"accelerator": "cpu"}}


@pytest.fixture
def splits() -> FeatureSplits:
    return two_feature_splits(300, noise=0.5)


def worker_settings() -> dict[str, object]:
    import torch

    return {
        "pid": os.getpid(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.get_num_threads(),
    }


def test_worker_count_follows_n_jobs_cores_and_the_device():
    cores = parallel.cpu_cores()
    assert parallel.worker_count(None, LOGREG, tasks=100) == cores
    assert parallel.worker_count(3, LOGREG, tasks=2) == 2  # never more workers than fits
    assert parallel.worker_count(-1, LOGREG, tasks=100) == cores
    assert parallel.worker_count(1, LOGREG, tasks=100) == 1
    assert parallel.worker_count(None, LOGREG, tasks=1) == 1
    assert parallel.worker_count(None, NETWORK, tasks=100) == cores  # a network on the CPU
    for trainer in ({"accelerator": "gpu"}, {"devices": 2}, {"strategy": "ddp"}):
        config = {**NETWORK, "trainer": {**NETWORK["trainer"], **trainer}}
        assert parallel.needs_its_device(config)
        assert parallel.worker_count(None, config, tasks=100) == 1


def fails_on_the_third(i: int) -> int:
    if i == 2:
        raise ValueError(f"refit {i} failed")
    return i


@pytest.fixture
def start_is_free(monkeypatch):
    """Workers even for instant tasks: what a long refit gets."""
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.0)


@pytest.mark.usefixtures("start_is_free")
def test_workers_are_other_processes_held_to_their_share_of_the_cores():
    settings = parallel.run_all(worker_settings, [{}] * 5, n_jobs=2, config={})
    here, rest = settings[:2], settings[2:]
    # Timed here, to decide: the first on every core, the second on a worker's share.
    assert {s["pid"] for s in here} == {os.getpid()}
    assert {s["pid"] for s in rest}.isdisjoint({os.getpid()})
    share = max(1, parallel.cpu_cores() // 2)
    assert {s["omp"] for s in rest} == {str(share)}
    assert {s["torch"] for s in rest} == {share}


def test_refits_quicker_than_starting_workers_stay_in_this_process():
    settings = parallel.run_all(worker_settings, [{}] * 5, n_jobs=2, config={})
    assert {s["pid"] for s in settings} == {os.getpid()}


@pytest.mark.usefixtures("start_is_free")
def test_parallel_resamples_equal_the_sequential_ones(splits):
    config = ResamplingConfig(method="cv", folds=3, repeats=2)
    one = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7, n_jobs=1)
    two = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7, n_jobs=2)
    drop = ("fit_seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in one] == [
        {k: v for k, v in r.items() if k not in drop} for r in two
    ]


@pytest.mark.usefixtures("start_is_free")
def test_a_failing_refit_in_a_worker_raises_in_the_caller():
    with pytest.raises(ValueError, match="refit 2 failed"):
        parallel.run_all(fails_on_the_third, [{"i": i} for i in range(4)], n_jobs=2, config={})


class SlowFirstImport:
    """A model whose libraries take a second to import, once per process (as Lightning's
    take seconds); its fits are instant."""

    imported = False

    def __init__(self, task: str):
        self.task = task

    def prepare(self) -> None:
        if not SlowFirstImport.imported:
            time.sleep(1.0)
            SlowFirstImport.imported = True


def refit_after_import(config: dict, task: str) -> int:
    build_model(config, task).prepare()  # as fit_model does before it times a fit
    return os.getpid()


def test_a_one_time_import_does_not_count_as_a_refit_worth_a_worker(monkeypatch):
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.5)
    monkeypatch.setattr(SlowFirstImport, "imported", False)
    config = {"_target_": "test_parallel.SlowFirstImport"}
    tasks = [{"config": config, "task": "classification"}] * 4
    # Timed with the import in, the first refit would take a second and three more seem to
    # save 1.5 s side by side; the fits themselves are instant.
    pids = parallel.run_all(refit_after_import, tasks, n_jobs=2, config=config)
    assert set(pids) == {os.getpid()}


def sleeps_less_with_more_threads() -> int:
    """A fit that uses every thread it is given, as a network's torch threads do."""
    import torch

    time.sleep(0.4 / torch.get_num_threads())
    return os.getpid()


@pytest.mark.skipif(parallel.cpu_cores() < 2, reason="needs two cores to share")
def test_refits_that_already_use_every_core_stay_in_this_process(monkeypatch):
    import torch

    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.1)
    before = torch.get_num_threads()
    torch.set_num_threads(parallel.cpu_cores())
    try:
        # Two workers on one core each would take as long per refit as both cores save:
        # nothing to gain (judged by the count of workers alone, 4 x 0.2 s / 2 = 0.4 s).
        pids = parallel.run_all(sleeps_less_with_more_threads, [{}] * 5, n_jobs=2, config={})
        assert set(pids) == {os.getpid()}
        assert torch.get_num_threads() == parallel.cpu_cores()  # the measurement restored it
    finally:
        torch.set_num_threads(before)


def test_a_network_s_workers_cost_its_libraries_import_as_measured_here(monkeypatch):
    """Starting a refit worker for a network means importing torch and Lightning again: as
    long as the warm stage server took (bakeoff.warm), or this process the first time."""
    from bakeoff import models, warm

    monkeypatch.delenv(warm.IMPORT_SECONDS, raising=False)
    monkeypatch.setitem(models.FIRST_PREPARE_SECONDS, NETWORK["_target_"], 8.0)
    floor, base = parallel.WORKER_START_SECONDS, parallel.SKLEARN_WORKER_SECONDS
    assert parallel.worker_start_seconds(LOGREG) == floor  # scikit-learn's: unchanged
    assert parallel.worker_start_seconds(NETWORK) == pytest.approx(base + 8.0)
    monkeypatch.setenv(warm.IMPORT_SECONDS, '{"torch": 6.0, "lightning": 4.5, "pandas": 1}')
    assert parallel.worker_start_seconds(NETWORK) == pytest.approx(base + 10.5)
    monkeypatch.setenv(warm.IMPORT_SECONDS, '{"pandas": 1}')  # no torch preloaded (a GPU)
    assert parallel.worker_start_seconds(NETWORK) == pytest.approx(base + 8.0)
    monkeypatch.setitem(models.FIRST_PREPARE_SECONDS, NETWORK["_target_"], 0.01)
    assert parallel.worker_start_seconds(NETWORK) == floor


class SlowFirstImportNetwork(SlowFirstImport):
    """As SlowFirstImport, configured with a trainer: what the decision takes for a network."""

    def __init__(self, task: str, trainer: dict):
        super().__init__(task)


def slow_refit(config: dict, task: str) -> int:
    build_model(config, task).prepare()
    time.sleep(0.3)
    return os.getpid()


@pytest.mark.skipif(parallel.cpu_cores() < 2, reason="needs two cores to share")
def test_network_refits_that_save_less_than_its_workers_imports_stay_here(monkeypatch):
    """The learning curve on two cores sent TabM's 0.3 s-per-second refits to two workers
    that each imported Lightning first, and took longer than one process did."""
    from bakeoff import warm

    monkeypatch.delenv(warm.IMPORT_SECONDS, raising=False)
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.5)
    monkeypatch.setattr(SlowFirstImport, "imported", False)
    config = {"_target_": "test_parallel.SlowFirstImportNetwork", "trainer": {"devices": 1}}
    monkeypatch.setattr(parallel, "needs_its_device", lambda config: None)
    tasks = [{"config": config, "task": "classification"}] * 8
    # Side by side would save about 6 x 0.15 s = 0.9 s: more than the 0.5 s floor, less
    # than a worker's 1.9 s plus the second this process took to import the libraries.
    pids = parallel.run_all(slow_refit, tasks, n_jobs=2, config=config)
    assert set(pids) == {os.getpid()}


def sleeps_with_its_rows(train) -> int:
    time.sleep(0.004 * len(train))
    return os.getpid()


def test_smaller_refits_count_as_smaller_when_weighing_workers(monkeypatch):
    """The learning curve's points come largest first: the rest are smaller fits, and side
    by side saves what they take, not what the first took."""
    import pandas as pd

    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 1.5)
    rows = [400, 200, 100, 100, 100, 100, 100, 100]
    tasks = [{"train": pd.DataFrame({"x": range(n)})} for n in rows]
    # Counted as eight refits of the first one's 1.6 s, workers would seem to save 2.4 s;
    # weighed by rows, the six left save 6 x 0.4 s / 2 = 1.2 s: less than they cost.
    pids = parallel.run_all(sleeps_with_its_rows, tasks, n_jobs=2, config={})
    assert set(pids) == {os.getpid()}
