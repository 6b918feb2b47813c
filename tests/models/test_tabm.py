"""TabM: member axis, member averaging, bins from the training rows only, sizes, the shared
training base (determinism, resume, NaN guard, clipping) and a saved model without lightning."""

from __future__ import annotations

import subprocess
import sys

import lightning as L
import numpy as np
import pandas as pd
import pytest
import rtdl_num_embeddings
import torch
import torch.nn.functional as F

from bakeoff.models import build_model
from bakeoff.models.deep import average_members
from bakeoff.models.tabm import (
    SIZES,
    SMALL_TABLE_ROWS,
    SMALL_TABLE_SIZE,
    LightningTabM,
    TabMNetwork,
    piecewise_bins,
    resolve_size,
    tabm,
)
from bakeoff.models.tabular import TabularModel, UnseenCategoryWarning
from bakeoff.models.training import TrainingModule
from bakeoff.params import compose_conf
from bakeoff.tracking.serving import ServedModel, save_served_model
from conftest import PROJECT_ROOT, labelled_categories

# One thread: two on a shared 2-core machine spin against each other.
CPU = {"accelerator": "cpu", "devices": 1, "num_threads": 1}
SMALL = {
    "k": 4,
    "d_block": 16,
    "n_bins": 8,
    "d_embedding": 4,
    "lr": 1e-2,
    "batch_size": 64,
    "max_epochs": 8,
    "patience": 4,
}


def _small(task: str = "classification", **kwargs) -> TabularModel:
    return tabm(task, **{**SMALL, "trainer": CPU, **kwargs})


def _estimator(**kwargs) -> LightningTabM:
    return LightningTabM(**{**SMALL, "trainer": CPU, **kwargs})


def _numbers(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    """Three classes from a mixed frame (numbers with NaN, categories with NaN)."""
    frame, y = labelled_categories(300)
    labels = np.array(["high", "low", "mid"])[y + (frame["x2"].fillna(0) > 1).to_numpy()]
    model = _small().fit(frame[:200], labels[:200], frame[200:], labels[200:])
    return model, frame, labels


def _member_outputs(model: TabularModel, frame: pd.DataFrame) -> torch.Tensor:
    rows = torch.from_numpy(model.preprocessor.transform(frame).astype(np.float32))
    with torch.no_grad():
        return model.estimator.network_(rows)


# ---- shapes and member averaging --------------------------------------------------------


def test_network_gives_one_output_per_member():
    bins = piecewise_bins(np.random.default_rng(0).normal(size=(50, 2)), n_bins=6)
    network = TabMNetwork(
        2,
        [5, 3],
        4,
        bins=bins,
        d_embedding=4,
        k=3,
        n_blocks=2,
        d_block=8,
        dropout=0.0,
        arch_type="tabm",
    )
    x = torch.tensor([[0.5, -1.0, 0.0, 2.0], [0.1, 0.2, 4.0, 1.0]])  # 2 numbers, 2 codes
    assert network(x).shape == (2, 3, 4)  # (b, k, n_outputs)


def test_multiclass_contract_and_member_axis(fitted):
    model, frame, labels = fitted
    assert model.family == "deep"
    assert list(model.classes_) == ["high", "low", "mid"]
    assert model.estimator.layout_ == {"n_numeric": 2, "cardinalities": [6, 4]}
    assert _member_outputs(model, frame[200:]).shape == (100, 4, 3)
    proba = model.predict_proba(frame[200:])
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    pred = model.predict(frame[200:])
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], pred)
    assert (pred == labels[200:]).mean() > 0.6  # chance is about 0.4


def test_predict_proba_is_the_mean_of_member_probabilities(fitted):
    model, frame, _ = fitted
    members = torch.softmax(_member_outputs(model, frame).double(), dim=-1)  # (n, k, classes)
    expected = members.mean(dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(frame), expected, rtol=1e-5, atol=1e-7)
    # The mean of the members' logits is a different (and wrong) ensemble.
    logits_mean = torch.softmax(_member_outputs(model, frame).double().mean(dim=1), dim=-1)
    assert not np.allclose(logits_mean.numpy(), expected, atol=1e-4)


def test_regression_predicts_the_mean_member_value_on_the_original_scale():
    frame, _ = labelled_categories(300)
    target = 1000 + 10 * (frame["x1"] + frame["colour"].map({"red": 3.0, "green": -3.0}).fillna(0))
    model = _small("regression", max_epochs=15)
    model.fit(frame[:200], target[:200], frame[200:], target[200:])
    est = model.estimator
    members = _member_outputs(model, frame[200:])[:, :, 0].double()  # (n, k), standardised
    expected = members.mean(dim=1).numpy() * est.y_std_ + est.y_mean_
    pred = model.predict(frame[200:])
    np.testing.assert_allclose(pred, expected, rtol=1e-6)
    assert not hasattr(est, "predict_proba")
    rmse = float(np.sqrt(((pred - target[200:]) ** 2).mean()))
    assert rmse < 0.6 * float(target[200:].std())


