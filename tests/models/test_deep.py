"""LightningMLP: learning, label mapping, early stopping, determinism, persistence, failures,
and categories as embeddings through the `mlp` factory."""

from __future__ import annotations

import subprocess
import sys

import joblib
import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression

from bakeoff.models import deep
from bakeoff.models.deep import MLP, CategoryEmbeddings, LightningMLP, mlp
from bakeoff.models.network_inputs import UNKNOWN_CODE
from bakeoff.models.tabular import UnseenCategoryWarning
from conftest import labelled_categories, run_python

CPU = {"accelerator": "cpu", "devices": 1}


def _classification(n_classes: int = 2, seed: int = 0):
    X, y = make_classification(
        300, n_features=10, n_informative=6, n_classes=n_classes, class_sep=2.0, random_state=seed
    )
    return X.astype(np.float32), y


def _model(**kwargs) -> LightningMLP:
    params = {
        "hidden_sizes": (32, 32),
        "batch_size": 32,
        "max_epochs": 20,
        "patience": 5,
        "trainer": CPU,
    }
    return LightningMLP(**{**params, **kwargs})


@pytest.fixture(scope="module")
def fitted_ab():
    """Binary model with string labels; the 'b' label is class 0 of make_classification."""
    X, y = _classification()
    labels = np.where(y == 0, "b", "a")
    model = _model().fit(X[:200], labels[:200], X[200:], labels[200:])
    return model, X[200:], labels[200:]


def test_classification_learns_and_maps_string_labels(fitted_ab):
    model, X_val, y_val = fitted_ab
    pred = model.predict(X_val)
    assert list(model.classes_) == ["a", "b"]
    assert set(pred) <= {"a", "b"}
    assert (pred == y_val).mean() > 0.85  # chance is ~0.5


def test_predict_proba_rows_sum_to_one_in_classes_order(fitted_ab):
    model, X_val, _ = fitted_ab
    proba = model.predict_proba(X_val)
    assert proba.shape == (len(X_val), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X_val))


def test_fitted_state_is_cpu_eval_network_and_history(fitted_ab):
    model, _, _ = fitted_ab
    assert not model.network_.training
    assert all(
        p.device.type == "cpu" and p.dtype == torch.float32 for p in model.network_.parameters()
    )
    assert model.n_features_in_ == 10
    assert [h["epoch"] for h in model.history_] == list(range(len(model.history_)))
    assert set(model.history_[0]) == {"epoch", "train/loss", "val/loss", "val/accuracy"}
    assert model.history_[-1]["train/loss"] < model.history_[0]["train/loss"]


def test_multiclass_integer_labels_keep_their_values():
    X, y = _classification(n_classes=3)
    labels = np.array([10, 20, 30])[y]
    model = _model().fit(X[:200], labels[:200], X[200:], labels[200:])
    assert list(model.classes_) == [10, 20, 30]
    assert model.predict_proba(X[200:]).shape == (100, 3)
    assert (model.predict(X[200:]) == labels[200:]).mean() > 0.7  # chance is ~0.33


def test_regression_learns_on_the_original_scale():
    X, y = make_regression(300, n_features=8, noise=1.0, random_state=0)
    X, y = X.astype(np.float32), y * 100 + 50_000  # far from a standardised target
    model = _model(task="regression", max_epochs=60, patience=10)
    model.fit(X[:200], y[:200], X[200:], y[200:])
    pred = model.predict(X[200:])
    assert model.y_mean_ == pytest.approx(y[:200].mean())
    r2 = 1 - ((pred - y[200:]) ** 2).sum() / ((y[200:] - y[200:].mean()) ** 2).sum()
    assert r2 > 0.8
    # The recorded val/rmse is on the original scale and belongs to the restored weights.
    rmse = np.sqrt(((pred - y[200:]) ** 2).mean())
    assert rmse == pytest.approx(model.history_[model.best_epoch_]["val/rmse"], rel=1e-4)
    assert not hasattr(model, "predict_proba")


