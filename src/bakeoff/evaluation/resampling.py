"""Refits of a contestant on resamples of the data, for the leaderboard's intervals and the
verdict's paired test.

method `cv` (default): repeated k-fold (stratified for classification) over train+validation.
Each fold's training part is split again into fit and early-stopping rows in the pipeline's
own proportions, so every fit sees data as the final fit does; the held-out fold scores it.
Every model gets the same folds (same rows, same seed), which makes the scores paired.
method `seeds`: the final fit's split, refitted with new seeds and scored on the test split;
its interval covers training randomness only, not the choice of rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, train_test_split

from bakeoff.data.features import FeatureSplits
from bakeoff.evaluation import parallel
from bakeoff.evaluation.refits import fit_and_score
from bakeoff.params import ResamplingConfig

log = logging.getLogger(__name__)


def reseeded(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The model's config with its own randomness (`random_state`) drawn from `seed`."""
    return {**config, "random_state": seed} if "random_state" in config else config


def rows_of_small_classes(y: pd.Series, task: str, minimum: int) -> np.ndarray:
    """Which rows belong to a class of fewer than `minimum` rows (none for regression):
    rows a split must keep on its training side, or some fit would lack their class."""
    if task != "classification":
        return np.zeros(len(y), dtype=bool)
    counts = y.value_counts()
    return y.isin(counts[counts < minimum].index).to_numpy()


def cv_folds(
    y: pd.Series, task: str, folds: int, repeats: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) row positions; stratified when every class fills every fold.

    The rows of a class with fewer rows than folds are in every fold's training rows and
    never held out: held out, a fold would have to score a class its model never saw (and a
    network could not early-stop on it). The other rows are folded as they would be without
    them."""
    positions = np.arange(len(y))
    always = rows_of_small_classes(y, task, folds)
    if always.all():  # no class fills the folds: the rows are folded as they come
        always[:] = False
        log.warning("every class has fewer rows than the %d folds", folds)
    elif always.any():
        log.warning(
            "class(es) %s have fewer rows than the %d folds: their %d row(s) are in every "
            "fold's training rows and never held out",
            ", ".join(map(repr, pd.unique(y[always]))),
            folds,
            int(always.sum()),
        )
    free = positions[~always]
    stratify = task == "classification" and y.iloc[free].value_counts().min() >= folds
    splitter = (
        RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        if stratify
        else RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        if repeats > 1
        else KFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    for fit, held_out in splitter.split(np.zeros(len(free)), y.iloc[free]):
        yield np.sort(np.concatenate([free[fit], positions[always]])), free[held_out]


def split_off_validation(
    frame: pd.DataFrame, target: str, task: str, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit rows and early-stopping rows, stratified when the classes allow it. A class of a
    single row stays in the fit rows: a network cannot early-stop on a class it has not
    trained on."""
    if task != "classification":
        return train_test_split(frame, test_size=share, random_state=seed)
    single = rows_of_small_classes(frame[target], task, 2)
    rest = frame[~single]
    fit, val = train_test_split(rest, test_size=share, random_state=seed, stratify=rest[target])
    return (pd.concat([fit, frame[single]]) if single.any() else fit), val


def fingerprint(positions: np.ndarray) -> str:
    """Names a resample's held-out rows, so compare can check two models saw the same ones."""
    return hashlib.sha256(np.sort(positions).astype(np.int64).tobytes()).hexdigest()[:16]


def resample_scores(
    config: dict[str, Any],
    splits: FeatureSplits,
    resampling: ResamplingConfig,
    *,
    val_share: float,
    seed: int,
    n_jobs: int | None = 1,
) -> list[dict[str, Any]]:
    """Fit and score the model once per resample, up to `n_jobs` at once (parallel.run_all);
    one dict of scores (and sizes) each, in resample order."""
    results, _ = resample_with_predictions(
        config, splits, resampling, val_share=val_share, seed=seed, n_jobs=n_jobs, keep=False
    )
    return results


def resample_with_predictions(
    config: dict[str, Any],
    splits: FeatureSplits,
    resampling: ResamplingConfig,
    *,
    val_share: float,
    seed: int,
    n_jobs: int | None = 1,
    keep: bool = True,
) -> tuple[list[dict[str, Any]], pd.DataFrame | None]:
    """`resample_scores`, and with `keep` every refit's predictions on its early-stopping rows
    (`part` "val") and held-out rows ("held_out"): one frame, with the resample's number and
    each row's label in the frame the rows came from (`row`)."""
    task, target = splits.task, splits.target
    if resampling.method == "seeds":
        tasks = [
            {
                "config": reseeded(config, seed + 1 + i),
                "train": splits.train,
                "val": splits.val,
                "scored": splits.test,
            }
            for i in range(resampling.repeats)
        ]
        sizes = [
            {
                "train_rows": len(splits.train),
                "fit_rows": len(splits.train),
                "test_rows": len(splits.test),
                "held_out": "test",
            }
        ] * len(tasks)
    else:
        pool = pd.concat([splits.train, splits.val], ignore_index=True)
        tasks, sizes = [], []
        folds = cv_folds(pool[target], task, resampling.folds, resampling.repeats, seed)
        for i, (inside, held_out) in enumerate(folds):
            fit, early = split_off_validation(pool.iloc[inside], target, task, val_share, seed + i)
            tasks.append(
                {"config": config, "train": fit, "val": early, "scored": pool.iloc[held_out]}
            )
            sizes.append(
                {
                    "train_rows": len(inside),  # fit + early-stopping rows
                    "fit_rows": len(fit),
                    "test_rows": len(held_out),
                    "held_out": fingerprint(held_out),
                }
            )
    outcomes = parallel.run_all(
        fit_and_score,
        [
            {
                **t,
                "task": task,
                "target": target,
                "keep_predictions": keep,
                "column_kinds": splits.column_kinds,
            }
            for t in tasks
        ],
        n_jobs=n_jobs,
        config=config,
    )
    results, kept = [], []
    for i, (size, refit) in enumerate(zip(sizes, outcomes, strict=True)):
        guard = {"guard": refit.guard} if refit.guard else {}
        results.append(
            {"resample": i, **size, "fit_seconds": refit.fit_seconds, **refit.scores, **guard}
        )
        log.info("resample %d: %s", i, {k: round(v, 4) for k, v in refit.scores.items()})
        if refit.guard:
            log.warning("resample %d: %s", i, refit.guard)
        if keep:
            for part, frame in refit.frames.items():
                kept.append(frame.assign(resample=i, part=part).rename_axis("row").reset_index())
    return results, pd.concat(kept, ignore_index=True) if keep else None


def ratio(resampling: ResamplingConfig, results: list[dict[str, Any]]) -> float:
    """n_test / n_train for the Nadeau-Bengio correction; 0 for seeds (one fixed split)."""
    if resampling.method == "seeds":
        return 0.0
    return float(np.mean([r["test_rows"] / r["train_rows"] for r in results]))
