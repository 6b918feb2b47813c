"""Contestants: every model is a TabularModel (preprocessing + estimator) built by a factory.

A model's config (conf/model/<name>.yaml) names its factory as `_target_`; only the factory's
module is imported, so classical models never import torch or lightning.
"""

from __future__ import annotations

from typing import Any


def build_model(config: dict[str, Any], task: str):
    """Instantiate the factory named by `config["_target_"]` for this task."""
    from hydra.utils import instantiate

    if "_target_" not in config:
        raise ValueError(f"model config {config!r} names no `_target_` factory")
    return instantiate(config, task=task, _convert_="all")