def test_early_stopping_restores_best_epoch_and_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 10)).astype(np.float32)
    y = rng.integers(0, 2, size=300)  # pure noise: val loss bottoms out, then overfitting
    model = _model(hidden_sizes=(128, 128), lr=1e-2, max_epochs=200, patience=3)
    model.fit(X[:200], y[:200], X[200:], y[200:])

    val_losses = [h["val/loss"] for h in model.history_]
    assert len(model.history_) < 200
    assert model.best_epoch_ == len(model.history_) - 1 - 3
    assert val_losses[model.best_epoch_] == min(val_losses)
    # network_ holds the best epoch's weights, not the last epoch's.
    proba = model.predict_proba(X[200:])
    restored_loss = -np.log(proba[np.arange(100), y[200:]]).mean()
    assert restored_loss == pytest.approx(min(val_losses), rel=1e-4)
    assert list(tmp_path.iterdir()) == []  # no lightning_logs/, no checkpoints


def test_a_time_budget_stops_at_an_epoch_end_keeps_the_best_epoch_and_says_so():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    budget = {**CPU, "max_time": 1e-6}  # spent within the first epoch
    model = _model(max_epochs=50, patience=50, trainer=budget)
    model.fit(X[:200], y[:200], X[200:], y[200:])
    assert model.stopped_by_ == "max_time"
    assert len(model.history_) == 1 and "val/loss" in model.history_[0]  # validated first
    assert model.guard() == (
        "stopped by its time budget (trainer.max_time=1e-06) after 1 of 50 epochs, "
        "before early stopping; best epoch 0 kept"
    )
    without_val = _model(max_epochs=50, trainer=budget).fit(X, y)
    assert without_val.guard() == (
        "stopped by its time budget (trainer.max_time=1e-06) after 1 of 50 epochs"
    )
    # Within its budget a fit ends by its own rule, and nothing is said.
    unbounded = _model(max_epochs=3, trainer={**CPU, "max_time": "00:01:00:00"})
    unbounded.fit(X[:200], y[:200], X[200:], y[200:])
    assert unbounded.stopped_by_ == "max_epochs" and unbounded.guard() is None
    stopped = _model(max_epochs=200, patience=2, lr=0.05).fit(X[:200], y[:200], X[200:], y[200:])
    assert stopped.stopped_by_ == "early_stopping" and stopped.guard() is None


def test_the_mlp_factory_records_the_time_budget_as_its_guard():
    X, y = _classification()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    model = mlp(
        "classification", hidden_sizes=[8], max_epochs=40, trainer={**CPU, "max_time": 1e-6}
    )
    model.fit(frame.iloc[:200], pd.Series(y[:200]), frame.iloc[200:], pd.Series(y[200:]))
    assert model.describe()["guard"].startswith("stopped by its time budget")
    assert "guard" not in _small_mlp(max_epochs=2).fit(frame, pd.Series(y)).describe()


@pytest.mark.parametrize("bad", ["5 minutes", "00:05:00", -1, 0, True, [60]])
def test_a_time_budget_that_is_not_seconds_or_dd_hh_mm_ss_is_refused_before_training(bad):
    X, y = _classification()
    with pytest.raises(ValueError, match=r"trainer\.max_time must be"):
        _model(trainer={**CPU, "max_time": bad}).fit(X, y)


def test_without_validation_trains_max_epochs_and_keeps_last():
    X, y = _classification()
    model = _model(max_epochs=4).fit(X, y)
    assert len(model.history_) == 4
    assert model.best_epoch_ == 3
    assert set(model.history_[-1]) == {"epoch", "train/loss"}


def test_same_seed_same_predictions_other_seed_differs():
    X, y = _classification()
    fits = [
        _model(max_epochs=5, random_state=seed).fit(X[:200], y[:200], X[200:], y[200:])
        for seed in (7, 7, 8)
    ]
    probas = [m.predict_proba(X[200:]) for m in fits]
    np.testing.assert_array_equal(probas[0], probas[1])
    assert fits[0].history_ == fits[1].history_
    assert not np.array_equal(probas[0], probas[2])


