"""What the contestant stages recorded, read back for the stages that compare them
(ensemble, compare): one leaderboard row per trained contestant, with its resample record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bakeoff.evaluation.cost import cost_ledger
from bakeoff.evaluation.metrics import REPORTED
from bakeoff.evaluation.verdict import resampled_intervals, tuning_text
from bakeoff.fileio import read_json
from bakeoff.params import Params
from bakeoff.paths import evaluation_dir, model_dir, resample_path


@dataclass
class Contestants:
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per trained contestant
    failed: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> error, run
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # finished resamples
    importances: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_resamples(name: str) -> dict[str, Any] | None:
    """The model's resample record when it finished (absent or failed: no interval)."""
    path = resample_path(name)
    record = read_json(path) if path.is_file() else None
    return record if record and record.get("status") == "done" else None


def read_contestants(names: list[str], params: Params, task: str) -> Contestants:
    """Every named contestant's records as the leaderboard needs them."""
    found = Contestants()
    confidence = params.compare.confidence
    for name in names:
        trained = read_json(model_dir(name) / "train.json")
        if trained.get("status") != "trained":
            if trained.get("status") == "failed":
                found.failed[name] = {"error": trained["error"], "run_id": trained["run_id"]}
            continue
        scores = read_json(evaluation_dir(name) / "metrics.json")
        record = read_resamples(name)
        if record:
            found.records[name] = record
        found.importances[name] = read_json(evaluation_dir(name) / "importance.json")
        found.rows.append(
            {
                "model": name,
                "family": trained["family"],
                "run_id": trained["run_id"],
                "model_uri": trained["model_uri"],
                "tuning": tuning_text(params.tuning.get(name)),
                "interpretable": bool(trained.get("interpretable")),
                **scores,
                "cv": resampled_intervals(record, REPORTED[task], confidence) if record else {},
                "cost": cost_ledger(trained, scores, record, params.tuning.get(name)),
            }
        )
    return found
