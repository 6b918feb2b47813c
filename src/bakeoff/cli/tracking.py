"""Housekeeping of the MLflow store.

    python -m bakeoff.cli.tracking close-orphans [--experiment NAME]

`close-orphans`: runs left RUNNING by a process that no longer exists (killed with -9, by
the out-of-memory killer, or by a reboot) are ended KILLED, with the reason
(bakeoff.tracking.orphans). The contestant stage does this itself before it trains.
"""

from __future__ import annotations

import argparse
import logging

from bakeoff import setup_process
from bakeoff.params import load_params
from bakeoff.tracking import store
from bakeoff.tracking.orphans import close_orphans

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    setup_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI or the project's")
    commands = parser.add_subparsers(dest="command", required=True)
    close = commands.add_parser("close-orphans", help="end RUNNING runs whose process is gone")
    close.add_argument("--experiment", help="default: the configured dataset's experiment")
    args = parser.parse_args(argv)

    import mlflow

    # The project's params only for what the command line leaves out.
    params = None if args.tracking_uri and args.experiment else load_params()
    store.connect(args.tracking_uri or params.tracking_uri)
    client = mlflow.MlflowClient()
    name = args.experiment or params.data.name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SystemExit(f"no MLflow experiment {name!r} in {mlflow.get_tracking_uri()}")
    closed = close_orphans(client, [experiment.experiment_id])
    log.info("%d orphaned run(s) in experiment %r marked KILLED", len(closed), name)


if __name__ == "__main__":
    main()