def test_average_members_leaves_a_single_output_alone_and_averages_probabilities():
    out = torch.randn(5, 3)
    assert average_members(out, "classification") is out
    members = torch.randn(5, 4, 3)
    log_mean = average_members(members, "classification")
    torch.testing.assert_close(log_mean.exp(), torch.softmax(members, dim=-1).mean(dim=1))
    torch.testing.assert_close(average_members(members, "regression"), members.mean(dim=1))


def test_training_loss_is_the_mean_of_member_losses_and_validation_the_ensembles():
    members = torch.randn(6, 4, 3)  # (b, k, classes)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    module = TrainingModule(_Fixed(members), task="classification", lr=1e-3, weight_decay=0.0)
    per_member = [F.cross_entropy(members[:, j], y) for j in range(4)]
    train = module._step((torch.zeros(6, 1), y), "train")
    torch.testing.assert_close(train, torch.stack(per_member).mean())
    ensemble = -torch.log(torch.softmax(members, dim=-1).mean(dim=1)[torch.arange(6), y]).mean()
    torch.testing.assert_close(module._step((torch.zeros(6, 1), y), "val"), ensemble)


class _Fixed(torch.nn.Module):
    """A 'network' whose output is given: (b, k, classes) whatever the input."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out


def test_early_stopping_keeps_the_epoch_with_the_lowest_ensemble_validation_loss():
    X, y = _numbers()
    model = _estimator(max_epochs=30, patience=3, lr=3e-2).fit(X[:200], y[:200], X[200:], y[200:])
    val_losses = [h["val/loss"] for h in model.history_]
    assert val_losses[model.best_epoch_] == min(val_losses)
    proba = model.predict_proba(X[200:])
    restored_loss = -np.log(proba[np.arange(100), y[200:]]).mean()
    assert restored_loss == pytest.approx(min(val_losses), rel=1e-4)


# ---- bins -------------------------------------------------------------------------------


def test_bins_come_from_the_training_rows_only():
    X, y = _numbers()
    train, val_a, val_b = slice(0, 200), slice(200, 250), slice(250, 300)
    a = _estimator(max_epochs=1).fit(X[train], y[train], X[val_a], y[val_a])
    b = _estimator(max_epochs=1).fit(X[train], y[train], 10 * X[val_b], y[val_b])
    expected = rtdl_num_embeddings.compute_bins(torch.from_numpy(X[train]), n_bins=8)
    assert len(a.bins_) == 5
    for got_a, got_b, want in zip(a.bins_, b.bins_, expected, strict=True):
        np.testing.assert_array_equal(got_a, got_b)
        np.testing.assert_allclose(got_a, want.numpy())
    # Bins over all rows would differ: the check above can tell them apart.
    everything = rtdl_num_embeddings.compute_bins(torch.from_numpy(X), n_bins=8)
    assert not all(np.allclose(g, w.numpy()) for g, w in zip(a.bins_, everything, strict=True))
    # The network's piecewise-linear encoding is built from exactly these bins.
    for name, buffer in a.network_.state_dict().items():
        if name.endswith("impl.weight"):
            torch.testing.assert_close(buffer, b.network_.state_dict()[name])


def test_bins_for_constant_binary_and_nan_columns():
    X = np.column_stack(
        [
            np.full(40, 3.0),  # constant: compute_bins refuses it
            np.tile([0.0, 1.0], 20),  # binary
            np.where(np.arange(40) % 5 == 0, np.nan, np.arange(40.0)),  # NaN: left out
        ]
    )
    bins = piecewise_bins(X, n_bins=48)
    np.testing.assert_array_equal(bins[0].numpy(), [2.0, 4.0])
    assert (bins[1][0], bins[1][-1]) == (0.0, 1.0)
    assert len(bins[2]) == 32  # 32 finite rows: at most 31 bins, 32 edges
    assert torch.isfinite(bins[2]).all()
    with pytest.raises(ValueError, match="n_bins"):
        piecewise_bins(X, n_bins=1)


def test_without_embeddings_there_are_no_bins_and_the_network_still_learns():
    X, y = _numbers()
    model = _estimator(embeddings="none", max_epochs=10).fit(X[:200], y[:200], X[200:], y[200:])
    assert model.bins_ is None
    assert model.n_blocks_ == 3  # the package's depth without embeddings
    assert (model.predict(X[200:]) == y[200:]).mean() > 0.8


@pytest.mark.parametrize(
    ("columns", "layout"),
    [
        (["x1", "x2"], {"n_numeric": 2, "cardinalities": []}),
        (["colour", "shape"], {"n_numeric": 0, "cardinalities": [6, 4]}),
    ],
    ids=["numbers-only", "categories-only"],
)
def test_frames_of_one_kind_only(columns, layout):
    frame, y = labelled_categories(300)
    model = _small(max_epochs=6).fit(frame[columns][:200], y[:200], frame[columns][200:], y[200:])
    assert model.estimator.layout_ == layout
    assert (model.predict(frame[columns][200:]) == y[200:]).mean() > 0.6


def test_unseen_and_missing_categories_predict(fitted):
    model, frame, _ = fitted
    rows = frame[200:204].copy()
    rows["colour"] = ["ultraviolet", None, "red", "red"]
    rows["shape"] = [None, "hexagon", "circle", "square"]
    with pytest.warns(UnseenCategoryWarning):
        proba = model.predict_proba(rows)
    assert proba.shape == (4, 3)
    assert np.isfinite(proba).all()


# ---- sizes ------------------------------------------------------------------------------


def test_size_presets_rows_and_explicit_values():
    many = SMALL_TABLE_ROWS
    paper = resolve_size("paper", 100, k=None, n_blocks=None, d_block=None, embeddings=True)
    assert paper == {"k": 32, "n_blocks": 2, "d_block": 512}
    cpu = resolve_size("cpu", many, k=None, n_blocks=None, d_block=None, embeddings=True)
    assert cpu == {**SIZES["cpu"], "n_blocks": 2}
    small = resolve_size("cpu", many - 1, k=None, n_blocks=None, d_block=None, embeddings=False)
    assert small == {**SMALL_TABLE_SIZE, "n_blocks": 3}
    given = resolve_size("cpu", 10, k=5, n_blocks=1, d_block=7, embeddings=True)
    assert given == {"k": 5, "n_blocks": 1, "d_block": 7}
    with pytest.raises(ValueError, match="size must be one of"):
        resolve_size("huge", 10, k=None, n_blocks=None, d_block=None, embeddings=True)
    with pytest.raises(ValueError, match="k must be at least 1"):
        resolve_size("cpu", 10, k=0, n_blocks=None, d_block=None, embeddings=True)


def test_refits_of_a_final_fit_are_pinned_to_its_size_not_their_own_rows():
    from bakeoff.models.fitting import refit_config

    conf = compose_conf(PROJECT_ROOT / "conf")["models"]["tabm"]
    # A fold of a 3,000-row training split fits on fewer than SMALL_TABLE_ROWS rows; alone it
    # would pick the small preset, pinned it keeps the final fit's size.
    pinned = refit_config(conf, SMALL_TABLE_ROWS + 1000)
    assert (pinned["k"], pinned["d_block"]) == (16, 256)
    assert pinned["n_blocks"] is None  # depth follows the columns (embeddings or not)
    small = refit_config(conf, SMALL_TABLE_ROWS - 1)
    assert (small["k"], small["d_block"]) == (SMALL_TABLE_SIZE["k"], SMALL_TABLE_SIZE["d_block"])
    tuned = refit_config({**conf, "k": 4, "d_block": 32}, SMALL_TABLE_ROWS + 1000)
    assert (tuned["k"], tuned["d_block"]) == (4, 32)  # values given explicitly stand
    mlp = compose_conf(PROJECT_ROOT / "conf")["models"]["mlp"]
    assert refit_config(mlp, 10) is mlp


def test_fitted_size_is_recorded_and_described(fitted):
    model, _, _ = fitted
    info = model.describe()
    assert info["k"] == model.estimator.k_ == 4
    assert info["parameters"] == sum(p.numel() for p in model.estimator.network_.parameters())
    # The row rule applies when k and d_block are left to the preset.
    X, y = _numbers(120)
    est = _estimator(k=None, d_block=None, max_epochs=1).fit(X, y)
    assert (est.k_, est.d_block_) == (SMALL_TABLE_SIZE["k"], SMALL_TABLE_SIZE["d_block"])


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("size", ["cpu", "paper"])
def test_the_config_composes_and_instantiates(task, size):
    # In the default line-up (conf/config.yaml).
    conf = compose_conf(PROJECT_ROOT / "conf", [f"models.tabm.size={size}"])
    model = build_model(conf["models"]["tabm"], task)
    assert isinstance(model, TabularModel)
    assert isinstance(model.estimator, LightningTabM)
    assert model.estimator.size == size
    assert model.task == task


# ---- the shared training base -----------------------------------------------------------


def test_same_seed_same_predictions_other_seed_differs():
    frame, y = labelled_categories(300)
    trainer = {**CPU, "deterministic": True}
    fits = [
        _small(max_epochs=3, trainer=trainer, random_state=seed).fit(
            frame[:200], y[:200], frame[200:], y[200:]
        )
        for seed in (7, 7, 8)
    ]
    probas = [m.predict_proba(frame) for m in fits]
    np.testing.assert_array_equal(probas[0], probas[1])
    assert fits[0].estimator.history_ == fits[1].estimator.history_
    assert not np.array_equal(probas[0], probas[2])


class _CrashAt(L.Callback):
    """Simulates a crash (power cut, OOM kill) at the start of one epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"simulated crash at epoch {self.epoch}")


