"""Stage `train` (one per contestant, DVC's matrix): fit it and log it to MLflow.

    python -m bakeoff.stages.train <model>       # <model>: a key of `models` in params.yaml

A contestant that fails to train is recorded as failed (its MLflow run FAILED, with the
reason) and the bake-off goes on without it.
"""

from __future__ import annotations

import logging
import signal

import pandas as pd

from bakeoff import setup_logging
from bakeoff.fileio import read_json, write_json
from bakeoff.models.fitting import with_checkpoints
from bakeoff.params import load_model_params
from bakeoff.paths import DATA_CARD, features_path, model_dir
from bakeoff.tracking.runs import TrainingFailed, train_and_log

log = logging.getLogger(__name__)


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    # SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C does: KILLED, not RUNNING.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        train_and_log(
            params,
            name,
            with_checkpoints(params.models[name], params.data.name, name),
            card=read_json(DATA_CARD),
            train=pd.read_parquet(features_path("train")),
            val=pd.read_parquet(features_path("val")),
            out=model_dir(name),
        )
    except TrainingFailed as failure:  # raised on rank 0 only
        # One contestant failing must not lose the others: record it, let the bake-off go on.
        log.error("%s; the bake-off goes on without it", failure)
        write_json(
            model_dir(name) / "train.json",
            {
                "model": name,
                "status": "failed",
                "error": failure.reason,
                "run_id": failure.run_id,
                "model_uri": None,
            },
        )


if __name__ == "__main__":
    main()
