"""A whole network fit through bakeoff's Lightning base against a plain PyTorch loop doing
the same work: the same network, data, optimiser, batch size and seed, validation every
epoch, early stopping with the same patience, the best weights restored, and checkpoints
(best when it improves, last at most every `--last-every` seconds) written to disk.

Both get the same preprocessed matrices (the contestant's own preprocessing, fitted once);
what is timed is the estimator's fit: set-up, every epoch, validation, checkpoints. The two
alternate, `--repeats` times. Epoch counts can differ a little (the two draw batch orders
differently), so the table also gives seconds per epoch.

    python benchmarks/whole_fit.py [--models mlp,resnet] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bakeoff.data.features import split_xy
from bakeoff.data.prepare import prepared_splits
from bakeoff.models import build_model
from bakeoff.params import compose_conf, params_from_mapping
from common import FILES, ROOT, load_splits, save_result


def default_splits():
    params = params_from_mapping(compose_conf(ROOT / "conf"))
    parts, card = prepared_splits(params, ROOT)
    return parts, card["task"], card["target"]


def prepared(config: dict, splits) -> dict[str, Any]:
    """The contestant's own preprocessing, fitted on the training split, applied to both."""
    parts, task, target = splits
    model = build_model(config, task)
    X, y = split_xy(parts["train"], target)
    X_val, y_val = split_xy(parts["val"], target)
    model.feature_columns_ = list(X.columns)
    from bakeoff.models.tabular import column_kind

    model.column_kinds_ = {c: column_kind(X[c]) for c in X.columns}
    Xt = model.preprocessor.fit_transform(model._conform(X, check_unseen=False), y)
    Xv = model.preprocessor.transform(model._conform(X_val, check_unseen=False))
    layout = getattr(model.preprocessor, "layout_", None)
    return {
        "estimator": model.estimator,
        "X": np.asarray(Xt, dtype=np.float32),
        "y": np.asarray(y),
        "X_val": np.asarray(Xv, dtype=np.float32),
        "y_val": np.asarray(y_val),
        "layout": layout,
        "task": task,
    }


def bakeoff_fit(
    data: dict[str, Any], folder: Path, max_epochs: int | None = None
) -> tuple[float, int]:
    """`max_epochs`: a short fit, to pay first-use costs before the timed ones."""
    estimator = copy.deepcopy(data["estimator"])
    estimator.trainer = {**(estimator.trainer or {}), "checkpoint_dir": str(folder)}
    if max_epochs is not None:
        estimator.max_epochs = max_epochs
    kwargs = {"layout": data["layout"]} if data["layout"] is not None else {}
    start = time.perf_counter()
    estimator.fit(data["X"], data["y"], X_val=data["X_val"], y_val=data["y_val"], **kwargs)
    seconds = time.perf_counter() - start
    if max_epochs is None:
        # What a network's build needs from its fit (TabM: k, sizes and the embeddings' bins).
        data.setdefault("fitted", estimator)
    return seconds, len(estimator.history_)