def test_joblib_round_trip_is_identical_and_holds_no_trainer(fitted_ab, tmp_path):
    model, X_val, _ = fitted_ab
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_val), model.predict_proba(X_val))
    np.testing.assert_array_equal(loaded.predict(X_val), model.predict(X_val))
    kept = list(vars(loaded).values())
    assert not any(isinstance(v, L.Trainer | L.LightningModule | torch.Generator) for v in kept)
    # A fresh process (evaluate, batch prediction, `mlflow models serve`) loads and predicts
    # with torch alone: lightning is for training.
    np.save(tmp_path / "X.npy", X_val)
    code = (
        "import sys, joblib, numpy as np; "
        f"m = joblib.load({str(tmp_path / 'model.joblib')!r}); "
        f"m.predict(np.load({str(tmp_path / 'X.npy')!r})); "
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'lightning'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("poison", "lr"),
    [("nan_input", 1e-3), ("none", 1e6)],
    ids=["nan-input", "absurd-lr"],
)
def test_non_finite_loss_raises_naming_the_epoch(poison, lr):
    X, y = _classification()
    if poison == "nan_input":
        X[5, 3] = np.nan
    model = _model(lr=lr, max_epochs=30)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+.*learning rate too high"):
        model.fit(X[:200], y[:200], X[200:], y[200:])


def test_unknown_trainer_key_is_rejected_by_name():
    X, y = _classification()
    with pytest.raises(ValueError, match="gpus"):
        _model(trainer={**CPU, "gpus": 1}).fit(X, y)


def test_sklearn_clone_keeps_parameters():
    model = _model(hidden_sizes=[64], lr=3e-4)
    assert clone(model).get_params() == model.get_params()


@pytest.mark.parametrize(
    ("categorical", "n_inputs"), [("embedding", 11), ("one_hot", 12)], ids=["embedding", "one-hot"]
)
def test_mlp_factory_fits_raw_frame_with_categories(categorical, n_inputs):
    X, y = _classification()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    frame["colour"] = pd.Series(np.where(y == 1, "red", "blue"), dtype="str")
    model = mlp(
        "classification",
        categorical=categorical,
        hidden_sizes=[16],
        batch_size=32,
        max_epochs=15,
        patience=5,
        trainer=CPU,
    )
    model.fit(frame.iloc[:200], pd.Series(y[:200]), frame.iloc[200:], pd.Series(y[200:]))
    assert model.family == "deep"
    # 10 numbers + one code column (embedding) or one-hot of 2 colours
    assert model.estimator.n_features_in_ == n_inputs
    assert (model.predict(frame.iloc[200:]) == y[200:]).mean() > 0.85


# ---- categories as embeddings ------------------------------------------------------------


def _small_mlp(**kwargs):
    params = {"hidden_sizes": [16], "lr": 1e-2, "batch_size": 32, "max_epochs": 20, "patience": 5}
    return mlp("classification", trainer=CPU, **{**params, **kwargs})


@pytest.fixture(scope="module")
def fitted_embedding():
    frame, y = labelled_categories()
    model = _small_mlp(embedding_dim=4).fit(frame[:300], y[:300], frame[300:], y[300:])
    return model, frame, y


def test_embedding_network_takes_numbers_then_one_code_per_category(fitted_embedding):
    model, frame, y = fitted_embedding
    est = model.estimator
    assert est.layout_ == {"n_numeric": 2, "cardinalities": [6, 4]}  # 4 colours + NaN, 2 shapes
    assert est.n_features_in_ == 4
    embeddings = est.network_[0]
    assert isinstance(embeddings, CategoryEmbeddings)
    assert [e.weight.shape[1] for e in embeddings.embeddings] == [4, 4]
    # The unknown code's vector stays zero through training.
    for e in embeddings.embeddings:
        assert torch.count_nonzero(e.weight[UNKNOWN_CODE]) == 0
    assert (model.predict(frame[300:]) == y[300:]).mean() > 0.8
    # Embeddings (6 + 4 codes) x 4, then 2 + 2 * 4 inputs -> 16 hidden -> 2 classes.
    assert model.describe()["parameters"] == (6 + 4) * 4 + (10 * 16 + 16) + (16 * 2 + 2)


