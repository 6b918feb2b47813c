"""One refit of a contestant (a resample fold, a learning-curve point): fit it, score it.

Runs in a worker process too (bakeoff.evaluation.parallel).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bakeoff import setup_process
from bakeoff.evaluation.scoring import validation_scores
from bakeoff.models.fitting import fit_model
from bakeoff.models.tabular import prediction_frame


class RefitFailed(Exception):
    """A refit's fit raised: the contestant failed, which the bake-off records and survives.
    Anything else raised during a refit is the pipeline's own error and stops the stage."""


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
) -> tuple[dict[str, float], float] | tuple[dict[str, float], float, dict[str, pd.DataFrame]]:
    """One refit (a fold, a learning-curve point): fit on `train`, early-stop on `val`, score
    on `scored`; the scores and the fit's seconds, and with `keep_predictions` the prediction
    frames on `val` and `scored` (what an ensemble of refits is fitted and scored on). Runs
    in a worker process, too."""
    setup_process()
    try:
        model, seconds = fit_model(
            config, task=task, train=train, val=val, target=target, column_kinds=column_kinds
        )
    except Exception as exc:  # the contestant's own failure (a NaN loss, a bad setting)
        raise RefitFailed(f"{type(exc).__name__}: {exc}") from exc
    scores = validation_scores(model, scored, target, task)
    if not keep_predictions:
        return scores, seconds
    frames = {
        part: prediction_frame(model, frame.drop(columns=[target])).assign(y_true=frame[target])
        for part, frame in (("val", val), ("held_out", scored))
    }
    return scores, seconds, frames
