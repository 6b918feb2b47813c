"""Stage `featurize`: the model-agnostic feature steps of `featurize.steps` applied to every
split (bakeoff.data.features). The same steps travel inside every saved model, so a served
model takes raw rows."""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.featurize")

import logging

import pandas as pd

from bakeoff import setup_process
from bakeoff.data.features import apply_steps
from bakeoff.fileio import read_json, write_parquet
from bakeoff.guard import hold_workspace
from bakeoff.params import load_params
from bakeoff.paths import DATA_CARD, SPLITS, features_path, split_path

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    target = read_json(DATA_CARD)["target"]
    for name in SPLITS:
        frame = apply_steps(pd.read_parquet(split_path(name)), params.model_steps, target)
        write_parquet(features_path(name), frame)
    log.info(
        "featurized with %d step(s): %d feature columns",
        len(params.model_steps),
        frame.shape[1] - 1,
    )


if __name__ == "__main__":
    main()
