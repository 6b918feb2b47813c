"""The deep contestant: a PyTorch Lightning MLP behind a scikit-learn estimator interface.

Input is the already-preprocessed dense float matrix. Three layers, kept apart on purpose:
`MLP` (plain nn.Module, the only thing kept after fit), `_MLPModule` (the LightningModule:
loss, optimiser, epoch-level metrics) and `LightningMLP` (the sklearn-style estimator).
Only `bakeoff.models.__init__.build_model` imports this module, via conf/model/mlp.yaml.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, EarlyStopping
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn

from bakeoff.models import preprocessing
from bakeoff.models.tabular import TabularModel

log = logging.getLogger(__name__)

TASKS = ("classification", "regression")
MONITOR = "val/loss"
PREDICT_BATCH_ROWS = 8192

# Keys accepted in the `trainer` dict and their defaults. `num_threads` (None: leave torch's
# setting alone) is applied for the duration of fit only.
TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "devices": "auto",
    "precision": "32-true",
    "strategy": "auto",
    "deterministic": False,
    "num_threads": None,
}


class MLP(nn.Module):
    """(Linear -> ReLU -> Dropout) per hidden size, then a linear head."""

    def __init__(
        self, n_features: int, hidden_sizes: Sequence[int], n_outputs: int, dropout: float
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (batch, n_features) -> (batch, n_outputs)


class TensorBatches:
    """Mini-batches sliced straight out of in-memory tensors.

    A per-row Dataset + default_collate costs more than the forward/backward pass of a
    small MLP; one fancy-index per batch does not. Lightning moves each yielded batch to
    the training device (strategy.batch_to_device), so the tensors can stay on the CPU.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int | None):
        self.X, self.y, self.batch_size = X, y, batch_size
        # seed=None: fixed order (validation); otherwise a fresh permutation every epoch.
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = len(self.X), self.batch_size
        if self._generator is None:
            for start in range(0, n, size):
                yield self.X[start : start + size], self.y[start : start + size]
            return
        order = torch.randperm(n, generator=self._generator)
        for start in range(0, n, size):
            idx = order[start : start + size]
            yield self.X[idx], self.y[idx]  # (b, n_features), (b,)


class _MLPModule(L.LightningModule):
    """Loss, optimiser and epoch-level metrics around an `MLP`.

    Losses are summed as tensors inside the module and turned into numbers once per epoch:
    per-step `self.log` calls (and `.item()` syncs on a GPU) are a sizeable share of a small
    MLP's step.
    """

    def __init__(
        self, network: MLP, *, task: str, lr: float, weight_decay: float, y_std: float = 1.0
    ):
        super().__init__()
        self.network = network
        self.task, self.lr, self.weight_decay, self.y_std = task, lr, weight_decay, y_std
        # Manual optimisation: with one optimiser and no clipping or accumulation, the
        # automatic closure's extra hooks are pure per-step cost (about a fifth of Lightning's
        # per-step overhead on CPU; see benchmarks/lightning_overhead.py).
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []
        self._totals: dict[str, dict[str, torch.Tensor | int]] = {}
        self._val_metrics: dict[str, float] = {}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.network.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch  # x: (b, n_features); y: (b,) class codes or standardised target
        out = self.network(x)  # (b, n_classes) or (b, 1)
        if self.task == "classification":
            loss = F.cross_entropy(out, y)
            hits = (out.argmax(dim=1) == y).sum() if stage == "val" else None
        else:
            loss = F.mse_loss(out.squeeze(1), y)
            hits = None
        self._accumulate(stage, loss.detach() * len(y), len(y), hits)
        return loss

    def _accumulate(
        self, stage: str, loss_sum: torch.Tensor, n: int, hits: torch.Tensor | None
    ) -> None:
        totals = self._totals.setdefault(stage, {"loss": 0, "n": 0, "hits": 0})
        totals["loss"] = totals["loss"] + loss_sum
        totals["n"] = totals["n"] + n
        if hits is not None:
            totals["hits"] = totals["hits"] + hits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        optimizer = self.optimizers()
        loss = self._step(batch, "train")
        optimizer.zero_grad()
        self.manual_backward(loss)  # precision plugins (loss scaling) still apply
        optimizer.step()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def _epoch_metrics(self, stage: str) -> dict[str, float]:
        totals = self._totals.pop(stage)
        n = totals["n"]
        loss = float(totals["loss"]) / n
        metrics = {f"{stage}/loss": loss}
        if stage == "val" and self.task == "classification":
            metrics["val/accuracy"] = float(totals["hits"]) / n
        elif stage == "val":
            # RMSE on the original target scale, comparable with the classical models.
            metrics["val/rmse"] = math.sqrt(loss) * self.y_std if math.isfinite(loss) else loss
        return metrics

    def on_train_epoch_start(self) -> None:
        self._totals.clear()
        self._val_metrics = {}

    def on_validation_epoch_end(self) -> None:
        self._val_metrics = self._epoch_metrics("val")
        # The one `self.log` per epoch: EarlyStopping and _KeepBestWeights read callback_metrics.
        self.log(MONITOR, self._val_metrics[MONITOR], prog_bar=True)

    def on_train_epoch_end(self) -> None:
        # Runs after this epoch's validation, so the record holds both.
        record = {"epoch": self.current_epoch, **self._epoch_metrics("train"), **self._val_metrics}
        self._check_finite(record)
        self.history.append(record)

    def _check_finite(self, record: dict[str, float]) -> None:
        for key in ("train/loss", MONITOR):
            value = record.get(key)
            if value is not None and not math.isfinite(value):
                raise FloatingPointError(
                    f"{key} is {value} at epoch {record['epoch']}. Likely causes: learning rate "
                    f"too high (lr={self.lr:g}), an unscaled regression target, or NaN/inf values "
                    "in the input features (was the preprocessing applied?)."
                )


