"""Learning curves: does deep learning need more data here?

A model is refitted on nested fractions of the training split (default 10, 25, 50, 100 %),
in `repeats` different nested orders (and model seeds), and scored on the frozen test rows.
Nested: the 25 % rows include the 10 % rows, so a curve shows what more data adds, not what
other data does. Early stopping keeps the full validation split at every size.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation import parallel
from bakeoff.evaluation.metrics import BOUNDS, HIGHER_IS_BETTER
from bakeoff.evaluation.refits import fit_and_score
from bakeoff.evaluation.resampling import reseeded
from bakeoff.evaluation.stats import mean_interval
from bakeoff.params import LearningCurveConfig

log = logging.getLogger(__name__)

MAX_DOUBLINGS = 10  # beyond this an extrapolated catch-up is not worth stating


def nested_order(y: pd.Series, task: str, seed: int) -> np.ndarray:
    """Row positions in an order whose every prefix is a random sample of the rows, and for
    classification holds each class in its share (up to one row) and at least one row of
    every class once it is as long as there are classes: prefixes are nested. (A point
    trained without some class could not early-stop on the validation rows, nor be scored
    on the test rows, of that class.)"""
    rng = np.random.default_rng(seed)
    if task != "classification":
        return rng.permutation(len(y))
    key = np.empty(len(y))
    for label in pd.unique(y):
        where = np.flatnonzero((y == label).to_numpy())
        # The i-th row of a class (in random order) sits at (i + u) / count along the order;
        # its first row ahead of every class's second.
        shuffled = where[rng.permutation(len(where))]
        key[shuffled] = (np.arange(len(where)) + rng.random()) / len(where)
        key[shuffled[0]] -= 1
    return np.argsort(key, kind="stable")


def fraction_rows(fraction: float, total: int, minimum: int) -> int:
    return min(total, max(minimum, math.ceil(fraction * total)))


def rows_for(train: pd.DataFrame, order: np.ndarray, n: int) -> pd.DataFrame:
    """The first `n` rows of `order`; all of them in the training split's own order, so that
    the first draw's full-size fit is the final fit itself (same rows, same order, same
    seed): forests' bootstraps, boosting's internal validation split and networks' batches
    depend on the order, so reusing the final fit's score is exact for every contestant."""
    return train if n == len(train) else train.iloc[order[:n]]


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
            "train": rows_for(train, orders[r], sizes[f]),
            "val": splits.val,
            "scored": splits.test,
            "target": target,
            "column_kinds": splits.column_kinds,
        }
        for r, f in points
    ]
    outcomes = parallel.run_all(fit_and_score, tasks, n_jobs=n_jobs, config=config)
    guarded = {f: 0 for f in curve.fractions}
    for (r, f), refit in zip(points, outcomes, strict=True):
        scores[f][r] = refit.scores[metric]
        if refit.guard:
            log.warning("learning curve, %d rows, repeat %d: %s", sizes[f], r, refit.guard)
            guarded[f] += 1
    in_order = {f: [by_repeat[r] for r in sorted(by_repeat)] for f, by_repeat in scores.items()}
    return [
        {
            "fraction": fraction,
            "train_rows": sizes[fraction],
            "scores": values,
            **mean_interval(values, confidence=confidence, bounds=BOUNDS[metric]),
            # fits (of this point's repeats) a time budget stopped before their own rule
            **({"guarded_fits": guarded[fraction]} if guarded[fraction] else {}),
        }
        for fraction, values in in_order.items()
    ]


