"""The deep tabular contestant: a PyTorch Lightning MLP behind a scikit-learn estimator interface.

Input is the already-preprocessed dense float matrix. Three layers, kept apart on purpose:
the plain nn.Modules (`MLP`, `CategoryEmbeddings`; the only things kept after fit),
`training.TrainingModule` (the LightningModule, in `bakeoff.models.training`, imported only to
fit, so a saved network predicts without lightning) and the
sklearn-style estimators. `_LightningEstimator` holds the training machinery every network
shares (seeding, in-memory batches, early stopping with the best weights kept in memory, the
NaN guard, trainer settings, history); `LightningMLP` here and `vision.LightningCNN` add only
their network. Imported only by `bakeoff.models.build_model` (via conf/model/*.yaml) and by
`bakeoff.models.vision`, so classical-only runs never import torch or lightning.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn

from bakeoff.models import preprocessing
from bakeoff.models.memory import check_memory
from bakeoff.models.network_inputs import UNKNOWN_CODE, quantile_codes
from bakeoff.models.tabular import TabularModel, task_tags
from bakeoff.models.text_features import PAD_ID, TokenIds

if TYPE_CHECKING:
    from bakeoff.models import training

log = logging.getLogger(__name__)

TASKS = ("classification", "regression")
CATEGORICAL_ENCODINGS = ("embedding", "one_hot")
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
    # Checkpoints go here (best.ckpt when validation improves, last.ckpt after the first
    # epoch and at most every `checkpoint_every_seconds`); None: none.
    "checkpoint_dir": None,
    "checkpoint_every_seconds": 30.0,
    # Continue from checkpoint_dir/last.ckpt when it exists (to the same final weights as an
    # uninterrupted run on the CPU in deterministic mode).
    "resume": False,
    # Refuse to train when the estimated memory exceeds this (None: what is free now).
    "max_memory_mb": None,
    # A time budget per fit: seconds, or Lightning's "DD:HH:MM:SS" (None: none). Checked at
    # the end of each epoch (the epoch's validation included); when it is spent the fit stops
    # and keeps its best epoch so far, and the record says so (`stopped_by_`).
    "max_time": None,
    # Record CPU, memory and GPU use in the model's MLflow run (MLflow's system metrics, with
    # psutil and, on NVIDIA GPUs, pynvml). Read by bakeoff.tracking, never by Lightning.
    "system_metrics": True,
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


def code_embeddings(cardinalities: Sequence[int], dim: int) -> nn.ModuleList:
    """One embedding per category column, U(-1/sqrt(dim), 1/sqrt(dim)) as rtdl's.

    That is vectors of norm about 0.6, the scale of a one-hot column's single 1; nn.Embedding's
    N(0, 1) (norm sqrt(dim)) overfit Adult: test accuracy 0.853 against 0.863, 3 seeds. The
    unknown code is a zero vector that training leaves alone (padding_idx), as one-hot
    encoding maps an unseen category to all zeros.
    """
    embeddings = nn.ModuleList(
        nn.Embedding(n, dim, padding_idx=UNKNOWN_CODE) for n in cardinalities
    )
    with torch.no_grad():
        for embed in embeddings:
            embed.weight.uniform_(-(dim**-0.5), dim**-0.5)
            embed.weight[UNKNOWN_CODE] = 0.0
    return embeddings


class TextBags(nn.Module):
    """Each text column's token ids as the mean of their learned embeddings (an EmbeddingBag,
    padding left out): fastText's document vector. Ids arrive as float32 columns, exact for
    vocabularies up to 2**24 ids; `blocks` are `TokenIds.block_` ({"vocabulary", "length"})."""

    def __init__(self, blocks: Sequence[dict[str, int]], dim: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"text_embedding_dim must be at least 1, got {dim}")
        self.lengths = [int(block["length"]) for block in blocks]
        self.bags = nn.ModuleList(
            nn.EmbeddingBag(int(block["vocabulary"]), dim, mode="mean", padding_idx=PAD_ID)
            for block in blocks
        )
        with torch.no_grad():  # the scale of code_embeddings' vectors
            for bag in self.bags:
                bag.weight.uniform_(-(dim**-0.5), dim**-0.5)
                bag.weight[PAD_ID] = 0.0
        self.n_features_out = dim * len(self.bags)

    def forward(self, ids: torch.Tensor) -> list[torch.Tensor]:
        blocks = ids.long().split(self.lengths, dim=1)  # (b, length) per text column
        return [bag(block) for bag, block in zip(self.bags, blocks, strict=True)]  # (b, dim) each


class CategoryEmbeddings(nn.Module):
    """Leading numeric columns pass through; each code column gets its own embedding; each
    text column's token ids (after the codes) become the mean of their embeddings.

    Codes arrive as float32 in the same matrix as the numbers (one tensor per batch keeps the
    batching and prediction paths those of a plain MLP); float32 holds integers exactly up
    to 2**24, far beyond any cardinality.
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        dim: int,
        texts: Sequence[dict[str, int]] = (),
        text_dim: int = 64,
    ):
        super().__init__()
        self.n_numeric = n_numeric
        self.embeddings = code_embeddings(cardinalities, dim)
        self.text_bags = TextBags(texts, text_dim) if texts else None
        self.n_features_out = n_numeric + len(cardinalities) * dim
        if self.text_bags is not None:
            self.n_features_out += self.text_bags.n_features_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        end = self.n_numeric + len(self.embeddings)
        codes = x[:, self.n_numeric : end].long()  # (b, n_categorical)
        parts = [x[:, : self.n_numeric]]
        parts += [embed(codes[:, i]) for i, embed in enumerate(self.embeddings)]
        # Networks saved before text existed have no text_bags attribute.
        bags = getattr(self, "text_bags", None)
        if bags is not None:
            parts += bags(x[:, end:])
        return torch.cat(parts, dim=1)  # (b, n_numeric + n_categorical * dim + n_text * text_dim)