class _KeepBestWeights(Callback):
    """Keeps the weights of the lowest `val/loss` epoch in memory: no checkpoint files."""

    def __init__(self) -> None:
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Non-monitoring callbacks run before EarlyStopping, after this epoch's validation.
        loss = trainer.callback_metrics.get(MONITOR)
        # Strict `<`, like EarlyStopping with min_delta=0, so both agree on the best epoch.
        if loss is not None and float(loss) < self.best_loss:
            self.best_loss, self.best_epoch = float(loss), trainer.current_epoch
            weights = pl_module.network.state_dict()
            self.best_state = {k: v.detach().clone() for k, v in weights.items()}


@contextmanager
def _quiet_trainer_announcements() -> Iterator[None]:
    """Mute Lightning's INFO chatter and scope warning filters set inside the block.

    Trainer() announces GPU/TPU availability and product tips, fit() "`Trainer.fit` stopped",
    on every run; a bake-off runs many and `fit` logs its own summary. Warnings still pass.
    """
    announcer = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    previous = announcer.level
    announcer.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            yield
    finally:
        announcer.setLevel(previous)


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _as_features(X: Any, name: str = "X") -> np.ndarray:
    # No finiteness check: NaN must surface as the FloatingPointError that names the epoch.
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {X.shape}")
    return X


