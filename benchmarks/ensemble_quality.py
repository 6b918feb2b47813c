"""The ensemble contestant on real tables: the best classical and the best deep model of the
default line-up (HistGradientBoosting and TabM) averaged with a weight fitted on validation
predictions, against the better of the two alone, on the test split.

Every model as the pipeline builds it (default configs, the pipeline's split of the card,
seed 42), the weight by the ensemble stage's own `fit_weights` and `blend`. "The better of the
two" is chosen on validation loss, as the weight is: the test rows only score. The interval
is a paired bootstrap over the test rows (2,000 resamples of the same rows for both): it
measures which test rows happened to be drawn, not the spread between refits that the
pipeline's resampled interval also holds, so it is the narrower of the two.

Usage:  PYTHONPATH=src python benchmarks/ensemble_quality.py [--data california_housing adult]
            [--threads 2]
Reads data/external/{california_housing.csv,adult.data}. Writes
benchmarks/results/ensemble_quality.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bakeoff.evaluation.ensemble import blend, fit_weights, loss
from bakeoff.models import build_model
from bakeoff.models.tabular import prediction_frame
from common import ROOT, paired_bootstrap, per_row, save_result, score
from tabm_quality import card_splits, pipeline_models, quiet, with_threads

DATASETS = ["california_housing", "adult"]
MEMBERS = ("hist_gradient_boosting", "tabm")  # the default line-up's family bests on both

log = logging.getLogger("ensemble_quality")


def fitted(config: dict[str, Any], parts: dict[str, pd.DataFrame], task: str, target: str):
    train, val = parts["train"], parts["val"]
    model = build_model(config, task)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    model.fit(train.drop(columns=target), train[target], val.drop(columns=target), val[target])
    return model, round(time.perf_counter() - start, 1), round(load, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=DATASETS, choices=[*DATASETS, "breast_cancer"])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    quiet()

    tables, raw = [], {}
    for card in args.data:
        parts, task, target = card_splits(card, args.data_dir)
        models = pipeline_models(card, args.data_dir, [])["models"]
        y_val, truth = parts["val"][target], parts["test"][target].to_numpy()
        val_frames, test_frames, rows = {}, {}, []
        for name in MEMBERS:
            model, fit_s, load = fitted(
                with_threads(models[name], args.threads), parts, task, target
            )
            val_frames[name] = prediction_frame(model, parts["val"].drop(columns=target))
            test_frames[name] = prediction_frame(model, parts["test"].drop(columns=target))
            values = per_row(test_frames[name], truth, task)
            info = model.describe()
            rows.append(
                {
                    "model": name,
                    "test": round(score(values, task), 4),
                    "val_loss": round(loss(val_frames[name], y_val, task), 4),
                    "fit_s": fit_s,
                    "load_before": load,
                    **{k: info[k] for k in ("k", "parameters") if k in info},
                }
            )
            log.info("%s %s %s", card, name, rows[-1])
        weights = fit_weights(val_frames, y_val, task)
        ensemble = per_row(blend(test_frames, weights, task), truth, task)
        better = min(MEMBERS, key=lambda n: loss(val_frames[n], y_val, task))
        test = paired_bootstrap(ensemble, per_row(test_frames[better], truth, task), task)
        rows.append(
            {
                "model": "ensemble",
                "test": round(score(ensemble, task), 4),
                "weights": {n: round(w, 2) for n, w in weights.items()},
                "vs_better_alone": better,
                **test,
            }
        )
        log.info("%s ensemble %s", card, rows[-1])
        metric = "accuracy" if task == "classification" else "RMSE"
        tables.append(
            {
                "caption": (
                    f"{card}: test {metric}, {len(parts['test'])} test rows; gain: the "
                    f"ensemble against {better} alone (positive: the ensemble is better), "
                    "95% paired bootstrap interval over the test rows"
                ),
                "rows": rows,
            }
        )
        raw[card] = {"models": {n: models[n] for n in MEMBERS}, "weights": weights}
    save_result(
        "ensemble_quality",
        title="The ensemble of the family bests against the better one alone",
        command=" ".join(["PYTHONPATH=src python benchmarks/ensemble_quality.py", *sys.argv[1:]]),
        tables=tables,
        notes=[
            "Default configs, the pipeline's split (seed 42), one model seed; networks on "
            f"{args.threads} torch thread(s). The weight and the better member alone are "
            "chosen on validation loss; the test rows only score. The interval resamples the "
            "test rows only (not refits), so it is narrower than the pipeline's resampled "
            "interval; a gain whose interval holds 0 is within noise.",
        ],
        raw=raw,
    )


if __name__ == "__main__":
    main()
