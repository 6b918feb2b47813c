"""Transfer learning on images: a ResNet pretrained on ImageNet as a contestant (`cnn_pretrained`).

The backbone is torchvision's ResNet family, written out here with torchvision's parameter
names, so a torchvision state dict (`resnet18-f37072fd.pth` and the like) loads into it
unchanged. torchvision itself is not a dependency: PyPI's torchvision is a CUDA build that
fails to import beside the CPU build of torch (and, once installed, breaks `import
lightning`), and a served model built from these classes predicts with torch alone.

Weights come from a local file, `.safetensors` or a `.pth`/`.pt` state dict; nothing is
downloaded unless `allow_download` is true. The ImageNet classifier (`fc`) is dropped and a
head sized to the task takes its place. `mode: frozen` trains the head alone (the backbone's
BatchNorm keeps its ImageNet statistics); `finetune` trains everything but the lowest
`frozen_layers` stages, the backbone at `backbone_lr_scale` times the head's learning rate.
The network takes the raw pixel columns: grayscale is repeated to three channels, images are
resized and ImageNet-normalised inside `forward`. The weights live in the fitted network, so
the saved model needs neither the weights file nor torchvision.

This module imports torch; only conf/model/cnn_pretrained.yaml imports it.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bakeoff.models.deep import _LightningEstimator
from bakeoff.models.network_inputs import Pixels
from bakeoff.models.tabular import TabularModel
from bakeoff.models.vision import checked_pixels

log = logging.getLogger(__name__)

MODES = ("frozen", "finetune")
# torchvision's ImageNet normalisation, applied to pixels in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAFE_SUFFIXES = (".safetensors", ".pth", ".pt")
CLASSIFIER = "fc."  # the ImageNet head's parameter names: replaced, never loaded


# ---- the backbone: torchvision's ResNet, under torchvision's parameter names ------------------


def _conv(inputs: int, outputs: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        inputs, outputs, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False
    )


def _downsample(inputs: int, outputs: int, stride: int) -> nn.Module | None:
    if stride == 1 and inputs == outputs:
        return None
    return nn.Sequential(_conv(inputs, outputs, 1, stride), nn.BatchNorm2d(outputs))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inputs: int, planes: int, stride: int, groups: int, width: int):
        super().__init__()
        self.conv1, self.bn1 = _conv(inputs, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inputs, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1, 3x3 (strided, grouped), 1x1 convolutions and a shortcut (ResNet-50 and up,
    ResNeXt, wide ResNet): torchvision's "ResNet V1.5", stride on the 3x3."""

    expansion = 4

    def __init__(self, inputs: int, planes: int, stride: int, groups: int, width: int):
        super().__init__()
        inner = int(planes * width / 64) * groups
        outputs = planes * self.expansion
        self.conv1, self.bn1 = _conv(inputs, inner, 1), nn.BatchNorm2d(inner)
        self.conv2, self.bn2 = _conv(inner, inner, 3, stride, groups), nn.BatchNorm2d(inner)
        self.conv3, self.bn3 = _conv(inner, outputs, 1), nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inputs, outputs, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


