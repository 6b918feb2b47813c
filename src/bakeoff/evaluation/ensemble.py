"""Combining the families: the weight of a two-model average, fitted on validation
predictions (never on the rows that score it), and the average's scores on the very
resamples every contestant was refitted on, so it gets an interval and a paired test too.

Inputs are prediction frames as every saved model answers them (`prediction`, and
`proba_<class>` columns for classification); the refits' frames also carry `y_true`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bakeoff.evaluation import metrics

WEIGHT_STEPS = 21  # candidate weights 0, 0.05, ..., 1 for the first member


def blend(frames: dict[str, pd.DataFrame], weights: dict[str, float], task: str) -> pd.DataFrame:
    """The weighted average of the members' frames (same rows, same order), as a frame."""
    first = next(iter(frames.values()))
    out = pd.DataFrame(index=first.index)
    if task == "classification":
        columns = [c for c in first.columns if c.startswith("proba_")]
        proba = sum(w * frames[n][columns].to_numpy(float) for n, w in weights.items())
        classes = np.array([c.removeprefix("proba_") for c in columns])
        out["prediction"] = classes[proba.argmax(axis=1)]
        for i, column in enumerate(columns):
            out[column] = proba[:, i]
    else:
        out["prediction"] = sum(
            w * frames[n]["prediction"].to_numpy(float) for n, w in weights.items()
        )
    return out


def loss(frame: pd.DataFrame, y_true: pd.Series, task: str) -> float:
    """What the weight minimises: log loss (classification), mean squared error."""
    if task == "classification":
        proba, classes = metrics.predict_proba_columns(frame)
        return metrics.classification_metrics(y_true.to_numpy(), proba, np.array(classes))[
            "log_loss"
        ]
    error = frame["prediction"].to_numpy(float) - y_true.to_numpy(float)
    return float(np.mean(error**2))


def fit_weights(
    frames: dict[str, pd.DataFrame], y_true: pd.Series, task: str, steps: int = WEIGHT_STEPS
) -> dict[str, float]:
    """The weights of two members that minimise the validation loss, on a grid (the first
    member's weight 0, 1/(steps-1), ..., 1); ties go to the weight nearest an even split."""
    a, b = frames
    grid = np.linspace(0.0, 1.0, steps)
    losses = [loss(blend(frames, {a: w, b: 1 - w}, task), y_true, task) for w in grid]
    best = min(range(steps), key=lambda i: (round(losses[i], 12), abs(grid[i] - 0.5)))
    return {a: float(grid[best]), b: float(1 - grid[best])}


def resampled_scores(
    predictions: dict[str, pd.DataFrame], records: dict[str, dict[str, Any]], task: str
) -> list[dict[str, Any]]:
    """The ensemble on each resample: its weight fitted on the refits' predictions for that
    resample's early-stopping rows, its scores on the held-out rows; sizes as the members'
    records give them (the same folds, so the scores pair with every other contestant's)."""
    first = next(iter(records.values()))["resamples"]
    results = []
    for i, size in enumerate(first):
        parts = {}
        for part in ("val", "held_out"):
            frames = {}
            for name, frame in predictions.items():
                rows = frame[(frame["resample"] == i) & (frame["part"] == part)]
                frames[name] = rows.sort_values("row").reset_index(drop=True)
            truth = next(iter(frames.values()))["y_true"]
            if any(
                not f["row"].equals(next(iter(frames.values()))["row"]) for f in frames.values()
            ):
                raise ValueError(f"resample {i}: the members' refits saw different {part} rows")
            parts[part] = (frames, truth)
        frames, truth = parts["val"]
        weights = fit_weights(frames, truth, task)
        frames, truth = parts["held_out"]
        scored = blend(frames, weights, task)
        if task == "classification":
            proba, classes = metrics.predict_proba_columns(scored)
            scores = metrics.classification_metrics(truth.to_numpy(), proba, np.array(classes))
        else:
            scores = metrics.regression_metrics(
                truth.to_numpy(float), scored["prediction"].to_numpy(float)
            )
        kept = {k: size[k] for k in ("resample", "train_rows", "fit_rows", "test_rows", "held_out")}
        results.append({**kept, "fit_seconds": 0.0, "weights": weights, **scores})
    return results
