"""The ensemble contestant: a weighted average of fitted contestants' predictions (the best
classical and the best deep model), its weights fitted on validation predictions.

It has the contract of every contestant at predict time (`predict`, `predict_proba`,
`classes_`, `describe`), so it is scored, served and registered like one. It is not fitted
from raw rows: `WeightedAverage.from_members` takes members already fitted and the weights
`bakeoff.evaluation.ensemble.fit_weights` chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.paths import ENSEMBLE

FAMILY = "ensemble"
NAME = ENSEMBLE  # the contestant's name: its stage and its leaderboard row


class WeightedAverage:
    """Members' class probabilities (classification) or values (regression), averaged."""

    family = FAMILY

    def __init__(self, *, task: str, members: dict[str, Any], weights: dict[str, float]):
        if set(members) != set(weights):
            raise ValueError(f"weights {sorted(weights)} do not name the members {sorted(members)}")
        if not np.isclose(sum(weights.values()), 1.0):
            raise ValueError(f"weights must sum to 1, got {weights}")
        self.task, self.members, self.weights = task, members, weights
        if task == "classification":
            classes = [list(np.asarray(m.classes_).astype(str)) for m in members.values()]
            if any(c != classes[0] for c in classes):
                raise ValueError(f"the members predict different classes: {classes}")
            self.classes_ = next(iter(members.values())).classes_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.task != "classification":
            raise AttributeError("predict_proba is defined for classification only")
        return sum(w * self.members[n].predict_proba(X) for n, w in self.weights.items())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "classification":
            return np.asarray(self.classes_)[self.predict_proba(X).argmax(axis=1)]
        return sum(
            w * np.asarray(self.members[n].predict(X), float) for n, w in self.weights.items()
        )

    def save_files(self, folder: Path) -> bool:
        """Members that keep weights in files of their own (a text encoder) write them under
        `folder`/<member>, as they do when saved alone (TabularModel.save_files)."""
        saved = False
        for name, member in self.members.items():
            if hasattr(member, "save_files"):
                saved = member.save_files(Path(folder) / name) or saved
        return saved

    def load_files(self, folder: Path) -> None:
        for name, member in self.members.items():
            if hasattr(member, "load_files"):
                member.load_files(Path(folder) / name)

    def describe(self) -> dict[str, Any]:
        """The cost ledger's figures: the members' sizes added up, and who they are."""
        described = {name: m.describe() for name, m in self.members.items()}
        info: dict[str, Any] = {
            "estimator": "WeightedAverage",
            "accelerator": "cpu",
            "interpretable": False,
            "member_families": sorted({m.family for m in self.members.values()}),
            "members": {n: {"weight": self.weights[n], **d} for n, d in described.items()},
        }
        for key in ("parameters", "tree_nodes"):
            if any(key in d for d in described.values()):
                info[key] = int(sum(d.get(key, 0) for d in described.values()))
        return info
