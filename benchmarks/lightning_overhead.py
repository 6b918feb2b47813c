"""How much does Lightning cost per epoch against a plain PyTorch loop?

Same data, network, optimiser, batch size and thread count for three contestants:

* plain             - a hand-written PyTorch loop (shuffled index slices, AdamW)
* lightning_tuned   - `bakeoff.models.deep.LightningMLP.fit` as shipped
* lightning_default - Lightning as the tutorials write it: DataLoader over a TensorDataset,
                      per-step `self.log`, default logger, checkpointing and progress bar

Per-epoch times are the median over epochs, the first (warm-up) epoch of every run excluded.
Usage:  PYTHONPATH=src python benchmarks/lightning_overhead.py [--epochs 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from sklearn.datasets import make_classification
from torch.utils.data import DataLoader, TensorDataset

from bakeoff.models.deep import MLP, LightningMLP

RESULTS = Path(__file__).parent / "results" / "lightning_overhead.json"
HIDDEN = (256, 256)
DROPOUT, LR, WEIGHT_DECAY = 0.1, 1e-3, 1e-5


class EpochTimer(Callback):
    """Wall time between successive epoch starts, so between-epoch hooks count too."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter())

    @property
    def epoch_seconds(self) -> list[float]:
        return list(np.diff(self.marks))


def plain(X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, seed: int) -> list[float]:
    torch.manual_seed(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    net = MLP(X.shape[1], HIDDEN, 2, DROPOUT).train()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    generator = torch.Generator().manual_seed(seed)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        total = torch.zeros(())
        for idx in torch.randperm(len(Xt), generator=generator).split(batch_size):
            loss = F.cross_entropy(net(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        float(total)  # the epoch's loss, as the Lightning module computes it
        seconds.append(time.perf_counter() - start)
    return seconds


class TimedLightningMLP(LightningMLP):
    """LightningMLP with an epoch timer; everything else as shipped."""

    def _make_callbacks(self, has_val, keep_best):
        self.timer_ = EpochTimer()
        return [*super()._make_callbacks(has_val, keep_best), self.timer_]


def lightning_tuned(X, y, epochs: int, batch_size: int, seed: int) -> list[float]:
    model = TimedLightningMLP(
        hidden_sizes=HIDDEN, dropout=DROPOUT, lr=LR, weight_decay=WEIGHT_DECAY,
        batch_size=batch_size, max_epochs=epochs, random_state=seed,
        trainer={"accelerator": "cpu", "devices": 1},
    )
    model.fit(X, y)
    return model.timer_.epoch_seconds


class DefaultModule(L.LightningModule):
    """The textbook LightningModule: per-step logging to the progress bar and logger."""

    def __init__(self, n_features: int):
        super().__init__()
        self.network = MLP(n_features, HIDDEN, 2, DROPOUT)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.network(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)


def lightning_default(X, y, epochs: int, batch_size: int, seed: int) -> list[float]:
    L.seed_everything(seed, verbose=False)
    data = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                      batch_size=batch_size, shuffle=True)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, callbacks=[timer],
                            default_root_dir=root)
        trainer.fit(DefaultModule(X.shape[1]), train_dataloaders=data)
    return timer.epoch_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per contestant")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")  # dataloader-worker hints etc.
    torch.set_num_threads(args.threads)  # identical for every contestant
    X, y = make_classification(args.rows, args.features, n_informative=10, random_state=args.seed)
    X, y = X.astype(np.float32), y.astype(np.int64)

    contestants = {"plain": plain, "lightning_tuned": lightning_tuned,
                   "lightning_default": lightning_default}
    epochs: dict[str, list[float]] = {name: [] for name in contestants}
    fit_seconds: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(args.repeats):
        for name, run in contestants.items():
            start = time.perf_counter()
            seconds = run(X, y, args.epochs, args.batch_size, args.seed)
            fit_seconds[name].append(time.perf_counter() - start)
            epochs[name] += seconds[1:]  # drop the warm-up epoch

    ms = {name: 1000 * statistics.median(s) for name, s in epochs.items()}
    result = {
        "config": {**vars(args), "hidden_sizes": list(HIDDEN), "device": "cpu",
                   "torch": torch.__version__, "lightning": L.__version__},
        "ms_per_epoch": ms,
        "fit_seconds_median": {k: statistics.median(v) for k, v in fit_seconds.items()},
        "ratio_tuned_over_plain": ms["lightning_tuned"] / ms["plain"],
        "ratio_default_over_plain": ms["lightning_default"] / ms["plain"],
    }
    print(f"{'contestant':<20}{'ms/epoch':>10}{'x plain':>9}{'fit s':>8}")
    for name in contestants:
        print(f"{name:<20}{ms[name]:>10.1f}{ms[name] / ms['plain']:>9.2f}"
              f"{result['fit_seconds_median'][name]:>8.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
