"""The model registry, for people: see what is in use and why, roll back, or override.

    python -m bakeoff.cli.registry status   [--name NAME]
    python -m bakeoff.cli.registry rollback [--name NAME] [--to VERSION] --reason TEXT
    python -m bakeoff.cli.registry promote  [--name NAME] --version VERSION --reason TEXT

The pipeline's `promote` stage registers each run's challenger and applies the promotion
rule. Every move of `champion` is recorded on the versions involved and in the registered
model's `bakeoff.champion_history` tag, with its reason.
"""

from __future__ import annotations

import argparse
import sys

from bakeoff import setup_process
from bakeoff.params import registered_model_name
from bakeoff.reporting import formatting as fmt
from bakeoff.tracking.registry import (
    CHAMPION,
    alias_version,
    history,
    move_champion,
    rollback_target,
)


def versions_table(client, name: str) -> str:
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        tags = mv.tags
        rows.append(
            [
                str(mv.version),
                ",".join(aliases.get(str(mv.version), [])),
                tags.get("bakeoff.model", "?"),
                f"{tags.get('bakeoff.metric', '')} {tags.get('bakeoff.test_score', '')}".strip(),
                tags.get("bakeoff.decision", ""),
            ]
        )
    header = ["version", "aliases", "model", "test score", "decision"]
    return fmt.markdown_table(header, rows, align="rllll")


def main(argv: list[str] | None = None) -> None:
    setup_process()
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

    from bakeoff.tracking import store

    store.connect(args.tracking_uri)
    client = mlflow.MlflowClient()
    name = args.name or registered_model_name()
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
