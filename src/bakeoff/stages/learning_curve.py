"""Stage `learning_curve`: does deep learning need more data here?

    python -m bakeoff.stages.learning_curve

Each family's best model (as compare chose it) is refitted on nested fractions of the
training split (bakeoff.evaluation.learning_curve) and scored on the frozen test rows. The
first order's 100 % point is the final model itself (evaluate's test score); the other fits
run side by side (`compare.n_jobs`).
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.learning_curve")

import logging

from bakeoff import setup_process
from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation.learning_curve import curve_table, learning_curve, read_trend
from bakeoff.fileio import read_json, write_json, write_text
from bakeoff.guard import hold_workspace
from bakeoff.models.fitting import refit_config
from bakeoff.params import load_params
from bakeoff.paths import (
    DATA_CARD,
    LEADERBOARD_JSON,
    LEARNING_CURVE_CSV,
    LEARNING_CURVE_JSON,
    LEARNING_CURVE_PLOT,
)

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    board = read_json(LEADERBOARD_JSON)
    metric = board["metric"]
    splits = FeatureSplits.read(read_json(DATA_CARD))
    chosen = {
        board[f"best_{family}"]: family
        for family in ("classical", "deep")
        if board.get(f"best_{family}")
    }
    curves = {}
    for name in chosen:
        curves[name] = learning_curve(
            refit_config(params.models[name], len(splits.train)),
            splits,
            params.compare.learning_curve,
            metric=metric,
            seed=params.seed,
            confidence=params.compare.confidence,
            final_score=board["models"][name][metric],
            n_jobs=params.compare.n_jobs,
        )
        log.info("%s: %s", name, [(p["train_rows"], round(p["mean"], 4)) for p in curves[name]])
    verdict = board.get("verdict") or {}
    same_pair = {verdict.get("classical"), verdict.get("deep")} == set(curves)
    trend = read_trend(
        curves, chosen, metric, params.compare.confidence, verdict if same_pair else None
    )
    write_json(
        LEARNING_CURVE_JSON,
        {
            "metric": metric,
            "scored_on": "test",
            "repeats": params.compare.learning_curve.repeats,
            "confidence": params.compare.confidence,
            "models": {name: {"family": chosen[name], "points": curves[name]} for name in curves},
            **trend,
        },
    )
    write_text(LEARNING_CURVE_CSV, curve_table(curves, chosen).to_csv(index=False))
    # matplotlib only now: the curves are computed first
    from bakeoff.reporting.plots import learning_curve_plot

    learning_curve_plot(
        curves,
        chosen,
        metric,
        trend["crossovers"],
        LEARNING_CURVE_PLOT,
        confidence=params.compare.confidence,
    )
    log.info("%s", trend["statement"])


if __name__ == "__main__":
    main()
