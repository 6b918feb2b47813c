"""Stage `resample` (one per contestant): fit it again on resamples of the data
(bakeoff.evaluation.resampling), so the leaderboard can give intervals and the verdict a
paired test.

    python -m bakeoff.stages.resample <model>
"""

from __future__ import annotations

import logging
import time

from bakeoff import setup_logging
from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.resampling import ratio, resample_scores
from bakeoff.fileio import read_json, write_json
from bakeoff.models.fitting import is_rank_zero
from bakeoff.params import load_model_params
from bakeoff.paths import DATA_CARD, resample_path

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    name, params = load_model_params(argv, __doc__.splitlines()[0])
    resampling = params.compare.resampling
    splits = FeatureSplits.read(read_json(DATA_CARD))
    # The early-stopping share of a fold's training part: validation's share of train+val.
    val_share = params.split.val_size / (1 - params.split.test_size)
    record = {
        "model": name,
        "method": resampling.method,
        "folds": resampling.folds if resampling.method == "cv" else None,
        "repeats": resampling.repeats,
    }
    started = time.perf_counter()
    try:
        results = resample_scores(
            params.models[name],
            splits,
            resampling,
            val_share=val_share,
            seed=params.seed,
            n_jobs=params.compare.n_jobs,
        )
    except Exception as exc:  # the contestant's failure, as in train: the bake-off goes on
        log.error(
            "%s failed on a resample (%s: %s): no interval for it", name, type(exc).__name__, exc
        )
        if is_rank_zero():
            write_json(
                resample_path(name),
                {**record, "status": "failed", "error": f"{type(exc).__name__}: {exc}"},
            )
        return
    if not is_rank_zero():
        return
    write_json(
        resample_path(name),
        {
            **record,
            "status": "done",
            "ratio": ratio(resampling, results),
            "wall_seconds": time.perf_counter() - started,  # fits side by side: < their sum
            "resamples": results,
        },
    )
    log.info(
        "%s: %d resamples in %.1f s (fits %.1f s)",
        name,
        len(results),
        time.perf_counter() - started,
        sum(r["fit_seconds"] for r in results),
    )


if __name__ == "__main__":
    main()
