"""ResNet-MLP and FT-Transformer through their factories: the model contract on mixed frames,
unseen categories, one-kind-only frames, persistence; determinism for every tabular network."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import torch

from bakeoff.models.deep import mlp
from bakeoff.models.tabular import UnseenCategoryWarning
from bakeoff.models.tabular_nets import (
    BatchNorm,
    FeatureTokenizer,
    FTTransformer,
    ft_transformer,
    resnet,
)
from conftest import labelled_categories

# One thread: two on a shared 2-core machine spin against each other (0.7 s/epoch vs 0.05 s).
CPU = {"accelerator": "cpu", "devices": 1, "num_threads": 1}
SMALL = {
    "mlp": {"hidden_sizes": [16], "lr": 1e-2},
    "resnet": {"d_main": 16, "d_hidden": 32, "n_blocks": 1, "lr": 1e-2},
    "ft_transformer": {"d_token": 16, "n_blocks": 1, "n_heads": 2, "lr": 3e-3},
}
FACTORIES = {"resnet": resnet, "ft_transformer": ft_transformer}
NETWORKS = {"mlp": mlp, **FACTORIES}  # every tabular network (the MLP has its own module)


def _small(name: str, task: str = "classification", **kwargs):
    params = {"batch_size": 64, "max_epochs": 8, "patience": 4, "trainer": CPU}
    return NETWORKS[name](task, **{**params, **SMALL[name], **kwargs})


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request):
    frame, y = labelled_categories(300)
    labels = np.array(["high", "low", "mid"])[y + (frame["x2"].fillna(0) > 1).to_numpy()]
    model = _small(request.param).fit(frame[:200], labels[:200], frame[200:], labels[200:])
    return model, frame, labels


def test_multiclass_contract(fitted):
    model, frame, labels = fitted
    assert model.family == "deep"
    assert list(model.classes_) == ["high", "low", "mid"]
    assert model.estimator.layout_ == {"n_numeric": 2, "cardinalities": [6, 4]}
    proba = model.predict_proba(frame[200:])
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    pred = model.predict(frame[200:])
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], pred)
    assert (pred == labels[200:]).mean() > 0.6  # chance is about 0.4


def test_unseen_and_missing_categories_predict(fitted):
    model, frame, _ = fitted
    rows = frame[200:204].copy()
    rows["colour"] = ["ultraviolet", None, "red", "red"]
    rows["shape"] = [None, "hexagon", "circle", "square"]
    with pytest.warns(UnseenCategoryWarning):
        proba = model.predict_proba(rows)
    assert proba.shape == (4, 3)
    assert np.isfinite(proba).all()


def test_joblib_round_trip_is_identical(fitted, tmp_path):
    model, frame, _ = fitted
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_regression_learns_a_category_effect_on_the_original_scale(name):
    frame, _ = labelled_categories(300)
    target = 1000 + 10 * (frame["x1"] + frame["colour"].map({"red": 3.0, "green": -3.0}).fillna(0))
    model = _small(name, "regression", max_epochs=12)
    model.fit(frame[:200], target[:200], frame[200:], target[200:])
    pred = model.predict(frame[200:])
    assert not hasattr(model.estimator, "predict_proba")
    rmse = float(np.sqrt(((pred - target[200:]) ** 2).mean()))
    assert rmse < 0.6 * float(target[200:].std())


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize(
    ("columns", "layout"),
    [
        (["x1", "x2"], {"n_numeric": 2, "cardinalities": []}),
        (["colour", "shape"], {"n_numeric": 0, "cardinalities": [6, 4]}),
    ],
    ids=["numbers-only", "categories-only"],
)
def test_frames_of_one_kind_only(name, columns, layout):
    frame, y = labelled_categories(300)
    model = _small(name, max_epochs=5).fit(
        frame[columns][:200], y[:200], frame[columns][200:], y[200:]
    )
    assert model.estimator.layout_ == layout
    assert (model.predict(frame[columns][200:]) == y[200:]).mean() > 0.6


@pytest.mark.parametrize("name", list(NETWORKS))
def test_deterministic_cpu_trainer_repeats_exactly(name):
    frame, y = labelled_categories(300)
    trainer = {**CPU, "deterministic": True}
    fits = [
        _small(name, max_epochs=2, trainer=trainer).fit(frame[:200], y[:200], frame[200:], y[200:])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].predict_proba(frame), fits[1].predict_proba(frame))
    assert fits[0].estimator.history_ == fits[1].estimator.history_


def test_resnet_trains_when_the_last_batch_is_a_single_row():
    frame, y = labelled_categories(n=65 + 50)  # 65 training rows, batch 64: a last batch of one
    model = _small("resnet", normalization="batch_norm", max_epochs=1).fit(
        frame[:65], y[:65], frame[65:], y[65:]
    )
    assert len(model.estimator.history_) == 1
    assert any(isinstance(m, BatchNorm) for m in model.estimator.network_.modules())
    norm = BatchNorm(3).train()
    # Running statistics (mean 0, variance 1 at start), not the batch's: ones stay ones.
    np.testing.assert_allclose(norm(torch.ones(1, 3)).detach().numpy(), 1.0, rtol=1e-4)


def test_tokenizer_gives_one_token_per_feature_after_cls_and_unknown_is_the_bias():
    tokenizer = FeatureTokenizer(n_numeric=2, cardinalities=[5, 3], d_token=8)
    x = torch.tensor([[0.5, -1.0, 0.0, 2.0]])  # codes: colour unknown (0), shape 2
    tokens = tokenizer(x)
    assert tokens.shape == (1, 5, 8)
    torch.testing.assert_close(tokens[0, 0], tokenizer.cls[0, 0])
    torch.testing.assert_close(tokens[0, 3], tokenizer.bias[2])  # unknown code: bias only


def test_ft_transformer_rejects_heads_that_do_not_divide_d_token():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        FTTransformer(
            2,
            [],
            1,
            d_token=10,
            n_blocks=1,
            n_heads=4,
            ffn_factor=1.0,
            attention_dropout=0.0,
            ffn_dropout=0.0,
            residual_dropout=0.0,
        )


def test_resnet_rejects_an_unknown_normalization():
    frame, y = labelled_categories(300)
    with pytest.raises(ValueError, match="batch_norm"):
        _small("resnet", normalization="group_norm").fit(frame, y)
