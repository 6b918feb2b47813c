"""Fitting a configured contestant: build it from its config, fit it on a split, time it.

The same fit serves the pipeline's final model, the resample folds, the learning-curve
points and the Hydra sweeps' trials.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd

from bakeoff.data.features import split_xy
from bakeoff.fileio import remove_tree
from bakeoff.models import prepared
from bakeoff.paths import CHECKPOINTS, find_project_root


def refit_config(config: dict[str, Any], train_rows: int) -> dict[str, Any]:
    """The config of a refit (a resample fold, a learning-curve point) of the model the
    pipeline trained on `train_rows` rows. A factory whose model decides something from its
    training rows (TabM's CPU size) has a `pinned_for_rows(config, rows)` that fixes that
    choice in the config, so the refits, on fewer rows, train the network that is served."""
    from hydra.utils import get_method

    pinned = getattr(get_method(config["_target_"]), "pinned_for_rows", None)
    return config if pinned is None else pinned(config, train_rows)


def is_rank_zero() -> bool:
    """False in the extra processes of a distributed (DDP) launch: Lightning's launcher
    re-runs the stage's command with LOCAL_RANK set, torchrun sets RANK, SLURM's srun
    SLURM_PROCID. Only rank 0 may record anything; the others exist to train."""
    return all(
        os.environ.get(name, "0") == "0"
        for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    )


def fit_model(
    config: dict[str, Any],
    *,
    task: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    target: str,
    column_kinds: dict[str, str] | None = None,
):
    """Build the configured model and fit it; returns the model and the fit's wall time (s).

    Separate from the stage so that the same model can be fitted again (folds, seeds, fractions).
    `column_kinds` (the data card's `features`) says which columns are text.
    """
    # A library imported once per process (Lightning: seconds) is not the model's cost.
    model = prepared(config, task)
    X, y = split_xy(train, target)
    X_val, y_val = split_xy(val, target)
    start = time.perf_counter()
    model.fit(X, y, X_val=X_val, y_val=y_val, column_kinds=column_kinds)
    return model, time.perf_counter() - start


def with_checkpoints(config: dict[str, Any], dataset: str, name: str) -> dict[str, Any]:
    """Networks checkpoint to checkpoints/<dataset>/<model>/ (best.ckpt, last.ckpt), outside
    DVC's outputs so an interrupted stage leaves them behind. BAKEOFF_RESUME=1 continues
    from last.ckpt; otherwise old checkpoints are cleared first."""
    if "trainer" not in config:
        return config  # classical models
    folder = find_project_root() / CHECKPOINTS / dataset / name
    resume = os.environ.get("BAKEOFF_RESUME", "") not in ("", "0")
    if not resume and is_rank_zero():
        remove_tree(folder)
    trainer = {**config["trainer"], "checkpoint_dir": str(folder), "resume": resume}
    return {**config, "trainer": trainer}
