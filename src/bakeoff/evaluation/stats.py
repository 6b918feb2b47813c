"""Intervals and paired tests over resampled scores: what the verdict may claim.

Scores from k-fold cross-validation are not independent (the training sets overlap), so the
plain t-test is over-confident. Nadeau & Bengio (2003) correct the variance of the mean of J
resampled scores from sigma^2 / J to (1/J + n_test/n_train) * sigma^2; with `ratio` 0 (refits
with new seeds on one fixed split) the plain Student interval remains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps


def mean_interval(
    scores: Sequence[float],
    *,
    ratio: float = 0.0,
    confidence: float = 0.95,
    bounds: tuple[float | None, float | None] = (None, None),
) -> dict[str, float]:
    """Mean of resampled scores with its (corrected) Student-t interval, clipped to `bounds`
    (the metric's range: an accuracy interval does not reach past 1).

    `ratio` is n_test / n_train of one resample (k-fold: 1 / (k - 1)); one score gives a
    zero-width interval, since there is nothing to estimate a spread from.
    """
    values = np.asarray(scores, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "low": mean, "high": mean, "std": 0.0, "n": len(values)}
    std = float(values.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, len(values) - 1)) * math.sqrt(
        (1 / len(values) + ratio) * std**2
    )
    low, high = bounds
    return {
        "mean": mean,
        "low": mean - half if low is None else max(low, mean - half),
        "high": mean + half if high is None else min(high, mean + half),
        "std": std,
        "n": len(values),
    }


def paired_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    higher_is_better: bool,
    ratio: float = 0.0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """How much `a` beats `b` over the same resamples (positive: a is better).

    The corrected resampled t-test: the mean difference, its interval and two-sided p-value.
    Significant when the interval excludes zero. Identical differences on every resample
    (no spread) are significant exactly when they are not zero.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(
            f"a paired test needs two equal runs of >= 2 scores, got {len(a)}, {len(b)}"
        )
    diff = a - b if higher_is_better else b - a
    interval = mean_interval(diff, ratio=ratio, confidence=confidence)
    spread = math.sqrt((1 / len(diff) + ratio) * interval["std"] ** 2)
    if spread == 0:
        p_value = 1.0 if interval["mean"] == 0 else 0.0
    else:
        t = interval["mean"] / spread
        p_value = float(2 * sps.t.sf(abs(t), len(diff) - 1))
    return {
        "delta": interval["mean"],
        "low": interval["low"],
        "high": interval["high"],
        "p_value": p_value,
        "significant": bool(interval["low"] > 0 or interval["high"] < 0),
        "resamples": len(diff),
        "confidence": confidence,
    }


def verdict_sentence(
    classical: str, deep: str, test: dict[str, Any], metric: str, rows: int | None = None
) -> str:
    """One of: "<classical> beats <deep> by Δ (95% CI …)", the reverse, or no difference.

    `test` is `paired_test(classical, deep)`: positive delta means the classical model is better.
    """
    level = f"{test['confidence']:.0%}"
    interval = f"{level} CI [{test['low']:+.4f}, {test['high']:+.4f}]"
    if not test["significant"]:
        size = f" ({rows} rows)" if rows else ""
        return (
            f"No significant difference at this data size{size}: {classical} vs {deep}, "
            f"{metric} difference {test['delta']:+.4f} ({interval}, p = {test['p_value']:.2g})."
        )
    winner, loser, sign = (classical, deep, 1) if test["delta"] > 0 else (deep, classical, -1)
    low, high = sorted((sign * test["low"], sign * test["high"]))
    return (
        f"{winner} beats {loser} by {abs(test['delta']):.4f} {metric} "
        f"({level} CI [{low:.4f}, {high:.4f}], p = {test['p_value']:.2g})."
    )
