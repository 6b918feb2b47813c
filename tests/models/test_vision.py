"""LightningCNN and the `cnn` factory: the estimator contract on tiny generated images."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from bakeoff.data.images import image_columns
from bakeoff.models import build_model
from bakeoff.models.vision import CNN, LightningCNN, cnn
from bakeoff.params import compose_conf
from conftest import PROJECT_ROOT

CPU = {"accelerator": "cpu", "devices": 1}
RGB = (3, 16, 16)


def _images(n: int, shape=RGB, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise images with a bright square in the left (label 0) or right (label 1) half."""
    rng = np.random.default_rng(seed)
    channels, height, width = shape
    images = rng.uniform(0, 0.3, size=(n, channels, height, width)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    for image, label in zip(images, labels, strict=True):
        left = 1 + label * (width // 2)
        image[:, 2:6, left : left + 4] += 0.7
    return images.reshape(n, -1), labels  # flattened in C order, as the pixel table holds it


def _model(**kwargs) -> LightningCNN:
    params = {
        "image_shape": list(RGB),
        "channels": (8, 16),
        "batch_size": 16,
        "max_epochs": 10,
        "patience": 4,
        "trainer": CPU,
    }
    return LightningCNN(**{**params, **kwargs})


@pytest.fixture(scope="module")
def fitted_rgb():
    X, y = _images(120)
    labels = np.where(y == 1, "right", "left")
    model = _model().fit(X[:80], labels[:80], X[80:], labels[80:])
    return model, X[80:], labels[80:]


def test_classification_contract_on_three_channel_images(fitted_rgb):
    model, X_val, y_val = fitted_rgb
    assert list(model.classes_) == ["left", "right"]
    proba = model.predict_proba(X_val)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X_val))
    assert (model.predict(X_val) == y_val).mean() > 0.9
    assert isinstance(model.network_, CNN) and not model.network_.training
    assert model.n_features_in_ == 3 * 16 * 16
    assert set(model.history_[0]) == {"epoch", "train/loss", "val/loss", "val/accuracy"}
    assert 0 <= model.best_epoch_ < len(model.history_)


def test_regression_head_predicts_on_the_target_scale():
    X = np.random.default_rng(1).uniform(size=(120, 64)).astype(np.float32)
    target = 1000 + 50 * X.reshape(-1, 1, 8, 8)[:, 0, :4, :].mean(axis=(1, 2))  # top half
    model = _model(task="regression", image_shape=[1, 8, 8], max_epochs=30, patience=8)
    model.fit(X[:80], target[:80], X[80:], target[80:])
    pred = model.predict(X[80:])
    assert pred.shape == (40,)
    assert model.y_mean_ == pytest.approx(target[:80].mean())
    rmse = np.sqrt(((pred - target[80:]) ** 2).mean())
    assert rmse == pytest.approx(model.history_[model.best_epoch_]["val/rmse"], rel=1e-4)
    assert not hasattr(model, "predict_proba")


def test_same_seed_same_predictions_with_deterministic_cpu_trainer():
    X, y = _images(60, shape=(1, 8, 8))
    trainer = {**CPU, "deterministic": True}
    fits = [
        _model(image_shape=[1, 8, 8], max_epochs=3, trainer=trainer).fit(
            X[:40], y[:40], X[40:], y[40:]
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    assert fits[0].history_ == fits[1].history_


def test_image_shape_that_does_not_match_the_pixels_is_rejected():
    X, y = _images(20, shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"image_shape \[3, 8, 8\] has 192 pixels, X has 64"):
        _model(image_shape=[3, 8, 8]).fit(X, y)
    with pytest.raises(ValueError, match="channels, height, width"):
        _model(image_shape=None).fit(X, y)


def _pixel_frame(X: np.ndarray, shape) -> pd.DataFrame:
    return pd.DataFrame(X, columns=image_columns(shape))


def test_cnn_factory_reads_pixel_columns_by_name_and_round_trips(tmp_path):
    X, y = _images(100)
    frame = _pixel_frame(X, RGB)
    hyper = {"channels": [8], "batch_size": 16, "max_epochs": 6, "patience": 3, "trainer": CPU}
    model = cnn("classification", image_shape=list(RGB), random_state=0, **hyper)
    model.fit(frame[:70], pd.Series(y[:70]), frame[70:], pd.Series(y[70:]))
    assert model.family == "deep"
    # Column order in the request does not matter: pixels are taken by name.
    shuffled = frame[70:].sample(frac=1.0, axis=1, random_state=0)
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(frame[70:]))
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert model.describe()["parameters"] > 0


def test_cnn_config_takes_the_image_shape_from_the_dataset_card():
    overrides = ["data=digits", "trainer=cpu"]
    config = compose_conf(PROJECT_ROOT / "conf", overrides)["models"]["cnn"]
    assert config["image_shape"] == [1, 8, 8]
    model = build_model(config, "classification")
    assert model.estimator.image_shape == [1, 8, 8]
    assert model.estimator.trainer["accelerator"] == "cpu"


def test_cnn_network_keeps_a_map_for_batch_norm_on_tiny_images():
    net = CNN((1, 4, 4), channels=(4, 4, 4), n_outputs=3, dropout=0.0)
    out = net.train()(torch.rand(1, 16))  # one image in training mode: BatchNorm still works
    assert out.shape == (1, 3)