# arch -> (block, blocks per stage, groups, width per group), as torchvision.models builds them.
ARCHITECTURES: dict[str, tuple[type[nn.Module], tuple[int, ...], int, int]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), 1, 64),
    "resnet34": (BasicBlock, (3, 4, 6, 3), 1, 64),
    "resnet50": (Bottleneck, (3, 4, 6, 3), 1, 64),
    "resnet101": (Bottleneck, (3, 4, 23, 3), 1, 64),
    "resnet152": (Bottleneck, (3, 8, 36, 3), 1, 64),
    "resnext50_32x4d": (Bottleneck, (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": (Bottleneck, (3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": (Bottleneck, (3, 4, 23, 3), 64, 4),
    "wide_resnet50_2": (Bottleneck, (3, 4, 6, 3), 1, 128),
    "wide_resnet101_2": (Bottleneck, (3, 4, 23, 3), 1, 128),
}
# torchvision 0.28's DEFAULT ImageNet weights per arch (models.get_model_weights(arch).DEFAULT):
# where to fetch a file offline, and what allow_download fetches. The name's hex part is the
# start of the file's SHA-256, checked on download.
WEIGHTS_URLS = {
    arch: f"https://download.pytorch.org/models/{arch}-{digest}.pth"
    for arch, digest in {
        "resnet18": "f37072fd",
        "resnet34": "b627a593",
        "resnet50": "11ad3fa6",
        "resnet101": "cd907fc2",
        "resnet152": "f82ba261",
        "resnext50_32x4d": "1a0047aa",
        "resnext101_32x8d": "110c445d",
        "resnext101_64x4d": "173b62eb",
        "wide_resnet50_2": "9ba9bcbe",
        "wide_resnet101_2": "d733dc28",
    }.items()
}


class ResNet(nn.Module):
    """torchvision's ResNet without its classifier: (b, 3, H, W) -> (b, `n_features`) pooled
    features. Parameter names match torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, ...)."""

    def __init__(self, arch: str):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
        block, depths, groups, width = ARCHITECTURES[arch]
        self.arch = arch
        self.conv1, self.bn1 = _conv(3, 64, 7, stride=2), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inputs = 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(inputs, planes, stride, groups, width))
                inputs = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.n_features = inputs
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[list[nn.Module]]:
        """Bottom to top: the stem (conv1, bn1), then layer1 ... layer4."""
        return [[self.conv1, self.bn1], *([getattr(self, f"layer{i}")] for i in range(1, 5))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (b, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (b, n_features, H/32, W/32)
        # The mean over the map, as torchvision's AdaptiveAvgPool2d(1), whose CUDA backward
        # has no deterministic implementation (trainer.deterministic would refuse it).
        return x.mean(dim=(2, 3))  # (b, n_features)


# ---- weights from a local file -----------------------------------------------------------------


def resolve_weights(weights: str | Path | None, arch: str, *, allow_download: bool) -> Path:
    """The local weights file, fetched first (torchvision's ImageNet weights for `arch`) only
    when it is missing and `allow_download` is true."""
    if arch not in WEIGHTS_URLS:
        raise ValueError(f"arch must be one of {sorted(WEIGHTS_URLS)}, got {arch!r}")
    url = WEIGHTS_URLS[arch]
    offline = (
        f"To get {arch}'s ImageNet weights without internet here, fetch {url} on a machine "
        "that has it and copy the file to this path; any .safetensors or .pth state dict of "
        f"a torchvision {arch} works (docs/deep-models.md)."
    )
    if not weights:
        raise ValueError(
            "weights is not set: give the local file of the backbone's weights, "
            f"models.cnn_pretrained.weights=<file>. {offline}"
        )
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if not allow_download:
        raise FileNotFoundError(
            f"weights: the file {path.resolve()} does not exist (models.cnn_pretrained.weights). "
            f"Nothing is downloaded unless allow_download: true. {offline}"
        )
    log.info("downloading %s to %s (allow_download: true)", url, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = torch.hub.HASH_REGEX.search(url.rsplit("/", 1)[-1])
    # Written under a temporary name and moved into place once the hash checks out.
    torch.hub.download_url_to_file(url, str(path), hash_prefix=digest.group(1), progress=False)
    return path


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path`: safetensors, or a `.pth`/`.pt` file of tensors only."""
    suffix = path.suffix.lower()
    if suffix not in SAFE_SUFFIXES:
        raise ValueError(
            f"{path}: weights must be a .safetensors file or a .pth / .pt state dict "
            "(torch.save(model.state_dict(), ...))"
        )
    damaged = (
        f"{path}: not a readable weights file, damaged or not what its name says (a "
        "download cut short?): fetch it again"
    )
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except SafetensorError as error:
            raise ValueError(f"{damaged} ({error})") from error
    else:
        try:
            # weights_only=True: torch's restricted unpickler rebuilds tensors, numbers,
            # strings and plain containers only and refuses every other object, so the file
            # cannot run code while it loads (a plain pickle can). torchvision's released
            # .pth files are such state dicts.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            # The restricted unpickler refuses objects and damaged bytes alike.
            raise ValueError(
                f"{path}: refused: either loading it needs full unpickling (it holds Python "
                "objects, not only tensors), which runs code from the file, or it is damaged "
                "or no weights file. Where you trust it, save the network's state dict "
                "instead: torch.save(model.state_dict(), file), or "
                "safetensors.torch.save_file(model.state_dict(), file); otherwise fetch it "
                f"again. (torch: {error})"
            ) from error
        # What torch.load raises for a truncated archive (RuntimeError), a file cut inside
        # a pickle (EOFError) or bytes that are no torch file at all (KeyError on its magic).
        except (RuntimeError, EOFError, KeyError) as error:
            raise ValueError(f"{damaged} ({type(error).__name__}: {error})") from error
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: not a state dict (parameter names to tensors)")
    return dict(state)


def load_backbone(arch: str, path: Path) -> ResNet:
    """A `ResNet(arch)` holding the weights in `path` (its ImageNet classifier dropped)."""
    backbone = ResNet(arch)
    state = {k: v for k, v in read_weights(path).items() if not k.startswith(CLASSIFIER)}
    try:
        backbone.load_state_dict(state)
    except RuntimeError as error:  # missing or unexpected names, wrong shapes
        raise ValueError(f"{path}: these are not {arch} weights: {error}") from None
    return backbone


# ---- the network -------------------------------------------------------------------------------


class PretrainedCNN(nn.Module):
    """Raw pixel rows (b, C*H*W) -> (b, 3, resize, resize) ImageNet-normalised images ->
    the backbone's pooled features -> dropout and a linear head (b, n_outputs).

    The lowest `frozen_stages` of the backbone's five (stem, layer1 ... layer4) are not
    trained and stay in eval mode, so their BatchNorm keeps its pretrained statistics.
    """

    def __init__(
        self,
        backbone: ResNet,
        image_shape: Sequence[int],
        n_outputs: int,
        *,
        resize: int | None,
        dropout: float,
        frozen_stages: int,
        backbone_lr_scale: float = 1.0,
    ):
        super().__init__()
        self.image_shape = tuple(int(n) for n in image_shape)
        self.resize = resize
        self.frozen_stages = frozen_stages
        self.backbone_lr_scale = backbone_lr_scale
        self.backbone = backbone
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(backbone.n_features, n_outputs))
        shape = (1, 3, 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(shape), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(shape), persistent=False)
        for module in self._frozen():
            module.requires_grad_(False)

    def _frozen(self) -> list[nn.Module]:
        return [m for stage in self.backbone.stages()[: self.frozen_stages] for m in stage]

    def train(self, mode: bool = True) -> PretrainedCNN:
        super().train(mode)
        frozen = [self.backbone] if self.frozen_stages >= len(self.backbone.stages()) else []
        for module in frozen or self._frozen():
            module.eval()
        return self

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """AdamW's parameter groups (training.TrainingModule): the head at `lr`, the trained
        part of the backbone at `lr * backbone_lr_scale`; frozen parameters left out."""
        groups: list[dict[str, Any]] = [{"params": list(self.head.parameters()), "lr": lr}]
        trained = [p for p in self.backbone.parameters() if p.requires_grad]
        if trained:
            groups.append({"params": trained, "lr": lr * self.backbone_lr_scale})
        return groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, *self.image_shape)  # (b, C*H*W) -> (b, C, H, W)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)  # grayscale as RGB
        if self.resize:
            # antialias: a large image shrunk to `resize` averages its pixels, not skips them.
            size = (self.resize, self.resize)
            images = F.interpolate(
                images, size=size, mode="bilinear", align_corners=False, antialias=True
            )
        images = (images - self.mean) / self.std  # (b, 3, h, w)
        return self.head(self.backbone(images))  # (b, n_outputs)


class LightningPretrainedCNN(_LightningEstimator):
    """A pretrained ResNet with a new head, trained by the shared Lightning base (early
    stopping on `val/loss`, best weights kept, NaN guard, checkpoints, accelerators).

    Takes the flattened pixel matrix, (n, C*H*W) in C-order, and `image_shape` [C, H, W].
    `weights` is the backbone's local weights file (see `resolve_weights`); `mode` "frozen"
    trains the head only, "finetune" everything but the lowest `frozen_layers` of the
    backbone's five stages (-1: all). Fitted attributes as `deep._LightningEstimator`.
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        image_shape: Sequence[int] | None = None,
        arch: str = "resnet18",
        weights: str | None = None,
        allow_download: bool = False,
        mode: str = "frozen",
        frozen_layers: int = 0,
        backbone_lr_scale: float = 0.1,
        resize: int | None = 64,
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 30,
        patience: int = 5,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def fit(self, *args: Any, **kwargs: Any) -> LightningPretrainedCNN:
        with warnings.catch_warnings():
            # Frozen stages stay in eval mode on purpose: their BatchNorm keeps its statistics.
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
            return super().fit(*args, **kwargs)

    def _frozen_stages(self) -> int:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "frozen" or self.frozen_layers < 0:
            return 5
        return min(int(self.frozen_layers), 5)

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        _, height, width = checked_pixels(self.image_shape, n_features)
        frozen = self._frozen_stages()
        if self.resize is not None and self.resize < 1:
            raise ValueError(f"resize must be a positive size in pixels or null, got {self.resize}")
        size = self.resize or min(height, width)
        if frozen < 5 and size <= 32:
            # ResNets shrink images 32-fold: layer4 would see 1x1 maps, and its BatchNorm in
            # training fails on a batch of one image (a last batch can be one).
            raise ValueError(
                f"fine-tuning needs images over 32 pixels (resize: {self.resize}, image_shape "
                f"{list(self.image_shape)}): set resize to 64, or freeze all layers"
            )
        path = resolve_weights(self.weights, self.arch, allow_download=self.allow_download)
        backbone = load_backbone(self.arch, path)
        log.info("cnn_pretrained: %s weights from %s, %s", self.arch, path, self.mode)
        return PretrainedCNN(
            backbone,
            self.image_shape,
            n_outputs,
            resize=self.resize,
            dropout=self.dropout,
            frozen_stages=frozen,
            backbone_lr_scale=self.backbone_lr_scale,
        )


def cnn_pretrained(
    task: str, *, image_shape: Sequence[int] | None, random_state: int = 0, **hyper: Any
) -> TabularModel:
    """Factory named by conf/model/cnn_pretrained.yaml: the pixel columns in order, then a
    pretrained ResNet with a new head."""
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=Pixels(image_shape=image_shape),
        estimator=LightningPretrainedCNN(
            task=task, image_shape=image_shape, random_state=random_state, **hyper
        ),
    )
