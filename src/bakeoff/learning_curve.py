"""Stage `learning_curve`: does deep learning need more data here?

    python -m bakeoff.learning_curve

Each family's best model (as compare chose it) is refitted on nested fractions of the
training split (default 10, 25, 50, 100 %), in `repeats` different nested orders (and model
seeds), and scored on the frozen test rows. Nested: the 25 % rows include the 10 % rows, so
a curve shows what more data adds, not what other data does. Early stopping keeps the full
validation split at every size. The first order's 100 % point is the final model itself
(evaluate's test score); the other fits run side by side (`compare.n_jobs`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from bakeoff import parallel, setup_logging
from bakeoff.io import read_json, write_json, write_text
from bakeoff.metrics import BOUNDS, HIGHER_IS_BETTER
from bakeoff.params import LearningCurveConfig, load_params
from bakeoff.paths import (
    DATA_CARD,
    LEADERBOARD_JSON,
    LEARNING_CURVE_CSV,
    LEARNING_CURVE_JSON,
    LEARNING_CURVE_PLOT,
)
from bakeoff.resample import reseeded
from bakeoff.stats import mean_interval
from bakeoff.train import FeatureSplits, fit_and_score

log = logging.getLogger(__name__)

MAX_DOUBLINGS = 10  # beyond this an extrapolated catch-up is not worth stating


def nested_order(y: pd.Series, task: str, seed: int) -> np.ndarray:
    """Row positions in an order whose every prefix is a random sample of the rows, and for
    classification holds each class in its share (up to one row): prefixes are nested."""
    rng = np.random.default_rng(seed)
    if task != "classification":
        return rng.permutation(len(y))
    key = np.empty(len(y))
    for label in pd.unique(y):
        where = np.flatnonzero((y == label).to_numpy())
        # The i-th row of a class (in random order) sits at (i + u) / count along the order.
        key[where[rng.permutation(len(where))]] = (np.arange(len(where)) + rng.random()) / len(
            where
        )
    return np.argsort(key, kind="stable")


def fraction_rows(fraction: float, total: int, minimum: int) -> int:
    return min(total, max(minimum, math.ceil(fraction * total)))


def learning_curve(
    config: dict[str, Any],
    splits: FeatureSplits,
    curve: LearningCurveConfig,
    *,
    metric: str,
    seed: int,
    confidence: float,
    final_score: float | None = None,
    n_jobs: int | None = 1,
) -> list[dict[str, Any]]:
    """One point per fraction: training rows, the test scores of each repeat, mean and interval.

    `final_score`, the final model's test score, is the first repeat's 100 % point: that fit
    (all the training rows, seed `seed`) has been made already and is not made again. The
    other fits run `n_jobs` at once, the largest first.
    """
    train, task, target = splits.train, splits.task, splits.target
    classes = train[target].nunique() if task == "classification" else 1
    sizes = {f: fraction_rows(f, len(train), 2 * classes) for f in curve.fractions}
    orders = [nested_order(train[target], task, seed + r) for r in range(curve.repeats)]
    scores: dict[float, dict[int, float]] = {f: {} for f in curve.fractions}
    if final_score is not None and 1.0 in sizes:
        scores[1.0][0] = final_score
    points = sorted(
        ((r, f) for r in range(curve.repeats) for f in curve.fractions if r not in scores[f]),
        key=lambda point: -sizes[point[1]],
    )
    tasks = [
        {
            "config": reseeded(config, seed + r),
            "task": task,
            "train": train.iloc[orders[r][: sizes[f]]],
            "val": splits.val,
            "scored": splits.test,
            "target": target,
            "column_kinds": splits.column_kinds,
        }
        for r, f in points
    ]
    outcomes = parallel.run_all(fit_and_score, tasks, n_jobs=n_jobs, config=config)
    for (r, f), (score, _) in zip(points, outcomes, strict=True):
        scores[f][r] = score[metric]
    in_order = {f: [by_repeat[r] for r in sorted(by_repeat)] for f, by_repeat in scores.items()}
    return [
        {
            "fraction": fraction,
            "train_rows": sizes[fraction],
            "scores": values,
            **mean_interval(values, confidence=confidence, bounds=BOUNDS[metric]),
        }
        for fraction, values in in_order.items()
    ]


def read_trend(
    curves: dict[str, list[dict[str, Any]]], families: dict[str, str], metric: str
) -> dict[str, Any]:
    """Crossovers between the two curves, and whether the last doubling's gains suggest more
    data would change who leads. An extrapolation of two points is only a hint."""
    higher = HIGHER_IS_BETTER[metric]
    names = list(curves)
    if len(names) != 2:
        return {"crossovers": [], "statement": "Only one family has a model: nothing to compare."}
    a, b = names
    sign = 1 if higher else -1
    gaps = [sign * (pa["mean"] - pb["mean"]) for pa, pb in zip(curves[a], curves[b], strict=True)]
    rows = [p["train_rows"] for p in curves[a]]
    crossovers = [
        {
            "between_rows": [rows[i], rows[i + 1]],
            "leader_before": a if gaps[i] > 0 else b,
            "leader_after": a if gaps[i + 1] > 0 else b,
        }
        for i in range(len(gaps) - 1)
        if gaps[i] * gaps[i + 1] < 0
    ]
    leader, trailer = (a, b) if gaps[-1] >= 0 else (b, a)
    gap = abs(gaps[-1])
    text = [f"At {rows[-1]} training rows {families[leader]} {leader} leads by {gap:.4f} {metric}."]
    if crossovers:
        text.append(
            "The curves cross: "
            + "; ".join(
                f"between {c['between_rows'][0]} and {c['between_rows'][1]} rows "
                f"{c['leader_after']} overtakes {c['leader_before']}"
                for c in crossovers
            )
            + "."
        )
    if len(rows) < 2:
        return {"crossovers": crossovers, "statement": " ".join(text), "leader": leader}
    doublings = math.log2(rows[-1] / rows[-2]) or 1.0
    gain = {
        name: sign * (curves[name][-1]["mean"] - curves[name][-2]["mean"]) / doublings
        for name in names
    }
    text.append(
        f"Over the last step ({rows[-2]} to {rows[-1]} rows) each doubling of the data gained "
        f"{gain[leader]:+.4f} for {leader} and {gain[trailer]:+.4f} for {trailer}."
    )
    closing = gain[trailer] - gain[leader]
    needed = gap / closing if closing > 1e-9 else None  # float noise is not a trend
    if gap == 0:
        text.append("The two are level at full size.")
    elif needed is not None and needed > MAX_DOUBLINGS:
        text.append(
            f"{trailer} gains a little faster, but at that rate it would need more than "
            f"{MAX_DOUBLINGS} doublings of the data ({2**MAX_DOUBLINGS:,}x) to catch up, so "
            "more data is unlikely to change who leads."
        )
    elif needed is not None:
        text.append(
            f"{trailer} gains faster: if that went on, it would catch up after about "
            f"{needed:.1f} more doubling(s) (~{rows[-1] * 2**needed:,.0f} training rows), so "
            "more data could change the verdict."
        )
    else:
        text.append(
            f"{trailer} is not gaining faster, so more data is unlikely to change who leads."
        )
    text.append("This extrapolates a short trend: a hint, not a forecast.")
    return {
        "crossovers": crossovers,
        "statement": " ".join(text),
        "leader": leader,
        "gain_per_doubling": gain,
        "doublings_to_close": needed,
    }


def curve_table(curves: dict[str, list[dict[str, Any]]], families: dict[str, str]) -> pd.DataFrame:
    """Wide rows for `dvc plots` (x: train_rows; y: the `classical` and `deep` means)."""
    frame = None
    for name, points in curves.items():
        family = families[name]
        part = pd.DataFrame(
            {
                "fraction": [p["fraction"] for p in points],
                "train_rows": [p["train_rows"] for p in points],
                family: [p["mean"] for p in points],
                f"{family}_low": [p["low"] for p in points],
                f"{family}_high": [p["high"] for p in points],
            }
        )
        frame = part if frame is None else frame.merge(part, on=["fraction", "train_rows"])
    return frame


def main() -> None:
    setup_logging()
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
            params.models[name],
            splits,
            params.compare.learning_curve,
            metric=metric,
            seed=params.seed,
            confidence=params.compare.confidence,
            final_score=board["models"][name][metric],
            n_jobs=params.compare.n_jobs,
        )
        log.info("%s: %s", name, [(p["train_rows"], round(p["mean"], 4)) for p in curves[name]])
    trend = read_trend(curves, chosen, metric)
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
    from bakeoff import plots

    plots.learning_curve_plot(curves, chosen, metric, trend["crossovers"], LEARNING_CURVE_PLOT)
    log.info("%s", trend["statement"])


if __name__ == "__main__":
    main()
