"""The Lightning side of training a network: the LightningModule (loss, optimiser,
epoch-level metrics), the callbacks (best weights, RNG state, checkpoints) and the trainer's
quiet mode. Imported only when a network is fitted (`deep._LightningEstimator.fit`): a saved
network unpickles and predicts with torch alone, so evaluation, batch prediction and
`mlflow models serve` never pay for `import lightning`.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    ModelCheckpoint,
    Timer,
)
from torch import nn

from bakeoff.models.deep import MONITOR, TensorBatches, _process_group, average_members

log = logging.getLogger(__name__)
# What `deep._LightningEstimator` builds its trainer from, besides this module's own classes.
__all__ = [
    "Callback",
    "EarlyStopping",
    "FitTimeEstimate",
    "KeepBestWeights",
    "L",
    "LastCheckpoint",
    "ModelCheckpoint",
    "RandomState",
    "Timer",
    "TrainingModule",
    "checkpoint_callbacks",
    "quiet_trainer_announcements",
]


class TrainingModule(L.LightningModule):
    """Loss, optimiser and epoch-level metrics around any network with a flat input.

    Losses are summed as tensors inside the module and turned into numbers once per epoch:
    per-step `self.log` calls (and `.item()` syncs on a GPU) are a sizeable share of a small
    network's step.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        task: str,
        lr: float,
        weight_decay: float,
        y_std: float = 1.0,
        gradient_clip_norm: float | None = None,
    ):
        super().__init__()
        self.network = network
        self.task, self.lr, self.weight_decay, self.y_std = task, lr, weight_decay, y_std
        self.gradient_clip_norm = gradient_clip_norm
        # Manual optimisation (a supported Lightning mode): with one optimiser and no
        # accumulation, the automatic closure's extra hooks are per-step cost and buy nothing.
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []
        self._totals: dict[str, dict[str, torch.Tensor | int]] = {}
        self._val_metrics: dict[str, float] = {}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # A network may set its own learning rate per part (a pretrained backbone's lower one).
        groups = getattr(self.network, "parameter_groups", None)
        parameters = self.network.parameters() if groups is None else groups(self.lr)
        return torch.optim.AdamW(parameters, lr=self.lr, weight_decay=self.weight_decay)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch  # x: (b, n_features); y: (b,) class codes or standardised target
        out = self.network(x)  # (b, n_classes) or (b, 1); (b, k, ...) for k ensemble members
        if out.ndim == 3 and stage == "train":
            # Each member learns on its own: the loss is the mean of the k members' losses.
            k = out.shape[1]
            out, y = out.flatten(0, 1), y.repeat_interleave(k)  # (b * k, n_outputs), (b * k,)
        else:
            # Validation scores what predict returns (early stopping keeps the best ensemble).
            out = average_members(out, self.task)
        if self.task == "classification":
            loss = F.cross_entropy(out, y)
            hits = (out.argmax(dim=1) == y).sum() if stage == "val" else None
        else:
            loss = F.mse_loss(out.squeeze(1), y)
            hits = None
        self._accumulate(stage, loss.detach() * len(y), len(y), hits)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Trainer(gradient_clip_val=...) is for automatic optimisation only. Under manual
        # optimisation Lightning calls this hook inside optimizer.step(), after a 16-bit run's
        # GradScaler has unscaled the gradients (clipping in training_step right after
        # backward would clip the scaled ones) and after DDP has averaged them.
        if self.gradient_clip_norm is not None:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.gradient_clip_norm, gradient_clip_algorithm="norm"
            )

    def _accumulate(
        self, stage: str, loss_sum: torch.Tensor, n: int, hits: torch.Tensor | None
    ) -> None:
        totals = self._totals.setdefault(stage, {"loss": 0, "n": 0, "hits": 0})
        totals["loss"] = totals["loss"] + loss_sum
        totals["n"] = totals["n"] + n
        if hits is not None:
            totals["hits"] = totals["hits"] + hits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss = self._step(batch, "train")
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss)  # the strategy (DDP) and precision plugin (loss scaling) apply
        optimizer.step()  # Lightning's wrapper counts the step (checkpointing relies on it)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def _epoch_metrics(self, stage: str) -> dict[str, float]:
        totals = self._totals.pop(stage)
        loss_sum, n = totals["loss"], totals["n"]
        if stage == "train" and _process_group()[1] > 1:
            # Each DDP rank saw its own shard: the epoch's loss is over all of them.
            # On the module's device: NCCL reduces GPU tensors only (gloo, CPU ones).
            both = torch.tensor([float(loss_sum), n], dtype=torch.float64, device=self.device)
            loss_sum, n = self.trainer.strategy.reduce(both, reduce_op="sum").tolist()
        loss = float(loss_sum) / n
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
        # The one `self.log` per epoch: EarlyStopping and KeepBestWeights read callback_metrics.
        # sync_dist: identical on every DDP rank (unsharded validation), so the mean is exact.
        self.log(MONITOR, self._val_metrics[MONITOR], prog_bar=True, sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["bakeoff_history"] = self.history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = checkpoint["bakeoff_history"]

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


class KeepBestWeights(Callback):
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

    # Saved in checkpoints, so a resumed run keeps the best epoch seen before the stop.
    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "best": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_loss, self.best_epoch = state_dict["best_loss"], state_dict["best_epoch"]
        self.best_state = state_dict["best"]


class FitTimeEstimate(Callback):
    """Says how long the fit is expected to take, when that is over `announce_after` seconds:
    the per-row cost of training batches 2 to `probe_batches + 1` of the first epoch (the
    first is warm-up), times the rows of every epoch left (validation rows at a third of
    the cost: forward only). Early stopping usually ends the fit sooner."""

    def __init__(
        self,
        name: str,
        train_rows: int,
        val_rows: int,
        probe_batches: int = 5,
        announce_after: float = 60.0,
    ):
        self.name, self.train_rows, self.val_rows = name, train_rows, val_rows
        self.probe_batches, self.announce_after = probe_batches, announce_after
        self._started: float | None = None
        self._rows = 0
        self._done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not self._done and batch_idx == 1:
            self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._done or self._started is None:
            return
        self._rows += len(batch[1])
        last = batch_idx == self.probe_batches or batch_idx == trainer.num_training_batches - 1
        if not last:
            return
        self._done = True
        per_row = (time.perf_counter() - self._started) / self._rows
        epochs = trainer.max_epochs - trainer.current_epoch
        expected = per_row * (self.train_rows + self.val_rows / 3) * epochs
        if expected > self.announce_after:
            log.info(
                "%s: up to %d epoch(s) of %d rows, about %.1f min expected at most "
                "(%.2f ms per training row, timed on %d rows)",
                self.name,
                epochs,
                self.train_rows,
                expected / 60,
                per_row * 1000,
                self._rows,
            )


class RandomState(Callback):
    """Checkpoints the batch order's generator and torch's RNG (dropout masks), so a resumed
    run draws exactly what the uninterrupted run would have drawn."""

    def __init__(self, batches: TensorBatches):
        self.batches = batches

    def state_dict(self) -> dict[str, Any]:
        return {"batch_order": self.batches._generator.get_state(), "torch": torch.get_rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches._generator.set_state(state_dict["batch_order"])
        torch.set_rng_state(state_dict["torch"])


class LastCheckpoint(Checkpoint):
    """last.ckpt, what a resumed run continues from: after the first epoch, then at most every
    `every_seconds` seconds, and when training ends. A Checkpoint callback, so Lightning runs
    it after the epoch's history, best weights and early-stopping count are updated; saved
    through the trainer, so every callback's state (RNG, best weights) goes with it."""

    def __init__(self, path: Path, every_seconds: float):
        self.path, self.every_seconds = path, every_seconds
        self._saved_at: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.monotonic()
        due = self._saved_at is None or now - self._saved_at >= self.every_seconds
        # One decision for every DDP rank (clocks differ): saving is a collective call.
        if trainer.strategy.broadcast(due):
            trainer.save_checkpoint(self.path)
            self._saved_at = now

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


def checkpoint_callbacks(
    checkpoint_dir: str | None, has_val: bool, batches: TensorBatches, every_seconds: float
) -> list[Callback]:
    """best.ckpt, written when the validation loss improves, and last.ckpt (LastCheckpoint):
    writing both every epoch would cost a small network's fit more than its epochs do."""
    if checkpoint_dir is None:
        return []
    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor=MONITOR if has_val else None,
        mode="min",
        save_top_k=1,
        save_last=False,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    last = LastCheckpoint(Path(checkpoint_dir) / "last.ckpt", every_seconds)
    return [RandomState(batches), best, last]


@contextmanager
def quiet_trainer_announcements() -> Iterator[None]:
    """Mute Lightning's INFO chatter and scope warning filters set inside the block.

    Trainer() announces GPU/TPU availability and product tips, fit() "`Trainer.fit` stopped",
    on every run; a bake-off runs many and `fit` logs its own summary. Warnings still pass.
    """
    announcer = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    previous = announcer.level
    announcer.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Lightning 2.6's CombinedLoader on torch 2.13; nothing a user can act on.
            warnings.filterwarnings(
                "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated"
            )
            yield
    finally:
        announcer.setLevel(previous)
