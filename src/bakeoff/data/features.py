"""Model-agnostic, deterministic feature steps declared in config (`featurize.steps`), and
the featurized splits every fit starts from.

The same steps travel inside every saved model, so a served model takes raw rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bakeoff.paths import SPLITS, features_path

log = logging.getLogger(__name__)


def _require_columns(frame: pd.DataFrame, columns: list[str], step: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"featurize step {step}: columns {missing} do not exist; "
            f"available: {list(frame.columns)}"
        )


def drop_columns(frame: pd.DataFrame, columns: list[str], target: str) -> pd.DataFrame:
    _require_columns(frame, columns, "drop_columns")
    if target in columns:
        raise ValueError(f"featurize step drop_columns: cannot drop the target column {target!r}")
    return frame.drop(columns=columns)


def keep_columns(frame: pd.DataFrame, columns: list[str], target: str) -> pd.DataFrame:
    _require_columns(frame, columns, "keep_columns")
    keep = [c for c in frame.columns if c in columns or c == target]
    return frame[keep]


def drop_row_key(frame: pd.DataFrame, columns: list[str], target: str) -> pd.DataFrame:
    """The row key (data.key) identifies rows, it is not a feature; rows sent to a saved
    model may carry it or not."""
    return frame.drop(columns=[c for c in columns if c in frame.columns and c != target])


STEPS: dict[str, Callable[[pd.DataFrame, Any, str], pd.DataFrame]] = {
    "drop_columns": drop_columns,
    "keep_columns": keep_columns,
    "drop_row_key": drop_row_key,
}


def parse_step(step: dict[str, Any]) -> tuple[str, Any]:
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError(f"featurize step {step!r} must be a mapping `<step>: <argument>`")
    ((name, argument),) = step.items()
    if name not in STEPS:
        raise ValueError(f"featurize step {name!r} is unknown; choose from {sorted(STEPS)}")
    return name, argument


def apply_steps(frame: pd.DataFrame, steps: list[dict[str, Any]], target: str) -> pd.DataFrame:
    """Apply the steps in order; returns a new frame (the input is left untouched)."""
    for step in steps:
        name, argument = parse_step(step)
        frame = STEPS[name](frame, argument, target)
    return frame.copy()


@dataclass(frozen=True)
class FeatureSplits:
    """The featurized splits and what to learn from them: what every refit (resamples,
    learning-curve fractions) starts from."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    task: str
    target: str
    # The data card's column kinds: which columns are text (their dtype cannot say).
    column_kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, card: dict[str, Any]) -> FeatureSplits:
        """The featurize stage's outputs, with the task, target and kinds from the data card."""
        frames = {split: pd.read_parquet(features_path(split)) for split in SPLITS}
        return cls(
            **frames,
            task=card["task"],
            target=card["target"],
            column_kinds=dict(card.get("features") or {}),
        )


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]
