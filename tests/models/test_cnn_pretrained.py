"""cnn_pretrained: a ResNet's weights from a local file (made here, random), frozen or fine-tuned,
on tiny generated 8x8 grayscale images; the saved model predicts without the file."""

from __future__ import annotations

import copy
import io
import pickle
import shutil
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from bakeoff.data.images import image_columns
from bakeoff.models import build_model
from bakeoff.models.vision_pretrained import (
    WEIGHTS_URLS,
    LightningPretrainedCNN,
    PretrainedCNN,
    ResNet,
    cnn_pretrained,
    load_backbone,
    read_weights,
    resolve_weights,
)
from bakeoff.params import compose_conf
from bakeoff.tracking.serving import ServedModel, save_served_model
from conftest import PROJECT_ROOT

SHAPE = (1, 8, 8)
CPU = {"accelerator": "cpu", "devices": 1, "num_threads": 1}
# resize 32: ResNet-18's last map is 1x1, the cheapest size that runs every layer.
QUICK = {"resize": 32, "batch_size": 16, "max_epochs": 2, "patience": 2, "trainer": CPU}


def _images(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Noise with a bright bar whose column says the class (0, 1 or 2), as a pixel table."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.3, size=(n, *SHAPE)).astype(np.float32)
    labels = np.arange(n) % 3
    for image, label in zip(images, labels, strict=True):
        image[0, 1:7, 1 + 2 * label : 3 + 2 * label] += 0.7
    frame = pd.DataFrame(images.reshape(n, -1), columns=image_columns(SHAPE))
    return frame, np.array(["zero", "one", "two"])[labels]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """A ResNet-18 state dict as torchvision saves it (an ImageNet `fc` included), every tensor
    random (BatchNorm statistics too, so a load that kept the defaults would show), as
    .safetensors and as .pth."""
    folder = tmp_path_factory.mktemp("weights")
    generator = torch.Generator().manual_seed(0)
    state = dict(ResNet("resnet18").state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    for name, tensor in state.items():
        if tensor.is_floating_point():
            state[name] = torch.rand(tensor.shape, generator=generator) * 0.1 + 0.01
    save_file(state, str(folder / "resnet18.safetensors"))
    torch.save(state, folder / "resnet18.pth")
    return {"safetensors": folder / "resnet18.safetensors", "pth": folder / "resnet18.pth"}


def _saved(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in read_weights(path).items() if not k.startswith("fc.")}


def _recording_fit(monkeypatch, model, X, y, X_val, y_val):
    """Fit `model` (a TabularModel), returning the network's state before training."""
    built = {}
    build = LightningPretrainedCNN._build_network

    def recording(self, n_features, n_outputs):
        network = build(self, n_features, n_outputs)
        built["state"] = copy.deepcopy(network.state_dict())
        return network

    monkeypatch.setattr(LightningPretrainedCNN, "_build_network", recording)
    model.fit(X, y, X_val, y_val)
    return built["state"]


def _pickled_modules(data: bytes) -> set[str]:
    """The top-level packages whose classes and functions a pickle refers to."""
    found = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(module.split(".")[0])
            return super().find_class(module, name)

    Recording(io.BytesIO(data)).load()
    return found


def _changed(before: dict, after: dict, prefix: str) -> dict[str, bool]:
    return {k: not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix)}


# ---- weights ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_weights_load_unchanged_from_safetensors_and_pth(weights, kind):
    backbone = load_backbone("resnet18", weights[kind])
    loaded = backbone.state_dict()
    saved = _saved(weights[kind])
    assert loaded.keys() == saved.keys()  # the ImageNet classifier is dropped
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_weights_of_another_arch_are_refused_naming_the_file(weights):
    with pytest.raises(ValueError, match=r"resnet18\.pth: these are not resnet34 weights"):
        load_backbone("resnet34", weights["pth"])


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_damaged_weights_file_is_refused_naming_the_file(weights, kind, tmp_path):
    """A download cut short, or bytes that are no weights file: a ValueError that names the
    file and says what to do, not torch's or safetensors' bare error."""
    whole = weights[kind].read_bytes()
    for name, content in (("cut", whole[: len(whole) // 2]), ("junk", b"not weights at all")):
        path = tmp_path / f"{name}.{kind}"
        path.write_bytes(content)
        # torch reads some junk as a refused pickle, which may also be a damaged file
        with pytest.raises(ValueError, match=rf"{name}\.{kind}: .*(damaged|cut short)"):
            read_weights(path)


def test_a_pth_that_needs_full_unpickling_is_refused_naming_the_file(tmp_path):
    pickled = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)  # the module object, not its state dict
    with pytest.raises(ValueError, match=r"whole_model\.pth: refused: .*full unpickling"):
        read_weights(pickled)
    (tmp_path / "weights.bin").write_bytes(pickled.read_bytes())
    with pytest.raises(ValueError, match=r"weights\.bin: weights must be a \.safetensors"):
        read_weights(tmp_path / "weights.bin")


def test_a_missing_file_says_how_to_get_weights_and_downloads_nothing(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    missing = tmp_path / "resnet18-f37072fd.pth"
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights(missing, "resnet18", allow_download=False)
    message = str(error.value)
    assert str(missing) in message and "models.cnn_pretrained.weights" in message
    assert WEIGHTS_URLS["resnet18"] in message and "allow_download: true" in message
    with pytest.raises(ValueError, match="weights is not set"):
        resolve_weights(None, "resnet18", allow_download=False)
    # The contestant fails with that message at fit, as a contestant does.
    X, y = _images(12)
    model = cnn_pretrained("classification", image_shape=list(SHAPE), weights=str(missing))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.fit(X, y)


def test_allow_download_fetches_torchvisions_file_to_the_weights_path(
    weights, tmp_path, monkeypatch
):
    fetched = []

    def download(url, dst, hash_prefix=None, progress=True):
        fetched.append((url, hash_prefix))
        shutil.copy(weights["pth"], dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    target = tmp_path / "pretrained" / "resnet18-f37072fd.pth"
    assert resolve_weights(target, "resnet18", allow_download=True) == target
    assert fetched == [(WEIGHTS_URLS["resnet18"], "f37072fd")]
    assert resolve_weights(target, "resnet18", allow_download=True) == target  # once
    assert len(fetched) == 1


# ---- the network --------------------------------------------------------------------------------


def test_grayscale_is_repeated_to_rgb_and_resized_inside_the_network(weights):
    network = PretrainedCNN(
        load_backbone("resnet18", weights["pth"]),
        SHAPE,
        3,
        resize=32,
        dropout=0.0,
        frozen_stages=5,
    ).eval()
    gray = torch.rand(4, 1, 8, 8)
    rgb = PretrainedCNN(
        network.backbone, (3, 8, 8), 3, resize=32, dropout=0.0, frozen_stages=5
    ).eval()
    rgb.head.load_state_dict(network.head.state_dict())
    with torch.no_grad():
        out = network(gray.reshape(4, -1))
        torch.testing.assert_close(out, rgb(gray.expand(-1, 3, -1, -1).reshape(4, -1)))
    assert out.shape == (4, 3)
    # Frozen: training mode leaves the backbone (its BatchNorm) in eval mode.
    network.train()
    assert network.head.training and not network.backbone.training
    assert not any(m.training for m in network.backbone.modules())
    assert not any(p.requires_grad for p in network.backbone.parameters())


def test_finetuning_gives_the_backbone_a_lower_learning_rate(weights):
    backbone = load_backbone("resnet18", weights["pth"])
    network = PretrainedCNN(
        backbone, SHAPE, 2, resize=32, dropout=0.0, frozen_stages=2, backbone_lr_scale=0.1
    )
    head, trained = network.parameter_groups(1e-3)
    assert head["lr"] == 1e-3 and trained["lr"] == pytest.approx(1e-4)
    frozen = {
        id(p) for m in (backbone.conv1, backbone.bn1, backbone.layer1) for p in m.parameters()
    }
    assert not frozen & {id(p) for p in trained["params"]}
    assert len(trained["params"]) == sum(p.requires_grad for p in backbone.parameters()) > 0
    # The shared training module builds AdamW from those groups.
    from bakeoff.models.training import TrainingModule

    module = TrainingModule(network, task="classification", lr=1e-3, weight_decay=0.0)
    optimizer = module.configure_optimizers()
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, pytest.approx(1e-4)]


# ---- fitting ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_fit(weights, tmp_path_factory):
    """The frozen contestant fitted on 60 images, with the network's state before training."""
    monkeypatch = pytest.MonkeyPatch()
    X, y = _images(60)
    model = cnn_pretrained(
        "classification", image_shape=list(SHAPE), weights=str(weights["safetensors"]), **QUICK
    )
    try:
        before = _recording_fit(monkeypatch, model, X[:45], y[:45], X[45:], y[45:])
    finally:
        monkeypatch.undo()
    return model, before, X


def test_frozen_trains_the_head_and_leaves_the_backbone_as_loaded(frozen_fit, weights):
    model, before, _ = frozen_fit
    after = model.estimator.network_.state_dict()
    assert not any(_changed(before, after, "backbone.").values())  # BatchNorm statistics too
    assert all(_changed(before, after, "head.").values())
    saved = _saved(weights["safetensors"])
    assert all(torch.equal(after[f"backbone.{k}"], v) for k, v in saved.items())


def test_predictions_and_probabilities_have_the_tasks_shapes(frozen_fit):
    model, _, X = frozen_fit
    assert model.family == "deep"
    assert list(model.classes_) == ["one", "two", "zero"]
    proba = model.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert model.describe()["parameters"] > 11_000_000


def test_finetuning_trains_the_backbone_above_its_frozen_layers(weights, monkeypatch):
    X, y = _images(60, seed=1)
    model = cnn_pretrained(
        "classification",
        image_shape=list(SHAPE),
        weights=str(weights["pth"]),
        mode="finetune",
        frozen_layers=2,  # the stem and layer1
        **{**QUICK, "max_epochs": 1, "resize": 40},
    )
    before = _recording_fit(monkeypatch, model, X[:45], y[:45], X[45:], y[45:])
    after = model.estimator.network_.state_dict()
    for prefix in ("backbone.conv1.", "backbone.bn1.", "backbone.layer1."):
        assert not any(_changed(before, after, prefix).values()), prefix
    for prefix in ("backbone.layer2.", "backbone.layer4.", "head."):
        assert any(_changed(before, after, prefix).values()), prefix
    assert all(_changed(before, after, "backbone.layer4.0.conv1.").values())


def test_regression_predicts_on_the_target_scale(weights):
    X, _ = _images(40, seed=2)
    target = 100 + 10 * X.to_numpy()[:, :32].mean(axis=1)
    model = cnn_pretrained(
        "regression",
        image_shape=list(SHAPE),
        weights=str(weights["pth"]),
        **{**QUICK, "max_epochs": 1},
    )
    model.fit(X[:30], pd.Series(target[:30]), X[30:], pd.Series(target[30:]))
    pred = model.predict(X)
    assert pred.shape == (40,) and np.isfinite(pred).all()
    assert model.estimator.y_mean_ == pytest.approx(target[:30].mean())
    assert not hasattr(model.estimator, "predict_proba")


def test_bad_settings_are_named(weights):
    X, y = _images(12)
    for setting, message in [
        ({"mode": "linear_probe"}, "mode must be one of"),
        ({"arch": "resnet19"}, "arch must be one of"),
        ({"mode": "finetune", "resize": 32}, "fine-tuning needs images over 32 pixels"),
        ({"mode": "finetune", "resize": None}, r"image_shape \[1, 8, 8\]"),
    ]:
        hyper = {**QUICK, "weights": str(weights["pth"]), **setting}
        with pytest.raises(ValueError, match=message):
            cnn_pretrained("classification", image_shape=list(SHAPE), **hyper).fit(X, y)


# ---- saved --------------------------------------------------------------------------------------


def test_pickle_and_pyfunc_predict_without_the_weights_file(frozen_fit, weights, tmp_path):
    model, _, X = frozen_fit
    # The weights file goes away: the fitted network holds the weights.
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in weights.values():
        shutil.move(path, moved / path.name)
    try:
        expected = model.predict_proba(X)
        joblib.dump(model, tmp_path / "model.joblib")
        np.testing.assert_array_equal(
            joblib.load(tmp_path / "model.joblib").predict_proba(X), expected
        )
        # Unpickling needs torch and bakeoff: no torchvision, safetensors or lightning.
        modules = _pickled_modules(pickle.dumps(model))
        assert {"torch", "bakeoff"} <= modules
        assert not modules & {"torchvision", "safetensors", "lightning"}

        served = ServedModel(model=model, steps=[], target="label")
        (tmp_path / "work").mkdir()
        save_served_model(served, tmp_path / "saved", X.head(3), tmp_path / "work")
        requirements = (tmp_path / "saved" / "requirements.txt").read_text()
        assert "torch==" in requirements and "torchvision" not in requirements
        out = mlflow.pyfunc.load_model(str(tmp_path / "saved")).predict(X)
        np.testing.assert_allclose(
            out[["proba_one", "proba_two", "proba_zero"]], expected, atol=1e-6
        )
    finally:
        for path in weights.values():
            shutil.move(moved / path.name, path)


# ---- config -------------------------------------------------------------------------------------


def test_the_contestant_is_opt_in_and_reads_the_image_shape_from_the_card():
    conf = PROJECT_ROOT / "conf"
    assert "cnn_pretrained" not in compose_conf(conf, ["data=digits"])["models"]
    assert "cnn_pretrained" not in compose_conf(conf, ["lineup=full"])["models"]
    overrides = [
        "data=digits",
        "trainer=cpu",
        "+model@models.cnn_pretrained=cnn_pretrained",
        "models.cnn_pretrained.weights=/some/where/resnet18.safetensors",
    ]
    config = compose_conf(conf, overrides)["models"]["cnn_pretrained"]
    assert config["image_shape"] == [1, 8, 8] and config["allow_download"] is False
    model = build_model(config, "classification")
    assert model.estimator.weights == "/some/where/resnet18.safetensors"
    assert model.estimator.mode == "frozen"
    assert model.estimator.trainer["accelerator"] == "cpu"
