"""What the three private-API shortcuts that bakeoff 0.1 applied to Lightning bought.

bakeoff 0.1's TrainingModule (i) overrode `__setattr__` to set Lightning's
`_current_fx_name` without nn.Module's checks, (ii) gave `training_step` a precomputed
`__signature__`, and (iii) called `loss.backward()` directly instead of `manual_backward`.
They are gone from the product (they tie it to one Lightning minor version). This benchmark
puts them back in a subclass, here only, and times whole fits (set-up, every epoch,
validation, early stopping) of the shipped module against the patched one, alternating, on
the default data (breast_cancer, the pipeline's split) and on California housing when its
file is present.

Usage:  python benchmarks/lightning_patches.py [--repeats 5] [--models mlp,resnet]
"""

from __future__ import annotations

import argparse
import inspect
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from bakeoff.data.features import split_xy
from bakeoff.data.prepare import prepared_splits
from bakeoff.models import build_model, training
from bakeoff.params import compose_conf, params_from_mapping
from common import FILES, ROOT, load_splits, save_result


class PatchedModule(training.TrainingModule):
    """bakeoff 0.1's shortcuts through Lightning's internals, for this measurement only."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def training_step(self, batch, batch_idx):  # the direct backward of 0.1
        loss = self._step(batch, "train")
        optimizer = self.optimizers()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    training_step.__signature__ = inspect.signature(training_step)


def default_splits():
    params = params_from_mapping(compose_conf(ROOT / "conf"))
    parts, card = prepared_splits(params, ROOT)
    return parts, card["task"], card["target"]


def time_fit(config: dict, task: str, train, val, target: str, module_class) -> tuple[float, int]:
    """Seconds for one whole fit with `module_class` as the LightningModule, and its epochs."""
    shipped = training.TrainingModule
    training.TrainingModule = module_class  # the estimator builds whatever this names
    try:
        model = build_model(config, task)
        X, y = split_xy(train, target)
        X_val, y_val = split_xy(val, target)
        start = time.perf_counter()
        model.fit(X, y, X_val=X_val, y_val=y_val)
        seconds = time.perf_counter() - start
    finally:
        training.TrainingModule = shipped
    return seconds, len(model.estimator.history_)


def measure(name: str, config: dict, splits, repeats: int) -> dict[str, Any]:
    parts, task, target = splits
    times: dict[str, list[float]] = {"supported": [], "patched": []}
    epochs = set()
    time_fit(config, task, parts["train"], parts["val"], target, training.TrainingModule)  # warm
    for _ in range(repeats):
        for variant, module in (("supported", training.TrainingModule), ("patched", PatchedModule)):
            seconds, n = time_fit(config, task, parts["train"], parts["val"], target, module)
            times[variant].append(seconds)
            epochs.add(n)
    supported, patched = (statistics.median(times[v]) for v in ("supported", "patched"))
    return {
        "model": name,
        "epochs": sorted(epochs),
        "supported_s": round(supported, 2),
        "patched_s": round(patched, 2),
        "supported_over_patched": round(supported / patched, 3),
        "times": times,
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="mlp,resnet")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    args = parser.parse_args()
    datasets = {"breast_cancer": default_splits()}
    if (args.data_dir / FILES["california_housing"]).is_file():
        datasets["california_housing"] = load_splits("california_housing", args.data_dir)
    rows, raw = [], {}
    for dataset, splits in datasets.items():
        overrides = [] if dataset == "breast_cancer" else [f"data={dataset}"]
        models = compose_conf(ROOT / "conf", overrides)["models"]
        for name in args.models.split(","):
            result = measure(name, models[name], splits, args.repeats)
            print(dataset, {k: v for k, v in result.items() if k != "times"}, flush=True)
            raw[f"{dataset}/{name}"] = result
            rows.append(
                {
                    "data": dataset,
                    "model": name,
                    "epochs": ", ".join(map(str, result["epochs"])),
                    "without patches (s)": result["supported_s"],
                    "with patches (s)": result["patched_s"],
                    "ratio": result["supported_over_patched"],
                }
            )
    save_result(
        "lightning_patches",
        title="Whole-fit time without and with bakeoff 0.1's Lightning patches",
        command=f"python benchmarks/lightning_patches.py --repeats {args.repeats} "
        f"--models {args.models}",
        tables=[{"caption": "median whole fit, alternating runs", "rows": rows}],
        notes=[
            "ratio: without / with the patches; above 1 means the patches saved time.",
            "The product ships without them (docs/deep-models.md says why).",
        ],
        raw=raw,
    )


if __name__ == "__main__":
    main()
