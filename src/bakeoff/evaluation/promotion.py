"""The promotion rule: when this run's best model replaces the registry's champion.

The challenger must respect the constraints (maximum latency) and beat the champion's test
score by more than `promote.margin`; with `require_significant`, the paired bootstrap
interval of the difference must also lie above zero. A first model becomes champion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bakeoff.evaluation.metrics import PRIMARY_METRIC, predict_proba_columns
from bakeoff.params import PromoteConfig


def choose_challenger(board: dict[str, Any], config: PromoteConfig) -> tuple[str, list[str]]:
    """The best-ranked model that meets the constraints; when none does, the best one, with
    the constraints it breaks (it is registered but cannot be promoted)."""
    ranked = sorted(board["models"], key=lambda m: board["models"][m]["rank"])
    broken = {name: constraint_failures(board["models"][name], config) for name in ranked}
    eligible = [name for name in ranked if not broken[name]]
    chosen = eligible[0] if eligible else ranked[0]
    return chosen, broken[chosen]


def constraint_failures(row: dict[str, Any], config: PromoteConfig) -> list[str]:
    latency = row.get("latency_p95_ms")
    limit = config.max_latency_ms
    if limit is not None and latency is not None and latency > limit:
        return [f"latency p95 {latency:.1f} ms > promote.max_latency_ms {config.max_latency_ms}"]
    return []


def row_outcomes(task: str, y_true: pd.Series, predictions: pd.DataFrame) -> np.ndarray:
    """Per test row: 1/0 correct (classification, the argmax class) or the squared error."""
    if task == "classification":
        proba, classes = predict_proba_columns(predictions)
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        return (predicted == y_true.astype(str).to_numpy()).astype(float)
    errors = predictions["prediction"].to_numpy(float) - y_true.to_numpy(float)
    return errors**2


def metric_of(task: str, outcomes: np.ndarray, axis: int = -1) -> np.ndarray:
    """Accuracy (mean correct) or RMSE (root mean squared error) over the rows."""
    mean = outcomes.mean(axis=axis)
    return mean if task == "classification" else np.sqrt(mean)


def paired_bootstrap(
    task: str,
    challenger: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Interval of the improvement (challenger better: positive) over rows resampled with
    replacement, the same rows for both models."""
    rng = np.random.default_rng(seed)
    higher = PRIMARY_METRIC[task][1]
    differences = []
    for start in range(0, resamples, 200):  # chunks keep the index matrix small
        rows = rng.integers(0, len(challenger), size=(min(200, resamples - start), len(challenger)))
        difference = metric_of(task, challenger[rows]) - metric_of(task, champion[rows])
        differences.append(difference if higher else -difference)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(differences), [tail, 100 - tail])
    return float(low), float(high)


def decide(
    *,
    improvement: float,
    interval: tuple[float, float] | None,
    config: PromoteConfig,
    broken: list[str],
) -> tuple[bool, list[str]]:
    """Promote or keep, with every reason (positive improvement: the challenger is better)."""
    reasons = list(broken)
    if improvement <= config.margin:
        reasons.append(
            f"improvement {improvement:+.4f} is not above promote.margin {config.margin}"
        )
    if config.require_significant and interval is not None and interval[0] <= 0:
        reasons.append(
            f"the {config.confidence:.0%} interval of the improvement "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] includes zero"
        )
    if reasons:
        return False, reasons
    return True, [f"improvement {improvement:+.4f} > margin {config.margin}"]