class _CrashingTabM(LightningTabM):
    def _make_callbacks(self, has_val, keep_best):
        return [*super()._make_callbacks(has_val, keep_best), _CrashAt(3)]


def test_checkpoints_resume_to_the_same_model_as_an_uninterrupted_run(tmp_path):
    X, y = _numbers()
    fit = {"X": X[:200], "y": y[:200], "X_val": X[200:], "y_val": y[200:]}
    hyper = {**SMALL, "dropout": 0.2, "max_epochs": 6, "patience": 3}

    def trainer(folder, resume=False):
        return {
            **CPU,
            "deterministic": True,
            "checkpoint_dir": str(tmp_path / folder),
            "resume": resume,
        }

    whole = LightningTabM(**hyper, trainer=trainer("whole")).fit(**fit)
    assert {p.name for p in (tmp_path / "whole").iterdir()} == {"best.ckpt", "last.ckpt"}
    with pytest.raises(RuntimeError, match="simulated crash at epoch 3"):
        _CrashingTabM(**hyper, trainer=trainer("cut")).fit(**fit)
    resumed = LightningTabM(**hyper, trainer=trainer("cut", resume=True)).fit(**fit)
    assert resumed.history_ == whole.history_
    assert resumed.best_epoch_ == whole.best_epoch_
    np.testing.assert_array_equal(resumed.predict_proba(X), whole.predict_proba(X))


