"""The bake-off's work in one plain process: the baseline the pipeline's time is held to.

The same contestants and configs as `make run` (conf/ composed as `dvc exp run` does), the
same splits, the same work per contestant: the final fit (early stopping on validation),
its test scores and permutation importance, the refits on the same folds; then the
learning curves of the two family bests on the same fractions and draws. No DVC, no
MLflow, no subprocesses, no files: every fit one after another in this process, through
bakeoff's own library (the same code the stages call).

    python benchmarks/plain_bakeoff.py [--set compare.resampling.folds=3 ...]

Prints the seconds and returns them from `run()` (benchmarks/pipeline_time.py calls it).
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from bakeoff.data.features import FeatureSplits
from bakeoff.data.prepare import prepared_splits
from bakeoff.evaluation.importance import DEFAULT_METRIC, permutation_importance
from bakeoff.evaluation.learning_curve import learning_curve
from bakeoff.evaluation.metrics import PRIMARY_METRIC, REPORTED
from bakeoff.evaluation.resampling import resample_scores
from bakeoff.evaluation.scoring import validation_scores
from bakeoff.evaluation.verdict import rank_models, resampled_intervals, summarize
from bakeoff.models.fitting import fit_model
from bakeoff.params import compose_conf, params_from_mapping
from common import ROOT


def contestant(name: str, config: dict, splits: FeatureSplits, params) -> dict[str, Any]:
    """What the contestant stage computes, minus saving, logging and plotting."""
    model, seconds = fit_model(
        config, task=splits.task, train=splits.train, val=splits.val, target=splits.target
    )
    scores = validation_scores(model, splits.test, splits.target, splits.task)
    X, y = splits.test.drop(columns=[splits.target]), splits.test[splits.target]

    def predict(frame):
        import pandas as pd

        out = pd.DataFrame(index=frame.index)
        out["prediction"] = model.predict(frame)
        if splits.task == "classification":
            for i, label in enumerate(model.classes_):
                out[f"proba_{label}"] = model.predict_proba(frame)[:, i]
        return out

    def score(y_true, predictions):
        import numpy as np

        from bakeoff.evaluation import metrics

        if splits.task == "classification":
            proba, classes = metrics.predict_proba_columns(predictions)
            return metrics.classification_metrics(y_true.to_numpy(), proba, np.array(classes))
        return metrics.regression_metrics(
            y_true.to_numpy(float), predictions["prediction"].to_numpy(float)
        )

    config_importance = params.compare.importance
    metric = config_importance.metric or DEFAULT_METRIC[splits.task]
    permutation_importance(
        predict,
        score,
        X,
        y,
        metric=metric,
        repeats=config_importance.repeats,
        seed=params.seed,
        baseline=scores.get(metric),
    )
    resampling = params.compare.resampling
    results = resample_scores(
        config,
        splits,
        resampling,
        val_share=params.split.val_size / (1 - params.split.test_size),
        seed=params.seed,
        n_jobs=1,
    )
    record = {"resamples": results, "ratio": 1 / (resampling.folds - 1)}
    return {
        "model": name,
        "family": model.family,
        **scores,
        "fit_seconds": seconds,
        "cv": resampled_intervals(record, REPORTED[splits.task], params.compare.confidence),
    }


def run(overrides: list[str] | None = None) -> dict[str, Any]:
    params = params_from_mapping(compose_conf(ROOT / "conf", overrides or []))
    start = time.perf_counter()
    parts, card = prepared_splits(params, ROOT)
    splits = FeatureSplits(**parts, task=card["task"], target=card["target"])
    rows, seconds = [], {}
    for name, config in params.models.items():
        begun = time.perf_counter()
        rows.append(contestant(name, config, splits, params))
        seconds[name] = time.perf_counter() - begun
        print(f"{name}: {seconds[name]:.1f} s", flush=True)
    ranked = rank_models(rows, splits.task)
    summary = summarize(ranked, splits.task)
    metric = PRIMARY_METRIC[splits.task][0]
    begun = time.perf_counter()
    for family in ("classical", "deep"):
        best = summary.get(f"best_{family}")
        if best:
            learning_curve(
                params.models[best],
                splits,
                params.compare.learning_curve,
                metric=metric,
                seed=params.seed,
                confidence=params.compare.confidence,
                final_score=next(r[metric] for r in rows if r["model"] == best),
                n_jobs=1,
            )
    seconds["learning_curves"] = time.perf_counter() - begun
    total = time.perf_counter() - start
    print(f"plain bake-off: {total:.1f} s", flush=True)
    return {"total_seconds": total, "seconds": seconds, "best": summary["best_model"]}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], help="Hydra overrides, as -S takes")
    run(parser.parse_args().set)


if __name__ == "__main__":
    main()
