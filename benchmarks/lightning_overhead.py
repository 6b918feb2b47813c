"""How much does Lightning cost per epoch against a plain PyTorch loop?

Same data, network, optimiser, batch size and thread count for three contestants:

* plain             - a hand-written PyTorch loop (shuffled index slices, AdamW)
* lightning_tuned   - `bakeoff.models.deep.LightningMLP.fit` as shipped
* lightning_default - Lightning as the tutorials write it: DataLoader over a TensorDataset,
                      per-step `self.log`, default logger, checkpointing and progress bar

The plain loop runs one epoch right before every Lightning epoch (from a callback), so each
pair shares the machine's load at that moment: on a small shared machine, back-to-back runs
differ by more than the overhead being measured. Figures are medians over epochs, the first
(warm-up) epoch of every run excluded; the ratio is the median of per-pair ratios.
Usage:  PYTHONPATH=src python benchmarks/lightning_overhead.py [--epochs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
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


class PlainLoop:
    """The plain PyTorch contestant, one epoch per call so it can run interleaved."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
        self.X, self.y, self.batch_size = torch.from_numpy(X), torch.from_numpy(y), batch_size
        with torch.random.fork_rng():  # leave the Lightning run's RNG stream untouched
            torch.manual_seed(seed)
            self.net = MLP(X.shape[1], HIDDEN, 2, DROPOUT)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self) -> float:
        start = time.perf_counter()
        self.net.train()
        total = torch.zeros(())
        for idx in torch.randperm(len(self.X), generator=self.generator).split(self.batch_size):
            loss = F.cross_entropy(self.net(self.X[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.detach() * len(idx)
        float(total)  # the epoch's loss, as the Lightning module computes it
        return time.perf_counter() - start


class PairedTimer(Callback):
    """Runs one plain epoch before each Lightning epoch and times both."""

    def __init__(self, plain: PlainLoop) -> None:
        self.plain_loop = plain
        self.plain: list[float] = []
        self.lightning: list[float] = []
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()  # the previous epoch ends here, between-epoch hooks included
        self.plain.append(self.plain_loop.epoch())
        self._start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def _close(self) -> None:
        if self._start is not None:
            self.lightning.append(time.perf_counter() - self._start)
            self._start = None


class TimedLightningMLP(LightningMLP):
    """LightningMLP as shipped, plus the paired timer among its callbacks."""

    def _make_callbacks(self, has_val, keep_best):
        return [*super()._make_callbacks(has_val, keep_best), self.timer]


def lightning_tuned(X, y, args: argparse.Namespace, timer: PairedTimer) -> None:
    model = TimedLightningMLP(
        hidden_sizes=HIDDEN,
        dropout=DROPOUT,
        lr=LR,
        weight_decay=WEIGHT_DECAY,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        random_state=args.seed,
        trainer={"accelerator": "cpu", "devices": 1},
    )
    model.timer = timer
    model.fit(X, y)


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


def lightning_default(X, y, args: argparse.Namespace, timer: PairedTimer) -> None:
    L.seed_everything(args.seed, verbose=False)
    data = DataLoader(
        TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        batch_size=args.batch_size,
        shuffle=True,
    )
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=args.epochs,
            callbacks=[timer],
            default_root_dir=root,
        )
        trainer.fit(DefaultModule(X.shape[1]), train_dataloaders=data)


CONTESTANTS = {"lightning_tuned": lightning_tuned, "lightning_default": lightning_default}


def run_all(X, y, args: argparse.Namespace) -> dict:
    plain, lightning, ratios, setup = [], {}, {}, {}
    for _ in range(args.repeats):
        for name, run in CONTESTANTS.items():
            timer = PairedTimer(PlainLoop(X, y, args.batch_size, args.seed))
            start = time.perf_counter()
            run(X, y, args, timer)
            wall = time.perf_counter() - start
            setup.setdefault(name, []).append(wall - sum(timer.plain) - sum(timer.lightning))
            plain += timer.plain[1:]  # [1:]: drop the warm-up epoch
            lightning.setdefault(name, []).extend(timer.lightning[1:])
            ratios.setdefault(name, []).extend(
                np.divide(timer.lightning[1:], timer.plain[1:]).tolist()
            )
    ms = {"plain": 1000 * statistics.median(plain)}
    ms |= {name: 1000 * statistics.median(s) for name, s in lightning.items()}
    return {
        "ms_per_epoch": ms,
        "ratio_over_plain": {name: statistics.median(r) for name, r in ratios.items()},
        "setup_and_teardown_s": {name: statistics.median(s) for name, s in setup.items()},
        "epochs_timed": len(plain),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="runs per Lightning contestant")
    # One thread by default: the comparison is of per-step overhead, and one thread keeps a
    # busy two-core machine from thrashing. Whatever the value, every contestant gets it.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")  # dataloader-worker hints etc.
    torch.set_num_threads(args.threads)
    X, y = make_classification(args.rows, args.features, n_informative=10, random_state=args.seed)
    X, y = X.astype(np.float32), y.astype(np.int64)

    result = {
        "config": {
            **vars(args),
            "hidden_sizes": list(HIDDEN),
            "device": "cpu",
            "torch": torch.__version__,
            "lightning": L.__version__,
        },
        **run_all(X, y, args),
    }
    result["ratio_tuned_over_plain"] = result["ratio_over_plain"]["lightning_tuned"]
    ms, ratio = result["ms_per_epoch"], result["ratio_over_plain"]
    print(f"\n{'contestant':<20}{'ms/epoch':>10}{'x plain':>9}{'setup s':>9}")
    print(f"{'plain':<20}{ms['plain']:>10.1f}{1:>9.2f}{'':>9}")
    for name in CONTESTANTS:
        print(
            f"{name:<20}{ms[name]:>10.1f}{ratio[name]:>9.2f}"
            f"{result['setup_and_teardown_s'][name]:>9.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