def plain_fit(data: dict[str, Any], folder: Path, last_every: float) -> tuple[float, int]:
    """The same training, written as a plain PyTorch loop (the network built as the fitted
    estimator builds it: its data-derived settings are not timed here)."""
    est = copy.deepcopy(data["fitted"])
    start = time.perf_counter()
    torch.manual_seed(est.random_state)
    np.random.seed(est.random_state)
    classify = data["task"] == "classification"
    if classify:
        classes = np.unique(data["y"])
        y = torch.from_numpy(np.searchsorted(classes, data["y"]).astype(np.int64))
        y_val = torch.from_numpy(np.searchsorted(classes, data["y_val"]).astype(np.int64))
        n_out = len(classes)
    else:
        mean, std = float(data["y"].mean()), float(data["y"].std()) or 1.0
        y = torch.from_numpy(((data["y"] - mean) / std).astype(np.float32))
        y_val = torch.from_numpy(((data["y_val"] - mean) / std).astype(np.float32))
        n_out = 1
    X, X_val = torch.from_numpy(data["X"]), torch.from_numpy(data["X_val"])
    est.layout_ = data["layout"]
    network = est._build_network(X.shape[1], n_out)
    optimizer = torch.optim.AdamW(network.parameters(), lr=est.lr, weight_decay=est.weight_decay)
    generator = torch.Generator().manual_seed(est.random_state)
    clip = getattr(est, "gradient_clip_norm", None)

    def loss_of(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if out.dim() == 3:  # a member axis (TabM): the mean of the members' losses
            return torch.stack([loss_of(out[:, i], target) for i in range(out.shape[1])]).mean()
        if classify:
            return F.cross_entropy(out, target)
        return F.mse_loss(out.squeeze(1), target)

    best, best_state, bad, epochs, last_saved = math.inf, None, 0, 0, -math.inf
    for _ in range(est.max_epochs):
        epochs += 1
        network.train()
        total = torch.zeros(())
        for idx in torch.randperm(len(X), generator=generator).split(est.batch_size):
            loss = loss_of(network(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:  # as the estimator clips (TabM: norm 1, as in the paper)
                torch.nn.utils.clip_grad_norm_(network.parameters(), clip)
            optimizer.step()
            total += loss.detach() * len(idx)
        network.eval()
        with torch.no_grad():
            val = float(loss_of(network(X_val), y_val))
        float(total)
        if not math.isfinite(val):
            raise FloatingPointError(f"val/loss is {val}")
        if val < best:
            best, bad = val, 0
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            torch.save(
                {"state": best_state, "optimizer": optimizer.state_dict()}, folder / "best.pt"
            )
        else:
            bad += 1
        now = time.perf_counter()
        if now - last_saved >= last_every:
            torch.save(
                {"state": network.state_dict(), "optimizer": optimizer.state_dict()},
                folder / "last.pt",
            )
            last_saved = now
        if bad >= est.patience:
            break
    network.load_state_dict(best_state)
    return time.perf_counter() - start, epochs


def measure(name: str, config: dict, splits, repeats: int, last_every: float) -> dict[str, Any]:
    data = prepared(config, splits)
    runs: dict[str, list[tuple[float, int]]] = {"bakeoff": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        bakeoff_fit(data, Path(tmp) / "warm", max_epochs=2)  # first-use costs (imports...) once
        for r in range(repeats):
            runs["bakeoff"].append(bakeoff_fit(data, Path(tmp) / f"b{r}"))
            (Path(tmp) / f"p{r}").mkdir()
            runs["plain"].append(plain_fit(data, Path(tmp) / f"p{r}", last_every))
    seconds = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
    epochs = {k: statistics.median(e for _, e in v) for k, v in runs.items()}
    per_epoch = {k: seconds[k] / epochs[k] for k in runs}
    return {
        "model": name,
        "bakeoff_s": round(seconds["bakeoff"], 2),
        "plain_s": round(seconds["plain"], 2),
        "epochs (bakeoff/plain)": f"{epochs['bakeoff']:g}/{epochs['plain']:g}",
        "ratio": round(seconds["bakeoff"] / seconds["plain"], 2),
        "ratio per epoch": round(per_epoch["bakeoff"] / per_epoch["plain"], 2),
        "runs": runs,
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,resnet")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--last-every", type=float, default=30.0, help="seconds (trainer.checkpoint_every_seconds)"
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument(
        "--data", nargs="+", default=["breast_cancer", "california_housing"], help="datasets"
    )
    parser.add_argument("--name", default="whole_fit", help="results/<name>.json")
    args = parser.parse_args()
    datasets = {"breast_cancer": default_splits()} if "breast_cancer" in args.data else {}
    california = args.data_dir / FILES["california_housing"]
    if "california_housing" in args.data and california.is_file():
        datasets["california_housing"] = load_splits("california_housing", args.data_dir)
    rows, raw = [], {}
    for dataset, splits in datasets.items():
        overrides = [] if dataset == "breast_cancer" else [f"data={dataset}"]
        models = compose_conf(ROOT / "conf", overrides)["models"]
        for name in args.models.split(","):
            if name not in models:
                continue
            result = measure(name, models[name], splits, args.repeats, args.last_every)
            raw[f"{dataset}/{name}"] = result
            rows.append({"data": dataset, **{k: v for k, v in result.items() if k != "runs"}})
            print(rows[-1], flush=True)
    save_result(
        args.name,
        title="A whole network fit: bakeoff's Lightning base against a plain PyTorch loop",
        command=(
            f"python benchmarks/whole_fit.py --models {args.models} --repeats {args.repeats} "
            f"--last-every {args.last_every:g} --data {' '.join(args.data)} --name {args.name}"
        ),
        tables=[
            {"caption": "median whole fit (set-up, epochs, validation, checkpoints)", "rows": rows}
        ],
        notes=[
            "ratio: bakeoff / plain for the whole fit; ratio per epoch: the same per epoch, "
            "which removes the small difference in epochs early stopping chose.",
            "Both write the best checkpoint when validation loss improves and the last one "
            "at most every --last-every seconds, and clip gradients where the model's config "
            "does (TabM).",
        ],
        raw=raw,
    )


if __name__ == "__main__":
    main()
