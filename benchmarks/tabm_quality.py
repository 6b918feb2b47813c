"""TabM at its default (CPU) settings against HistGradientBoosting and the other networks.

Every model exactly as the pipeline builds it (conf/model/*.yaml composed with
`bakeoff.params.compose_conf`, instantiated by `bakeoff.models.build_model`), on the
pipeline's own split of each dataset card (ingest, validate, split 60/20/20, stratified for
classification, seed 42), one model seed, scored on the test split. Fit seconds include the
preprocessing, not the imports. The networks run on `--threads` torch threads (default 1: on
this shared 2-core machine two threads spin against other work); the load average before
each fit is recorded with it.

Usage:  PYTHONPATH=src python benchmarks/tabm_quality.py [--data california_housing adult
            breast_cancer digits] [--models tabm hist_gradient_boosting mlp resnet] [--update]
            [--set models.tabm.arch_type=tabm-mini ...] [--name NAME]
--update keeps the saved tables of the datasets not measured this time; --set composes
Hydra overrides into every model's config (a variant: save it under its own --name).
Adult and California read data/external/{adult.data,california_housing.csv}.
Writes benchmarks/results/tabm_quality.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.prepare import prepared_splits
from bakeoff.models import build_model
from bakeoff.params import compose_conf, params_from_mapping
from common import FILES, RESULTS_DIR, ROOT, save_result

DATASETS = ["california_housing", "adult", "breast_cancer", "digits"]
MODELS = ["tabm", "hist_gradient_boosting", "mlp", "resnet"]

log = logging.getLogger("tabm_quality")


def pipeline_models(card: str, data_dir: Path, overrides: list[str]) -> dict[str, dict]:
    """models.* as the pipeline composes them for this card (file cards read from data_dir)."""
    extra = [f"data={card}"]
    if card in FILES:
        extra.append(f"data.source.path={(data_dir / FILES[card]).resolve()}")
    return compose_conf(ROOT / "conf", [*extra, *overrides])


def card_splits(card: str, data_dir: Path) -> tuple[dict[str, pd.DataFrame], str, str]:
    """Train/val/test frames as the pipeline makes them; task; target."""
    params = params_from_mapping(pipeline_models(card, data_dir, []))
    parts, data_card = prepared_splits(params, ROOT)
    return parts, data_card["task"], data_card["target"]


def with_threads(config: dict[str, Any], threads: int) -> dict[str, Any]:
    if "trainer" not in config:
        return config
    return {**config, "trainer": {**config["trainer"], "num_threads": threads}}


def fit_and_score(
    config: dict[str, Any], parts: dict[str, pd.DataFrame], task: str, target: str
) -> dict[str, Any]:
    """One fit on train (validation for early stopping), scored on test."""
    train, val, test = (parts[k] for k in ("train", "val", "test"))
    model = build_model(config, task)
    load = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(train.drop(columns=target), train[target], val.drop(columns=target), val[target])
    fit_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    pred, truth = model.predict(test.drop(columns=target)), test[target].to_numpy()
    est = model.estimator
    row: dict[str, Any] = {
        "fit_s": round(fit_s, 1),
        "cpu_s": round(cpu_s, 1),
        "load_before": round(load, 1),
    }
    history = getattr(est, "history_", None)
    if history:
        row |= {
            "epochs": len(history),
            "best_epoch": int(est.best_epoch_),
            "cpu_s_per_epoch": round(cpu_s / len(history), 2),
        }
    elif getattr(est, "n_iter_", None) is not None:  # an array for some linear models
        row["iterations"] = int(np.max(est.n_iter_))
    info = model.describe()
    row |= {k: info[k] for k in ("k", "parameters", "tree_nodes") if k in info}
    if hasattr(est, "n_blocks_"):
        row |= {"d_block": est.d_block_, "n_blocks": est.n_blocks_}
    if task == "classification":
        row["test_accuracy"] = round(float((pred == truth).mean()), 4)
    else:
        row["test_rmse"] = round(float(np.sqrt(((pred - truth.astype(float)) ** 2).mean())), 4)
    return row


def kept_results(name: str, redone: list[str]) -> tuple[list[dict], dict]:
    """Tables and raw figures of a saved result, less the datasets measured again."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        return [], {}
    saved = json.loads(path.read_text())
    tables = [t for t in saved["tables"] if t["caption"].split(":")[0] not in redone]
    raw = {card: v for card, v in saved["raw"].items() if card not in redone}
    return tables, raw


def quiet() -> None:
    """Progress lines only; and lightning imported now, so that no fit pays for it."""
    import bakeoff.models.training  # noqa: F401  (what every network's fit imports first)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("bakeoff").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="tabm_quality")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="OVERRIDE", help="Hydra overrides, e.g. a variant"
    )
    parser.add_argument(
        "--update", action="store_true", help="keep the other datasets' tables already saved"
    )
    parser.add_argument("--label", help="what the code measured is (the title says it)")
    args = parser.parse_args()
    quiet()

    tables, raw = kept_results(args.name, args.data) if args.update else ([], {})
    variant = f"with {' '.join(args.set)}" if args.set else ""
    for card in args.data:
        parts, task, target = card_splits(card, args.data_dir)
        # The full line-up composes every tabular model; --models picks among them.
        models = pipeline_models(card, args.data_dir, ["lineup=full", *args.set])["models"]
        rows = []
        for name in args.models:
            row = fit_and_score(with_threads(models[name], args.threads), parts, task, target)
            rows.append({"model": name, **row})
            log.info("%s %s %s", card, name, row)
        metric = "test_accuracy" if task == "classification" else "test_rmse"
        hgb = next((r[metric] for r in rows if r["model"] == "hist_gradient_boosting"), None)
        if hgb is not None:
            for r in rows:
                r["vs_hgb"] = round(
                    r[metric] / hgb if metric == "test_rmse" else r[metric] - hgb, 4
                )
        caption = (
            f"{card}: {len(parts['train'])} training rows, the pipeline's split, seed 42; "
            + ("vs_hgb = RMSE ratio" if metric == "test_rmse" else "vs_hgb = accuracy difference")
            + (f"; {variant}" if variant else "")
        )
        tables.append({"caption": caption, "rows": rows})
        raw[card] = {"models": {name: models[name] for name in args.models}}
    tables.sort(key=lambda table: DATASETS.index(table["caption"].split(":")[0]))
    save_result(
        args.name,
        title="Models at their default (CPU) settings against HistGradientBoosting"
        + (f", {variant}" if variant else "")
        + (f" ({args.label})" if args.label else ""),
        command=f"PYTHONPATH=src python benchmarks/tabm_quality.py {shlex.join(sys.argv[1:])}",
        tables=tables,
        notes=[
            "Default configs (conf/model/*.yaml; a variant: with the overrides in the title), "
            "one model seed (42), test split; networks "
            f"on {args.threads} torch thread(s). fit_s: wall seconds of the fit, preprocessing "
            "included; cpu_s: CPU seconds the process used for it (all its threads: "
            "HistGradientBoosting runs one per core), which other work on the machine inflates "
            "far less than wall time. load_before: the 1-minute load average before the fit "
            "(2 cores: above 2, other work queued for the CPU and fit_s is inflated).",
        ],
        raw=raw,
    )


if __name__ == "__main__":
    main()