@pytest.mark.parametrize(
    ("poison", "lr"),
    [("nan_input", 1e-2), ("none", 1e6)],
    ids=["nan-input", "absurd-lr"],
)
def test_non_finite_loss_raises_naming_the_epoch(poison, lr):
    X, y = _numbers()
    if poison == "nan_input":
        X[5, 3] = np.nan
    model = _estimator(lr=lr, max_epochs=30, patience=30, gradient_clip_norm=None)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+.*learning rate too high"):
        model.fit(X[:200], y[:200], X[200:], y[200:])


class _GradientNorms(L.Callback):
    """The gradient norm the optimiser stepped with (gradients stay until the next step)."""

    def __init__(self):
        self.norms: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        grads = [p.grad for p in pl_module.network.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


@pytest.mark.parametrize("clip", [1e-3, None])
def test_gradients_are_clipped_to_the_given_norm(clip):
    norms = _GradientNorms()

    class Recording(LightningTabM):
        def _make_callbacks(self, has_val, keep_best):
            return [*super()._make_callbacks(has_val, keep_best), norms]

    X, y = _numbers()
    Recording(trainer=CPU, **{**SMALL, "max_epochs": 2, "gradient_clip_norm": clip}).fit(X, y)
    assert len(norms.norms) == 10  # 2 epochs of 5 batches (300 rows, 64 a batch)
    if clip is None:
        assert max(norms.norms) > 10 * 1e-3
    else:
        assert max(norms.norms) <= clip * (1 + 1e-4)


# ---- saved model --------------------------------------------------------------------------


def test_pyfunc_model_loads_and_predicts_in_a_fresh_process_without_lightning(fitted, tmp_path):
    model, frame, _ = fitted
    served = ServedModel(model=model, steps=[], target="label")
    save_served_model(served, tmp_path / "model", frame.head(5), tmp_path)
    frame.to_parquet(tmp_path / "rows.parquet")
    code = (
        "import sys, mlflow, pandas as pd; "
        f"m = mlflow.pyfunc.load_model({str(tmp_path / 'model')!r}); "
        f"out = m.predict(pd.read_parquet({str(tmp_path / 'rows.parquet')!r})); "
        f"out.to_parquet({str(tmp_path / 'out.parquet')!r}); "
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'lightning'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    out = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(out["prediction"], model.predict(frame))
    proba = out[[f"proba_{c}" for c in model.classes_]].to_numpy()
    np.testing.assert_array_equal(proba, model.predict_proba(frame))
