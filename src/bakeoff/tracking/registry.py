"""The model registry: one registered model per dataset, its versions, and the `champion`
and `challenger` aliases (MLflow's replacement for stages).

The pipeline's `promote` stage registers each run's challenger and applies the promotion
rule (bakeoff.evaluation.promotion); `python -m bakeoff.cli.registry` is for people. Every
move of `champion` is recorded on the versions involved and in the registered model's
`bakeoff.champion_history` tag, with its reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pandas as pd

from bakeoff.evaluation.metrics import PRIMARY_METRIC
from bakeoff.evaluation.promotion import metric_of, paired_bootstrap, row_outcomes
from bakeoff.params import PromoteConfig
from bakeoff.paths import PROMOTION_REPORT

log = logging.getLogger(__name__)

CHAMPION = "champion"

CHALLENGER = "challenger"

HISTORY_TAG = "bakeoff.champion_history"

HISTORY_KEPT = 20  # events in the tag (tag values are size-limited); versions keep their own


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# MLflow's error codes for "no such registered model" (RESOURCE_DOES_NOT_EXIST from the
# SQL and REST stores, NOT_FOUND from newer servers; both HTTP 404). Anything else (a 5xx,
# 403, a timeout) is the store failing, not an answer.
MISSING_MODEL_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


class ChampionIncompatible(Exception):
    """The champion cannot score today's test rows (columns it needs are gone or changed
    kind): the two cannot be compared, which promote reports rather than fails on."""


def alias_version(client, name: str, alias: str) -> str | None:
    """The version an alias points at, None when the model or the alias does not exist.

    The alias is read from the registered model's aliases, so the only error that means
    "none" is the model's own absence; any other store error propagates (a champion must
    never move because the store hiccupped).
    """
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code in MISSING_MODEL_CODES:
            return None
        raise
    version = model.aliases.get(alias)
    return None if version is None else str(version)


def history(client, name: str) -> list[dict[str, Any]]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def move_champion(client, name: str, version: str, *, action: str, reason: str) -> dict[str, Any]:
    """Point `champion` at `version` and record who was replaced, how and why."""
    previous = alias_version(client, name, CHAMPION)
    event = {"at": now(), "action": action, "version": str(version), "previous": previous}
    event["reason"] = reason
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_model_version_tag(name, str(version), f"bakeoff.{action}_at", event["at"])
    client.set_model_version_tag(name, str(version), f"bakeoff.{action}_reason", reason[:4000])
    if previous and previous != str(version):
        client.set_model_version_tag(name, previous, "bakeoff.replaced_at", event["at"])
        client.set_model_version_tag(name, previous, "bakeoff.replaced_by", str(version))
    events = [*history(client, name), event][-HISTORY_KEPT:]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(events))
    log.info("%s: champion -> version %s (%s; was %s): %s", name, version, action, previous, reason)
    return event


def rollback_target(events: list[dict[str, Any]], current: str | None) -> str | None:
    """The champion before the current one: the `previous` of the event that made it champion."""
    for event in reversed(events):
        if event["version"] == current:
            return event.get("previous")
    return None


def register(client, name: str, model: str, row: dict[str, Any], tags: dict[str, str]) -> str:
    """A new version of `name` from the row's logged model (`models:/<model id>`): the version
    links to the LoggedModel, its metrics and its run."""
    import mlflow

    version = mlflow.register_model(row["model_uri"], name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    client.update_model_version(
        name,
        version.version,
        description=f"{model} ({row['family']}), bake-off run {row['run_id']}",
    )
    return str(version.version)


def input_problems(model, X: pd.DataFrame) -> list[str]:
    """Why a loaded pyfunc model cannot score these rows: input columns its signature needs
    that are missing, and values not of the kind it was trained on (bakeoff's own models)."""
    schema = model.metadata.get_input_schema()
    needed = schema.input_names() if schema is not None else []
    problems = [f"column {c!r} is missing" for c in needed if c not in X.columns]
    served = getattr(model.unwrap_python_model(), "served", None)
    if served is not None and hasattr(served.model, "input_problems"):
        problems += [p.line() for p in served.model.input_problems(X) if p.severity == "error"]
    return list(dict.fromkeys(problems))


def load_version(client, name: str, version: str):
    """A registered version as a pyfunc model, located through `client` (its store errors
    propagate: only an incompatible champion is a reason not to compare)."""
    import mlflow

    return mlflow.pyfunc.load_model(client.get_model_version_download_uri(name, version))


def compare_with_champion(
    task: str,
    test: pd.DataFrame,
    target: str,
    models: dict[str, Any],
    config: PromoteConfig,
    seed: int,
) -> dict[str, Any]:
    """Both models' scores on the current test rows and the interval of the difference.

    `models`: the loaded challenger and champion (load_version). Raises ChampionIncompatible
    when the champion cannot read today's columns; anything else raised is a real failure.
    """
    X, y = test.drop(columns=[target]), test[target]
    problems = input_problems(models["champion"], X)
    if problems:
        raise ChampionIncompatible("; ".join(problems[:5]))
    outcomes = {role: row_outcomes(task, y, model.predict(X)) for role, model in models.items()}
    metric, higher = PRIMARY_METRIC[task]
    scores = {role: float(metric_of(task, o)) for role, o in outcomes.items()}
    difference = scores["challenger"] - scores["champion"]
    interval = paired_bootstrap(
        task,
        outcomes["challenger"],
        outcomes["champion"],
        resamples=config.bootstrap,
        confidence=config.confidence,
        seed=seed,
    )
    return {
        "metric": metric,
        "challenger_score": scores["challenger"],
        "champion_score": scores["champion"],
        "improvement": difference if higher else -difference,
        "interval": list(interval),
        "confidence": config.confidence,
        "test_rows": len(test),
    }


def log_decision(run_id: str | None, report: dict[str, Any]) -> None:
    """The decision joins the pipeline's MLflow run (compare started it)."""
    if not run_id:
        return
    import mlflow

    client = mlflow.MlflowClient()
    client.set_tag(run_id, "bakeoff.promotion", report["decision"])
    client.set_tag(run_id, "bakeoff.challenger_version", report["challenger_version"])
    for key in ("challenger_score", "champion_score", "improvement"):
        if report.get(key) is not None:
            client.log_metric(run_id, f"promotion/{key}", float(report[key]))
    client.log_artifact(run_id, str(PROMOTION_REPORT))
