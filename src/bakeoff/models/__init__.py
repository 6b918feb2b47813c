"""Contestants: every model is a TabularModel (preprocessing + estimator) built by a factory.

A model's config (conf/model/<name>.yaml) names its factory as `_target_`; only the factory's
module is imported, so classical models never import torch or lightning.
"""

from __future__ import annotations

import time
from typing import Any

# Seconds the first build and prepare of each factory took in this process: importing its
# libraries, which is most of what a fresh refit worker pays before its first fit.
FIRST_PREPARE_SECONDS: dict[str, float] = {}


def build_model(config: dict[str, Any], task: str):
    """Instantiate the factory named by `config["_target_"]` for this task."""
    from hydra.utils import instantiate

    if "_target_" not in config:
        raise ValueError(f"model config {config!r} names no `_target_` factory")
    return instantiate(config, task=task, _convert_="all")


def prepared(config: dict[str, Any], task: str):
    """The model built, with the libraries its fit needs imported (its `prepare`), so that a
    fit timed after this is the fit's alone; the first time per factory is recorded."""
    start = time.perf_counter()
    model = build_model(config, task)
    model.prepare()
    FIRST_PREPARE_SECONDS.setdefault(str(config["_target_"]), time.perf_counter() - start)
    return model