def separated(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two points' intervals do not overlap: only then does one lead."""
    return a["low"] > b["high"] or b["low"] > a["high"]


def gain_difference(
    curves: dict[str, list[dict[str, Any]]],
    faster: str,
    slower: str,
    sign: int,
    doublings: float,
    confidence: float,
) -> dict[str, float]:
    """How much more `faster` gains per doubling than `slower` over the last step, with an
    interval: paired over the repeats (the two curves share their nested orders) when each
    point holds two or more scores, else from the four points' intervals (widest case)."""
    f_prev, f_last = curves[faster][-2:]
    s_prev, s_last = curves[slower][-2:]
    scored = [p.get("scores") or [] for p in (f_prev, f_last, s_prev, s_last)]
    if min(map(len, scored)) >= 2 and len({len(x) for x in scored}) == 1:
        fp, fl, sp, sl = (np.asarray(x, dtype=float) for x in scored)
        differences = sign * ((fl - fp) - (sl - sp)) / doublings
        return mean_interval(differences, confidence=confidence)
    mean = sign * ((f_last["mean"] - f_prev["mean"]) - (s_last["mean"] - s_prev["mean"]))
    spread = sum(p["high"] - p["low"] for p in (f_prev, f_last, s_prev, s_last))
    return {
        "mean": mean / doublings,
        "low": (mean - spread) / doublings,
        "high": (mean + spread) / doublings,
    }


def read_trend(
    curves: dict[str, list[dict[str, Any]]],
    families: dict[str, str],
    metric: str,
    confidence: float = 0.95,
    full_size: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Crossovers between the two curves, and whether the last doubling's gains suggest more
    data would change who leads; each stated only where the intervals support it (a lead:
    non-overlapping intervals; a crossover: a lead each way; a trend: a gain difference
    whose interval excludes zero). An extrapolation of two points is only a hint.

    `full_size`: the verdict's paired test of these two models (`stats.paired_test`). At
    100 % of the training rows every repeat trains on the same rows, so that point's
    interval holds only the seeds' spread (none for a deterministic model); a lead there is
    stated only when the paired test over the resamples also finds one."""
    higher = HIGHER_IS_BETTER[metric]
    names = list(curves)
    if len(names) != 2:
        return {"crossovers": [], "statement": "Only one family has a model: nothing to compare."}
    a, b = names
    sign = 1 if higher else -1
    level = f"{confidence:.0%}"
    gaps = [sign * (pa["mean"] - pb["mean"]) for pa, pb in zip(curves[a], curves[b], strict=True)]
    apart = [separated(pa, pb) for pa, pb in zip(curves[a], curves[b], strict=True)]
    rows = [p["train_rows"] for p in curves[a]]
    vetoed = (
        full_size is not None
        and curves[a][-1].get("fraction") == 1.0
        and apart[-1]
        and not full_size["significant"]
    )
    if vetoed:
        apart[-1] = False
    if not any(apart):
        return {
            "crossovers": [],
            "leader": None,
            "within_noise": True,
            "statement": (
                f"The two curves are within noise of each other at every size: their {level} "
                f"intervals overlap from {rows[0]} to {rows[-1]} training rows, so they do not "
                "show that either family does better, or gains more from data, here."
            ),
        }
    leads = [(i, gaps[i] > 0) for i in range(len(gaps)) if apart[i]]
    crossovers = [
        {
            "between_rows": [rows[i], rows[j]],
            "leader_before": a if before else b,
            "leader_after": a if after else b,
        }
        for (i, before), (j, after) in itertools.pairwise(leads)
        if before != after
    ]
    leader, trailer = (a, b) if gaps[-1] >= 0 else (b, a)
    gap = abs(gaps[-1])
    if apart[-1]:
        text = [
            f"At {rows[-1]} training rows {families[leader]} {leader} leads by {gap:.4f} {metric}."
        ]
    elif vetoed:
        text = [
            f"At {rows[-1]} training rows the two are within noise of each other ({leader} is "
            f"ahead by {gap:.4f} {metric} on the test split, but the paired test over the "
            f"resamples finds no significant difference, p = {full_size['p_value']:.2g})."
        ]
    else:
        text = [
            f"At {rows[-1]} training rows the two are within noise of each other ({leader} is "
            f"ahead by {gap:.4f} {metric}, but their {level} intervals overlap)."
        ]
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
    result = {"crossovers": crossovers, "leader": leader if apart[-1] else None}
    if len(rows) < 2 or not apart[-1]:
        return {**result, "statement": " ".join(text)}
    doublings = math.log2(rows[-1] / rows[-2]) or 1.0
    gain = {
        name: sign * (curves[name][-1]["mean"] - curves[name][-2]["mean"]) / doublings
        for name in names
    }
    text.append(
        f"Over the last step ({rows[-2]} to {rows[-1]} rows) each doubling of the data gained "
        f"{gain[leader]:+.4f} for {leader} and {gain[trailer]:+.4f} for {trailer}."
    )
    closing = gain_difference(curves, trailer, leader, sign, doublings, confidence)
    needed = gap / closing["mean"] if closing["low"] > 0 else None
    if gap == 0:
        text.append("The two are level at full size.")
    elif closing["mean"] > 1e-9 and needed is None:  # float noise is not a trend either
        text.append(
            f"{trailer} gains faster in the means, but the difference in gains "
            f"[{closing['low']:+.4f}, {closing['high']:+.4f}] per doubling ({level}) includes "
            "zero: within noise, so the curves do not say whether more data would change who "
            "leads."
        )
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
        **result,
        "statement": " ".join(text),
        "gain_per_doubling": gain,
        "gain_difference": closing,
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