def test_unseen_and_missing_categories_predict_without_error(fitted_embedding):
    model, frame, _ = fitted_embedding
    rows = frame[300:305].copy()
    rows["colour"] = ["ultraviolet", None, "red", "red", None]
    rows["shape"] = [None, "hexagon", "circle", None, "square"]  # no NaN shape in training
    with pytest.warns(UnseenCategoryWarning) as warned:
        proba = model.predict_proba(rows)
    warned_columns = sorted(str(w.message).split(":")[0] for w in warned)
    assert warned_columns == ["column 'colour'", "column 'shape'"]
    assert proba.shape == (5, 2)
    assert np.isfinite(proba).all()
    codes = model.preprocessor.transform(rows)[:, 2:]
    assert codes.tolist() == [[0, 0], [1, 0], [5, 2], [5, 0], [1, 3]]


def test_embedding_model_joblib_round_trip_is_identical(fitted_embedding, tmp_path):
    model, frame, _ = fitted_embedding
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_embedding_without_categories_is_a_plain_mlp():
    frame, y = labelled_categories()
    numbers = frame[["x1", "x2"]]
    model = _small_mlp().fit(numbers[:300], y[:300], numbers[300:], y[300:])
    assert isinstance(model.estimator.network_, MLP)
    assert model.estimator.layout_ == {"n_numeric": 2, "cardinalities": []}
    assert (model.predict(numbers[300:]) == y[300:]).mean() > 0.6


def test_embedding_without_numbers_learns_from_categories():
    frame, y = labelled_categories()
    codes_only = frame[["colour", "shape"]]
    model = _small_mlp().fit(codes_only[:300], y[:300], codes_only[300:], y[300:])
    assert model.estimator.layout_ == {"n_numeric": 0, "cardinalities": [6, 4]}
    assert (model.predict(codes_only[300:]) == y[300:]).mean() > 0.65


def test_embedding_regression_on_a_category_effect():
    frame, _ = labelled_categories()
    target = frame["x1"] + frame["colour"].map({"red": 3.0, "green": -3.0}).fillna(0.0)
    model = mlp(
        "regression", hidden_sizes=[32], batch_size=32, max_epochs=40, patience=8, trainer=CPU
    )
    model.fit(frame[:300], target[:300], frame[300:], target[300:])
    rmse = float(np.sqrt(((model.predict(frame[300:]) - target[300:]) ** 2).mean()))
    assert rmse < 0.5 * float(target[300:].std())


def test_layout_that_does_not_match_the_matrix_is_rejected():
    X, y = _classification()
    with pytest.raises(ValueError, match="layout has 8 numeric \\+ 1 code columns"):
        _model().fit(X, y, layout={"n_numeric": 8, "cardinalities": [3]})


def test_unknown_categorical_encoding_is_rejected():
    with pytest.raises(ValueError, match="one_hot"):
        mlp("classification", categorical="ordinal")


