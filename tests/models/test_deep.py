"""LightningMLP: learning, label mapping, early stopping, determinism, persistence, failures."""

from __future__ import annotations

import joblib
import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression

from bakeoff.models.deep import LightningMLP, mlp

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


def test_mlp_factory_fits_raw_frame_with_categories():
    X, y = _classification()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    frame["colour"] = np.where(y == 1, "red", "blue")  # one-hot encoded by the factory
    model = mlp(
        "classification", hidden_sizes=[16], batch_size=32, max_epochs=15, patience=5, trainer=CPU
    )
    model.fit(frame.iloc[:200], pd.Series(y[:200]), frame.iloc[200:], pd.Series(y[200:]))
    assert model.family == "deep"
    assert model.estimator.n_features_in_ == 12  # 10 numbers + one-hot of 2 colours
    assert (model.predict(frame.iloc[200:]) == y[200:]).mean() > 0.85