def average_members(out: torch.Tensor, task: str) -> torch.Tensor:
    """One prediction per row from a network's output.

    A network returns (b, n_outputs), or (b, k, n_outputs) when it is k ensemble members
    (TabM). Members are averaged as the ensemble predicts: class probabilities for
    classification, returned as their log so that argmax, softmax (which gives back the mean
    probabilities) and cross-entropy (the ensemble's own loss) apply unchanged; the
    (standardised) values for regression. Averaging logits instead would not be the mean of
    the members' probabilities.
    """
    if out.ndim == 2:
        return out
    if task == "classification":
        k = out.shape[1]
        return torch.logsumexp(torch.log_softmax(out, dim=-1), dim=1) - math.log(k)
    return out.mean(dim=1)  # (b, n_outputs)


def _process_group() -> tuple[int, int]:
    """(rank, world size) of this process in a running DDP group; (0, 1) outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TensorBatches:
    """Mini-batches sliced straight out of in-memory tensors.

    A per-row Dataset + default_collate costs more than the forward/backward pass of a
    small MLP; one fancy-index per batch does not. Lightning moves each yielded batch to
    the training device (strategy.batch_to_device), so the tensors can stay on the CPU.

    Under DDP, shuffled (training) batches are sharded as DistributedSampler does: every rank
    draws the same permutation, pads it to a multiple of the world size and takes every
    world-size-th row from its rank on, so all ranks step the same number of times. Fixed-order
    (validation) batches are not sharded: every rank scores the whole validation set with the
    same weights, so early stopping sees identical numbers everywhere without a reduction.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int | None):
        self.X, self.y, self.batch_size = X, y, batch_size
        # seed=None: fixed order (validation); otherwise a fresh permutation every epoch.
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    def _rows_per_rank(self) -> int:
        _, world = _process_group() if self._generator is not None else (0, 1)
        return math.ceil(len(self.X) / world)

    def __len__(self) -> int:
        return math.ceil(self._rows_per_rank() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = len(self.X), self.batch_size
        if self._generator is None:
            for start in range(0, n, size):
                yield self.X[start : start + size], self.y[start : start + size]
            return
        order = torch.randperm(n, generator=self._generator)
        rank, world = _process_group()
        if world > 1:
            order = order.repeat(world)[: self._rows_per_rank() * world][rank::world]
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            yield self.X[idx], self.y[idx]  # (b, n_features), (b,)


def _resume_path(config: dict[str, Any]) -> str | None:
    if not config["resume"]:
        return None
    if config["checkpoint_dir"] is None:
        raise ValueError("trainer.resume needs trainer.checkpoint_dir")
    last = Path(config["checkpoint_dir"]) / "last.ckpt"
    if not last.is_file():
        log.info("no checkpoint at %s: training from the start", last)
        return None
    log.info("resuming from %s", last)
    return str(last)


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


def split_layout(layout: dict[str, Any] | None, n_features: int) -> tuple[int, list[int]]:
    """(n_numeric, cardinalities) of a QuantileCodes layout; no layout: all columns numbers.
    Text blocks (`text_blocks`) follow the code columns."""
    if n_features == 0:
        raise ValueError("X has no feature columns")
    if not layout:
        return n_features, []
    n_numeric, cardinalities = int(layout["n_numeric"]), list(layout["cardinalities"])
    n_text = sum(int(block["length"]) for block in text_blocks(layout))
    if n_numeric + len(cardinalities) + n_text != n_features:
        texts = f" + {n_text} token-id columns" if n_text else ""
        raise ValueError(
            f"layout has {n_numeric} numeric + {len(cardinalities)} code columns{texts}, "
            f"X has {n_features} columns"
        )
    return n_numeric, cardinalities


def time_budget(max_time: Any) -> timedelta | None:
    """`trainer.max_time` (seconds, or "DD:HH:MM:SS") as a duration, None without one;
    anything else is refused by name. Checked without importing Lightning."""
    if max_time is None:
        return None
    refused = ValueError(f"trainer.max_time must be seconds or 'DD:HH:MM:SS', got {max_time!r}")
    if isinstance(max_time, bool) or not isinstance(max_time, (int, float, str)):
        raise refused
    if isinstance(max_time, str):
        parts = max_time.split(":")
        if len(parts) != 4 or not all(part.isdigit() for part in parts):
            raise refused
        days, hours, minutes, seconds = (int(part) for part in parts)
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        duration = timedelta(seconds=max_time)
    if duration.total_seconds() <= 0:
        raise ValueError(f"trainer.max_time must be positive, got {max_time!r}")
    return duration


def stop_reason(trainer: training.L.Trainer, timer: training.Callback | None) -> str:
    """Why the fit ended: "early_stopping", "max_time" (the budget was spent first) or
    "max_epochs"."""
    from bakeoff.models import training

    stopped = [c for c in trainer.callbacks if isinstance(c, training.EarlyStopping)]
    if any(c.stopped_epoch > 0 for c in stopped):
        return "early_stopping"
    spent = timer is not None and timer.time_remaining() <= 0
    return "max_time" if spent and trainer.current_epoch < trainer.max_epochs else "max_epochs"


def text_blocks(layout: dict[str, Any] | None) -> list[dict[str, int]]:
    """The token-id blocks of a layout, one per text column ({"vocabulary", "length"})."""
    return list((layout or {}).get("texts") or [])


class _LightningEstimator(BaseEstimator):
    """A network trained by Lightning on a flat float matrix, with early stopping on `val/loss`.

    Subclasses list their hyperparameters in `__init__` (scikit-learn's get_params reads that
    signature) and build their network in `_build_network`. Every subclass has the
    parameters task, lr, weight_decay, batch_size, max_epochs, patience, trainer, random_state;
    one with a `gradient_clip_norm` parameter has its gradients clipped to that norm.

    Fitted attributes: `classes_` (classification), `y_mean_`/`y_std_` (regression),
    `n_features_in_`, `n_outputs_`, `network_` (CPU, eval mode), `history_` (one dict per
    epoch), `best_epoch_` (0-based epoch whose weights `network_` holds) and `layout_`.
    """

    task: str
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    trainer: dict[str, Any] | None
    random_state: int

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        """The untrained network, (b, n_features) -> (b, n_outputs), or (b, k, n_outputs) for
        k ensemble members (trained on the mean of their losses, predicting with
        `average_members`); seeded by the caller."""
        raise NotImplementedError

    def _keep_params(self, arguments: dict[str, Any]) -> None:
        """Store `__init__`'s arguments (its `locals()`) under their own names, unchanged,
        as scikit-learn's get_params / clone expect."""
        for name, value in arguments.items():
            if name != "self":
                setattr(self, name, value)

    # ---- fit ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Import Lightning (seconds, once per process) before a fit is timed."""
        from bakeoff.models import training  # noqa: F401

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        layout: dict[str, Any] | None = None,
    ) -> _LightningEstimator:
        """`layout` (from `network_inputs.QuantileCodes`): {"n_numeric": int, "cardinalities":
        [int, ...]}, category codes after the numbers; kept as `layout_` for the network."""
        self.layout_ = layout
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        from bakeoff.models import training  # lightning: only when training

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
        training.L.seed_everything(self.random_state, workers=True, verbose=False)
        self.n_outputs_ = len(self.classes_) if self.task == "classification" else 1
        network = self._build_network(self.n_features_in_, self.n_outputs_)
        module = training.TrainingModule(
            network,
            task=self.task,
            lr=self.lr,
            weight_decay=self.weight_decay,
            y_std=getattr(self, "y_std_", 1.0),
            gradient_clip_norm=getattr(self, "gradient_clip_norm", None),
        )
        keep_best = training.KeepBestWeights()
        train_batches = TensorBatches(
            torch.from_numpy(X), y_train, self.batch_size, seed=self.random_state
        )
        callbacks = self._make_callbacks(val is not None, keep_best)
        # Lightning's Timer, checked at each epoch's end, so that every epoch it lets finish
        # has its validation (and the best epoch so far is kept, as under early stopping).
        budget = time_budget(config["max_time"])
        timer = None if budget is None else training.Timer(duration=budget, interval="epoch")
        callbacks += [timer] if timer is not None else []
        n_val = 0 if val is None else len(val[0])
        callbacks.append(training.FitTimeEstimate(type(self).__name__, len(X), n_val))
        callbacks += training.checkpoint_callbacks(
            config["checkpoint_dir"],
            val is not None,
            train_batches,
            config["checkpoint_every_seconds"],
        )
        trainer = self._make_trainer(config, callbacks)
        # For the cost ledger: what the run actually used ("cpu", "cuda", "mps").
        self.accelerator_ = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
        # Before any memory is taken: a network too large fails here, as a contestant.
        check_memory(
            network,
            name=type(self).__name__,
            n_features=self.n_features_in_,
            batch_size=min(self.batch_size, len(X)),
            max_memory_mb=config["max_memory_mb"],
            accelerator=self.accelerator_,
        )
        resume_from = _resume_path(config)
        val_batches = None
        if val is not None:
            val_batches = TensorBatches(
                torch.from_numpy(val[0]), val[1], self.batch_size, seed=None
            )
        with _torch_threads(config["num_threads"]), training.quiet_trainer_announcements():
            # No validation set is a supported mode here, not a slip worth a warning.
            warnings.filterwarnings("ignore", message="You defined a `validation_step` but have no")
            trainer.fit(
                module,
                train_dataloaders=train_batches,
                val_dataloaders=val_batches,
                ckpt_path=resume_from,
            )

        self._finish(network, module.history, keep_best)
        self.stopped_by_ = stop_reason(trainer, timer)
        return self

    def _trainer_config(self) -> dict[str, Any]:
        given = dict(self.trainer or {})
        unknown = sorted(set(given) - set(TRAINER_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown trainer option(s) {unknown}; allowed: {sorted(TRAINER_DEFAULTS)}"
            )
        config = {**TRAINER_DEFAULTS, **given}
        time_budget(config["max_time"])  # a bad value fails before any work
        return config

    def guard(self) -> str | None:
        """What cut this fit short of its own stopping rule, in words (None: nothing)."""
        if getattr(self, "stopped_by_", None) != "max_time":
            return None
        budget = self._trainer_config()["max_time"]
        ran = f"after {len(self.history_)} of {self.max_epochs} epochs"
        if MONITOR not in self.history_[-1]:  # no validation split: no early stopping either
            return f"stopped by its time budget (trainer.max_time={budget}) {ran}"
        return (
            f"stopped by its time budget (trainer.max_time={budget}) {ran}, before early "
            f"stopping; best epoch {self.best_epoch_} kept"
        )

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

    def _make_callbacks(
        self, has_val: bool, keep_best: training.KeepBestWeights
    ) -> list[training.Callback]:
        """Overridable hook (the overhead benchmark adds a timer)."""
        from bakeoff.models import training

        if not has_val:
            return []
        # check_finite=False: a NaN loss must raise our FloatingPointError, not stop quietly.
        stop = training.EarlyStopping(
            monitor=MONITOR, mode="min", patience=self.patience, check_finite=False
        )
        return [keep_best, stop]

    def _make_trainer(
        self, config: dict[str, Any], callbacks: list[training.Callback]
    ) -> training.L.Trainer:
        from bakeoff.models import training

        devices = config["devices"]
        # Several devices mean DDP, whose launcher re-runs the caller's command once per extra
        # rank (the caller must record results on rank 0 only: see bakeoff.tracking.runs). That is
        # asked for with strategy "ddp" and a device count, never implied: "auto" is one.
        if devices == "auto":
            devices = 1
        with training.quiet_trainer_announcements():
            trainer = training.L.Trainer(
                accelerator=config["accelerator"],
                devices=devices,
                precision=config["precision"],
                strategy=config["strategy"],
                deterministic=config["deterministic"],
                max_epochs=self.max_epochs,
                callbacks=callbacks,
                logger=False,  # history_ is recorded here; the caller logs it to MLflow
                # Best weights are kept in memory; files only when checkpoint_dir asks for them.
                enable_checkpointing=any(
                    isinstance(c, training.ModelCheckpoint) for c in callbacks
                ),
                enable_progress_bar=sys.stderr.isatty(),
                enable_model_summary=False,
                num_sanity_val_steps=0,
                use_distributed_sampler=False,  # TensorBatches shards itself
            )
        return trainer

    def _finish(
        self,
        network: nn.Module,
        history: list[dict[str, float]],
        keep_best: training.KeepBestWeights,
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
            "%s trained %d epoch(s); keeping epoch %d (%s)",
            type(self).__name__,
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
        if not chunks:
            return torch.empty(0, self.n_outputs_)
        return average_members(torch.cat(chunks), self.task)  # (n, n_outputs)

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)  # (n, n_outputs)
        if self.task == "classification":
            return self.classes_[out.argmax(dim=1).numpy()]
        return out[:, 0].double().numpy() * self.y_std_ + self.y_mean_

    @available_if(lambda self: self.task == "classification")
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns ordered as `classes_`."""
        return torch.softmax(self._forward(X).double(), dim=1).numpy()

    def __sklearn_tags__(self):
        return task_tags(super().__sklearn_tags__(), self.task)


class LightningMLP(_LightningEstimator):
    """Multi-layer perceptron trained by Lightning, with early stopping on `val/loss`.

    Given a `layout` at fit (from `network_inputs.QuantileCodes`), the trailing columns are
    category codes, each embedded in `embedding_dim` numbers, and text columns' token ids,
    each the mean of `text_embedding_dim`-sized token embeddings, before the MLP. Fitted
    attributes as `_LightningEstimator` (`layout_` None: every column is a number).
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        hidden_sizes: Sequence[int] = (256, 256),
        dropout: float = 0.1,
        embedding_dim: int = 8,
        text_embedding_dim: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 16,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        n_numeric, cardinalities = split_layout(self.layout_, n_features)
        texts = text_blocks(self.layout_)
        if not cardinalities and not texts:
            return MLP(n_features, self.hidden_sizes, n_outputs, self.dropout)
        if cardinalities and self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be at least 1, got {self.embedding_dim}")
        embeddings = CategoryEmbeddings(
            n_numeric, cardinalities, self.embedding_dim, texts, self.text_embedding_dim
        )
        mlp = MLP(embeddings.n_features_out, self.hidden_sizes, n_outputs, self.dropout)
        return nn.Sequential(embeddings, mlp)


TOKEN_SETTINGS = (
    "vocab_size",
    "min_count",
    "max_tokens",
    "bigrams",
    "min_bigram_count",
    "max_bigrams",
)


def token_ids(hyper: dict[str, Any]) -> TokenIds:
    """The text columns' tokenizer, its settings taken out of a network's hyperparameters
    (`+models.<name>.vocab_size=...`; see text_features.TokenIds for the defaults)."""
    return TokenIds(**{key: hyper.pop(key) for key in TOKEN_SETTINGS if key in hyper})


def mlp(
    task: str,
    *,
    random_state: int = 0,
    categorical: str = "embedding",
    **hyper: Any,
) -> TabularModel:
    """Factory named by conf/model/mlp.yaml: quantile-normal numbers, categories, text, MLP.

    `categorical="embedding"`: each category column as integer codes into its own learned
    embedding (`embedding_dim` numbers); `"one_hot"`: one-hot columns, no embeddings.
    Text columns: WordPiece token and bigram ids (`token_ids`), averaged embeddings.
    """
    if categorical not in CATEGORICAL_ENCODINGS:
        raise ValueError(f"categorical must be one of {CATEGORICAL_ENCODINGS}, got {categorical!r}")
    text = token_ids(hyper)
    if categorical == "embedding":
        preprocessor = quantile_codes(random_state, text)
    else:
        preprocessor = preprocessing.quantile_one_hot(random_state, text)
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=preprocessor,
        estimator=LightningMLP(task=task, random_state=random_state, **hyper),
    )


def fasttext(task: str, *, random_state: int = 0, **hyper: Any) -> TabularModel:
    """Factory named by conf/model/fasttext.yaml: fastText-style (Joulin et al. 2017, "Bag of
    Tricks for Efficient Text Classification"): each text column the mean of learned word
    and bigram embeddings, then a linear layer (`mlp` with no hidden layers by default).
    Other columns join as in the MLP."""
    return mlp(task, random_state=random_state, **{"hidden_sizes": (), **hyper})