class _CrashAt(L.Callback):
    """Simulates a crash (power cut, OOM kill) at the start of one epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"simulated crash at epoch {self.epoch}")


class _CrashingMLP(LightningMLP):
    def _make_callbacks(self, has_val, keep_best):
        return [*super()._make_callbacks(has_val, keep_best), _CrashAt(4)]


def test_checkpoints_resume_to_the_same_model_as_an_uninterrupted_run(tmp_path):
    X, y = _classification()
    split = int(len(X) * 0.75)
    fit = {"X": X[:split], "y": y[:split], "X_val": X[split:], "y_val": y[split:]}
    hyper = {"hidden_sizes": (16,), "dropout": 0.2, "max_epochs": 8, "patience": 3}

    def trainer(folder, resume=False):
        return {
            **CPU,
            "deterministic": True,
            "checkpoint_dir": str(tmp_path / folder),
            "resume": resume,
        }

    whole = LightningMLP(**hyper, trainer=trainer("whole")).fit(**fit)
    assert {p.name for p in (tmp_path / "whole").iterdir()} == {"best.ckpt", "last.ckpt"}

    with pytest.raises(RuntimeError, match="simulated crash at epoch 4"):
        _CrashingMLP(**hyper, trainer=trainer("cut")).fit(**fit)
    resumed = LightningMLP(**hyper, trainer=trainer("cut", resume=True)).fit(**fit)

    assert [r["epoch"] for r in resumed.history_] == [r["epoch"] for r in whole.history_]
    assert resumed.history_ == whole.history_
    assert resumed.best_epoch_ == whole.best_epoch_
    np.testing.assert_array_equal(resumed.predict_proba(X), whole.predict_proba(X))


def test_last_checkpoint_after_the_first_epoch_then_at_most_every_interval(tmp_path):
    """last.ckpt is written after epoch 0, then only once the interval has passed, and when
    training ends; best.ckpt holds the best epoch. A crash at epoch 4 with a long interval
    leaves epoch 0's last.ckpt."""
    X, y = _classification()
    fit = {"X": X[:225], "y": y[:225], "X_val": X[225:], "y_val": y[225:]}
    hyper = {"hidden_sizes": (16,), "max_epochs": 8, "patience": 8}

    def trainer(folder, seconds):
        return {
            **CPU,
            "checkpoint_dir": str(tmp_path / folder),
            "checkpoint_every_seconds": seconds,
        }

    def epoch_of(path):
        return torch.load(path, map_location="cpu", weights_only=False)["epoch"]

    with pytest.raises(RuntimeError, match="simulated crash at epoch 4"):
        _CrashingMLP(**hyper, trainer=trainer("cut", 3600)).fit(**fit)
    assert epoch_of(tmp_path / "cut/last.ckpt") == 0  # saved at epoch 0, not since
    every = LightningMLP(**hyper, trainer=trainer("every", 0)).fit(**fit)
    assert epoch_of(tmp_path / "every/last.ckpt") == len(every.history_)
    model = LightningMLP(**hyper, trainer=trainer("rare", 3600)).fit(**fit)
    assert epoch_of(tmp_path / "rare/last.ckpt") == len(model.history_)  # at the end
    assert epoch_of(tmp_path / "rare/best.ckpt") == model.best_epoch_


@pytest.mark.parametrize("n_rows", [10, 11, 2])
def test_training_batches_are_sharded_like_a_distributed_sampler(monkeypatch, n_rows):
    """Under DDP (world size 3 here), every rank steps equally often over its own rows; the
    shards together cover every row, padding with repeats only; validation is not sharded."""
    X = torch.arange(n_rows, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n_rows)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(deep, "_process_group", lambda rank=rank: (rank, 3))
        batches = deep.TensorBatches(X, y, batch_size=2, seed=7)
        rows = [int(v) for _, yb in batches for v in yb]
        assert len(list(batches)) == len(batches) == -(-len(rows) // 2)
        shards.append(rows)
        validation = deep.TensorBatches(X, y, batch_size=2, seed=None)
        assert [int(v) for _, yb in validation for v in yb] == list(range(n_rows))
    assert len({len(rows) for rows in shards}) == 1
    assert sorted(set().union(*shards)) == list(range(n_rows))
    assert 3 * len(shards[0]) - n_rows < 3  # padding: fewer repeats than ranks


def test_checking_a_time_budget_does_not_import_lightning():
    code = (
        "import sys\n"
        "from bakeoff.models.deep import LightningMLP, time_budget\n"
        "config = LightningMLP(trainer={'max_time': '00:00:05:00'})._trainer_config()\n"
        "assert time_budget(config['max_time']).total_seconds() == 300\n"
        "assert 'lightning' not in sys.modules\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_prepare_imports_lightning_so_a_timed_fit_does_not_pay_for_it():
    """fit_model calls prepare() before starting the clock: the one-time `import lightning`
    (seconds) is not charged to the first network fitted in a process."""
    code = (
        "import sys\n"
        "from bakeoff.models import build_model\n"
        "model = build_model({'_target_': 'bakeoff.models.deep.mlp'}, 'classification')\n"
        "assert 'lightning' not in sys.modules\n"
        "model.prepare()\n"
        "assert 'lightning' in sys.modules\n"
        "import inspect, bakeoff.models.fitting as f\n"
        "source = inspect.getsource(f.fit_model)\n"
        "assert source.index('prepared(config, task)') < source.index('perf_counter()')\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
