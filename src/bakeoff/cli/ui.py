"""Where to look in the MLflow UI: a link per experiment that opens on its training runs, and
the path to the comparison. `make ui` prints them, then starts `mlflow ui`.

    python -m bakeoff.cli.ui [--port 5000] [--tracking-uri sqlite:///$PWD/mlflow.db]

MLflow 3.17's UI opens every experiment on its GenAI pages (traces) until "Model training"
is picked in the switch at the top left; the links pick it (`workflowType=machine_learning`),
and bakeoff's experiments also carry the `mlflow.experimentKind` tag that MLflow 3 UIs
without the switch read.
"""

from __future__ import annotations

import argparse
import sys

from bakeoff import setup_process

COMPARE_PATH = (
    "experiment → Training runs → expand 'bake-off · <dataset>' → tick the contestants → Compare"
)


def experiment_url(base: str, experiment_id: str) -> str:
    """The experiment's training-runs table in the UI at `base`."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def links(base: str, experiments: list[tuple[str, str]]) -> str:
    """What `make ui` prints: one line per (name, id), then the path to the comparison."""
    if not experiments:
        return f"MLflow UI: {base} (no bake-off recorded yet: `make run` first)\n"
    width = max(len(name) for name, _ in experiments)
    lines = [f"MLflow UI: {base}", ""]
    lines += [f"  {name:<{width}}  {experiment_url(base, id_)}" for name, id_ in experiments]
    lines += ["", f"Compare the contestants: {COMPARE_PATH}.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    setup_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI or the project's")
    args = parser.parse_args(argv)

    import mlflow

    from bakeoff.tracking import store

    uri = store.connect(args.tracking_uri)
    found = mlflow.MlflowClient(uri).search_experiments(filter_string="name != 'Default'")
    experiments = sorted((e.name, e.experiment_id) for e in found)
    sys.stdout.write(links(f"http://{args.host}:{args.port}", experiments))


if __name__ == "__main__":
    main()
