"""The model registry: one registered model per dataset, its versions, and the `champion`
and `challenger` aliases (MLflow's replacement for stages).

    python -m bakeoff.registry status   [--name NAME]
    python -m bakeoff.registry rollback [--name NAME] [--to VERSION] --reason TEXT
    python -m bakeoff.registry promote  [--name NAME] --version VERSION --reason TEXT

The pipeline's `promote` stage registers each run's challenger and applies the promotion
rule; these commands are for people: see what is in use and why, roll back, or override.
Every move of `champion` is recorded on the versions involved and in the registered
model's `bakeoff.champion_history` tag, with its reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from typing import Any

from bakeoff import setup_logging

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "bakeoff.champion_history"
HISTORY_KEPT = 20  # events in the tag (tag values are size-limited); versions keep their own


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def alias_version(client, name: str, alias: str) -> str | None:
    """The version an alias points at, None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


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


def versions_table(client, name: str) -> str:
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = ["version  aliases               model                   metric     decision"]
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        tags = mv.tags
        score = f"{tags.get('bakeoff.metric', '')} {tags.get('bakeoff.test_score', '')}"
        rows.append(
            f"{mv.version:<8} {','.join(aliases.get(str(mv.version), [])):<21} "
            f"{tags.get('bakeoff.model', '?'):<23} {score:<10} {tags.get('bakeoff.decision', '')}"
        )
    return "\n".join(rows)


def default_name() -> str:
    """The configured registered model (params.yaml: promote.registered_model, else the
    dataset's name)."""
    from bakeoff.params import load_params

    return load_params().registered_model


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI or the project's")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("status", "rollback", "promote"):
        sub = commands.add_parser(command)
        sub.add_argument("--name", help="registered model (default: the configured dataset)")
        if command == "rollback":
            sub.add_argument("--to", help="version (default: the champion before this one)")
        if command == "promote":
            sub.add_argument("--version", required=True)
        if command != "status":
            sub.add_argument("--reason", required=True, help="recorded with the change")
    args = parser.parse_args(argv)

    import mlflow

    from bakeoff import tracking

    tracking.connect(args.tracking_uri)
    client = mlflow.MlflowClient()
    name = args.name or default_name()
    if args.command == "status":
        lines = [versions_table(client, name), ""]
        lines += [
            f"{e['at']}  {e['action']:<9} v{e['version']} "
            f"({'was v' + e['previous'] if e['previous'] else 'first champion'}): {e['reason']}"
            for e in history(client, name)
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    current = alias_version(client, name, CHAMPION)
    if args.command == "rollback":
        target = args.to or rollback_target(history(client, name), current)
        if target is None:
            sys.exit(f"{name}: no earlier champion to roll back to; name one with --to")
        if str(target) == current:
            sys.exit(f"{name}: version {target} is already the champion")
        client.get_model_version(name, str(target))  # fails clearly if it does not exist
        move_champion(client, name, str(target), action="rollback", reason=args.reason)
    else:
        client.get_model_version(name, args.version)
        move_champion(client, name, args.version, action="manual", reason=args.reason)
    sys.stdout.write(versions_table(client, name) + "\n")


if __name__ == "__main__":
    main()
