"""The pipeline's data stages in memory: ingest -> validate -> split -> featurize steps.

For benchmarks and tests that need the splits a dataset card gives, exactly as `dvc repro`
makes them, without running DVC.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from bakeoff.data.features import apply_steps
from bakeoff.data.ingestion import ingest
from bakeoff.data.sources import read_source
from bakeoff.data.splitting import duplicate_documents, split_frame
from bakeoff.data.validation import validate
from bakeoff.params import Params
from bakeoff.problems import DataError, errors

log = logging.getLogger(__name__)


def prepared_splits(params: Params, root: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    """{"train", "val", "test"} featurized frames and the validated data card.

    Raises DataError with every error ingest or validate found.
    """
    frame, card, problems = ingest(read_source(params.data, root), params.data)
    if not errors(problems):
        frame, card, more = validate(frame, card, params)
        problems += more
    if errors(problems):
        raise DataError(errors(problems))
    target = card["target"]
    parts = split_frame(
        frame,
        target=target,
        task=card["task"],
        config=params.split,
        seed=params.seed,
        key=params.data.key,
        batches=card.get("batches"),  # split.key batch_row: as the split stage draws them
        file=params.data.source_file,
    )
    text = [c for c, kind in card["features"].items() if kind == "text"]
    for problem in duplicate_documents(parts, text):
        log.warning("%s", problem.line())
    return {
        name: apply_steps(part, params.model_steps, target) for name, part in parts.items()
    }, card
