"""One refit of a contestant (a resample fold, a learning-curve point): fit it, score it.

Runs in a worker process too (bakeoff.evaluation.parallel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bakeoff import setup_process
from bakeoff.evaluation.scoring import validation_scores
from bakeoff.models.fitting import fit_model
from bakeoff.models.tabular import prediction_frame


class RefitFailed(Exception):
    """A refit's fit raised: the contestant failed, which the bake-off records and survives.
    Anything else raised during a refit is the pipeline's own error and stops the stage."""


@dataclass(frozen=True)
class Refit:
    scores: dict[str, float]
    fit_seconds: float
    guard: str | None  # what cut the fit short (a time budget), in words; None: nothing
    frames: dict[str, pd.DataFrame] | None  # predictions on "val" and "held_out", if kept


def fit_and_score(
    config: dict[str, Any],
    *,
    task: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    scored: pd.DataFrame,
    target: str,
    keep_predictions: bool = False,
    column_kinds: dict[str, str] | None = None,
) -> Refit:
    """One refit (a fold, a learning-curve point): fit on `train`, early-stop on `val`, score
    on `scored`; with `keep_predictions` also the prediction frames on `val` and `scored`
    (what an ensemble of refits is fitted and scored on). Runs in a worker process, too."""
    setup_process()
    try:
        model, seconds = fit_model(
            config, task=task, train=train, val=val, target=target, column_kinds=column_kinds
        )
    except Exception as exc:  # the contestant's own failure (a NaN loss, a bad setting)
        raise RefitFailed(f"{type(exc).__name__}: {exc}") from exc
    scores = validation_scores(model, scored, target, task)
    frames = None
    if keep_predictions:
        frames = {
            part: prediction_frame(model, frame.drop(columns=[target])).assign(y_true=frame[target])
            for part, frame in (("val", val), ("held_out", scored))
        }
    return Refit(scores, seconds, model.guard(), frames)
