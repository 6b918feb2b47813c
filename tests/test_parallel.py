import os

import pytest

from bakeoff import parallel
from bakeoff.params import ResamplingConfig
from bakeoff.resample import resample_scores
from bakeoff.train import FeatureSplits
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


def test_workers_are_other_processes_held_to_their_share_of_the_cores():
    settings = parallel.run_all(worker_settings, [{}] * 4, workers=2)
    assert {s["pid"] for s in settings}.isdisjoint({os.getpid()})
    share = max(1, parallel.cpu_cores() // 2)
    assert {s["omp"] for s in settings} == {str(share)}
    assert {s["torch"] for s in settings} == {share}


def test_parallel_resamples_equal_the_sequential_ones(splits):
    config = ResamplingConfig(method="cv", folds=3, repeats=2)
    one = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7, n_jobs=1)
    two = resample_scores(LOGREG, splits, config, val_share=0.25, seed=7, n_jobs=2)
    drop = ("fit_seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in one] == [
        {k: v for k, v in r.items() if k not in drop} for r in two
    ]


def test_a_failing_refit_in_a_worker_raises_in_the_caller(splits):
    broken = {**LOGREG, "C": -1.0}  # sklearn refuses a negative C
    with pytest.raises(ValueError, match="C"):
        resample_scores(broken, splits, ResamplingConfig(folds=3), val_share=0.25, seed=0, n_jobs=2)