def _as_target(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or len(y) != n_rows:
        raise ValueError(f"{name} must be 1-D with {n_rows} rows, got shape {y.shape}")
    return y


class LightningMLP(BaseEstimator):
    """Multi-layer perceptron trained by Lightning, with early stopping on `val/loss`.

    Fitted attributes: `classes_` (classification), `y_mean_`/`y_std_` (regression),
    `n_features_in_`, `network_` (CPU, eval mode), `history_` (one dict per epoch) and
    `best_epoch_` (0-based epoch whose weights `network_` holds).
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        hidden_sizes: Sequence[int] = (256, 256),
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 16,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self.task = task
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.trainer = trainer
        self.random_state = random_state

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> LightningMLP:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        config = self._trainer_config()
        X = _as_features(X)
        y = _as_target(y, len(X))
        self.n_features_in_ = X.shape[1]
        y_train = self._encode_fit(y)
        val = None
        if X_val is not None:
            X_val = _as_features(X_val, "X_val")
            if X_val.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X_val has {X_val.shape[1]} features, X has {self.n_features_in_}"
                )
            val = (X_val, self._encode(_as_target(y_val, len(X_val), "y_val")))

        # Seed before building the network: initial weights, dropout masks and batch order.
        L.seed_everything(self.random_state, workers=True, verbose=False)
        n_outputs = len(self.classes_) if self.task == "classification" else 1
        network = MLP(self.n_features_in_, self.hidden_sizes, n_outputs, self.dropout)
        module = _MLPModule(
            network,
            task=self.task,
            lr=self.lr,
            weight_decay=self.weight_decay,
            y_std=getattr(self, "y_std_", 1.0),
        )
        keep_best = _KeepBestWeights()
        trainer = self._make_trainer(config, self._make_callbacks(val is not None, keep_best))

        train_batches = TensorBatches(
            torch.from_numpy(X), y_train, self.batch_size, seed=self.random_state
        )
        val_batches = None
        if val is not None:
            val_batches = TensorBatches(
                torch.from_numpy(val[0]), val[1], self.batch_size, seed=None
            )
        with _torch_threads(config["num_threads"]), _quiet_trainer_announcements():
            # No validation set is a supported mode here, not a slip worth a warning.
            warnings.filterwarnings("ignore", message="You defined a `validation_step` but have no")
            trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=val_batches)

        self._finish(network, module.history, keep_best)
        return self

    def _trainer_config(self) -> dict[str, Any]:
        given = dict(self.trainer or {})
        unknown = sorted(set(given) - set(TRAINER_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown trainer option(s) {unknown}; allowed: {sorted(TRAINER_DEFAULTS)}"
            )
        return {**TRAINER_DEFAULTS, **given}

    def _encode_fit(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "classification":
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"classification needs at least 2 classes, got {self.classes_}")
        else:
            y = y.astype(np.float64)
            self.y_mean_ = float(y.mean())
            self.y_std_ = float(y.std()) or 1.0  # a constant target must not divide by zero
        return self._encode(y)

    def _encode(self, y: np.ndarray) -> torch.Tensor:
        """Class codes (int64) or the standardised target (float32), shape (n,)."""
        if self.task == "regression":
            z = (y.astype(np.float64) - self.y_mean_) / self.y_std_
            return torch.from_numpy(z.astype(np.float32))
        codes = np.searchsorted(self.classes_, y)
        codes = np.minimum(codes, len(self.classes_) - 1)
        unseen = self.classes_[codes] != y
        if unseen.any():
            raise ValueError(f"labels not seen in training: {np.unique(y[unseen])[:10]}")
        return torch.from_numpy(codes.astype(np.int64))

    def _make_callbacks(self, has_val: bool, keep_best: _KeepBestWeights) -> list[Callback]:
        """Overridable hook (the overhead benchmark adds a timer)."""
        if not has_val:
            return []
        # check_finite=False: a NaN loss must raise our FloatingPointError, not stop quietly.
        stop = EarlyStopping(
            monitor=MONITOR, mode="min", patience=self.patience, check_finite=False
        )
        return [keep_best, stop]

    def _make_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> L.Trainer:
        devices = config["devices"]
        # Training is in-process on one device: the batches are not sharded across ranks
        # and a DDP launch would re-run the caller's script. "auto" therefore means one.
        if devices == "auto":
            devices = 1
        with _quiet_trainer_announcements():
            trainer = L.Trainer(
                accelerator=config["accelerator"],
                devices=devices,
                precision=config["precision"],
                strategy=config["strategy"],
                deterministic=config["deterministic"],
                max_epochs=self.max_epochs,
                callbacks=callbacks,
                logger=False,  # history_ is recorded here; the caller logs it to MLflow
                enable_checkpointing=False,  # best weights are kept in memory instead
                enable_progress_bar=sys.stderr.isatty(),
                enable_model_summary=False,
                num_sanity_val_steps=0,
                use_distributed_sampler=False,
            )
        if trainer.num_devices * trainer.num_nodes > 1:
            raise ValueError(
                f"LightningMLP trains on one device; got devices={config['devices']!r}"
            )
        return trainer

    def _finish(
        self, network: MLP, history: list[dict[str, float]], keep_best: _KeepBestWeights
    ) -> None:
        if keep_best.best_state is not None:
            network.load_state_dict(keep_best.best_state)
            self.best_epoch_ = keep_best.best_epoch
        else:
            self.best_epoch_ = history[-1]["epoch"]
        # float(): a "bf16-true" or "16-true" run leaves half-precision weights behind.
        self.network_ = network.float().cpu().eval()
        self.history_ = history
        log.info(
            "LightningMLP trained %d epoch(s); keeping epoch %d (%s)",
            len(history),
            self.best_epoch_,
            history[self.best_epoch_],
        )

    # ---- predict -----------------------------------------------------------------------

    def _forward(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "network_")
        X = _as_features(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, the model was fit on {self.n_features_in_}"
            )
        tensor = torch.from_numpy(X)
        with torch.no_grad():
            chunks = [
                self.network_(tensor[start : start + PREDICT_BATCH_ROWS])
                for start in range(0, len(tensor), PREDICT_BATCH_ROWS)
            ]
        n_outputs = self.network_.layers[-1].out_features
        return torch.cat(chunks) if chunks else torch.empty(0, n_outputs)  # (n, n_outputs)

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        if self.task == "classification":
            return self.classes_[out.argmax(dim=1).numpy()]
        return out[:, 0].double().numpy() * self.y_std_ + self.y_mean_

    @available_if(lambda self: self.task == "classification")
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns ordered as `classes_`."""
        return torch.softmax(self._forward(X).double(), dim=1).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.task == "classification":
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        else:
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        return tags


def mlp(task: str, *, random_state: int = 0, **hyper: Any) -> TabularModel:
    """Factory named by conf/model/mlp.yaml: quantile-normal inputs, one-hot categories, MLP."""
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=preprocessing.quantile_one_hot(random_state),
        estimator=LightningMLP(task=task, random_state=random_state, **hyper),
    )
