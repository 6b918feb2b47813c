"""Do LightGBM, XGBoost or CatBoost beat the HistGradientBoosting bakeoff ships?

HistGradientBoosting exactly as the pipeline builds it (`bakeoff.models.classical.
hist_gradient_boosting` with the hyperparameters of conf/model/hist_gradient_boosting.yaml,
fit through TabularModel with the validation split for early stopping) against LightGBM,
XGBoost (hist, native categoricals) and CatBoost (native cat_features) at comparable
settings: learning rate 0.05, up to 2000 rounds, early stopping after 30 rounds without
improvement on the validation split, otherwise library defaults, 2 threads. They get the
same rows, categorical columns as pandas `category` (strings for CatBoost), numerics as
float. Datasets: Adult (classification: test accuracy and ROC-AUC) and California housing
(regression, target in $100k: test RMSE). The tables go through the pipeline's data stages
in memory (bakeoff.data.prepare: ingest, validate, split 60/20/20, stratified for
classification, seed 42). Several model seeds show how much of a gap is noise; fit seconds
include each library's own data handling.

Usage:  PYTHONPATH=src python benchmarks/gbdt_libraries.py [--data-dir DIR]
            [--libraries hgb lightgbm xgboost catboost] [--seeds 42 43 44]
DIR holds adult.data and california_housing.csv (default: data/external, as the cards).
Needs `pip install lightgbm xgboost catboost` (not dependencies of bakeoff).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bakeoff.models.classical import hist_gradient_boosting
from bakeoff.params import compose_conf
from common import FILES, ROOT, load_splits

RESULTS = Path(__file__).parent / "results" / "gbdt_libraries.json"
LIBRARIES = {
    "hgb": "scikit-learn",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "catboost": "catboost",
}
LR, ROUNDS, PATIENCE, THREADS = 0.05, 2000, 30, 2


def hgb_hyperparameters() -> dict[str, Any]:
    """models.hist_gradient_boosting as the pipeline composes it, minus target and seed."""
    config = compose_conf(ROOT / "conf", [])["models"]["hist_gradient_boosting"]
    config.pop("_target_")
    config.pop("random_state")
    return config


def native_frames(parts: dict[str, pd.DataFrame], target: str):
    """X per split with categoricals as `category` (categories from train), numerics float."""
    train = parts["train"].drop(columns=target)
    categorical = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]
    dtypes = {c: pd.CategoricalDtype(sorted(train[c].dropna().unique())) for c in categorical}
    out = {}
    for name, frame in parts.items():
        X = frame.drop(columns=target)
        out[name] = X.astype({c: dtypes.get(c, "float64") for c in X.columns})
    return out, categorical


def fit_library(library: str, task: str, X: dict, y: dict, cats: list[str], seed: int):
    """Fit one library on train with early stopping on val; returns (model, rounds used)."""
    classify = task == "classification"
    common = {"learning_rate": LR, "n_estimators": ROUNDS, "random_state": seed}
    if library == "lightgbm":
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
        model = cls(**common, n_jobs=THREADS, verbose=-1)
        stop = [lgb.early_stopping(PATIENCE, verbose=False)]
        model.fit(X["train"], y["train"], eval_set=[(X["val"], y["val"])], callbacks=stop)
        return model, model.best_iteration_
    if library == "xgboost":
        import xgboost as xgb

        cls = xgb.XGBClassifier if classify else xgb.XGBRegressor
        model = cls(
            **common,
            n_jobs=THREADS,
            tree_method="hist",
            enable_categorical=True,
            early_stopping_rounds=PATIENCE,
        )
        model.fit(X["train"], y["train"], eval_set=[(X["val"], y["val"])], verbose=False)
        return model, model.best_iteration + 1
    if library == "catboost":
        import catboost as cb

        cls = cb.CatBoostClassifier if classify else cb.CatBoostRegressor
        model = cls(
            learning_rate=LR,
            iterations=ROUNDS,
            random_seed=seed,
            thread_count=THREADS,
            early_stopping_rounds=PATIENCE,
            cat_features=cats,
            verbose=False,
            allow_writing_files=False,
        )
        model.fit(X["train"], y["train"], eval_set=(X["val"], y["val"]))
        return model, model.get_best_iteration() + 1
    raise ValueError(f"unknown library {library!r}")


def run_one(library: str, parts, task: str, target: str, hyper, seed: int) -> dict[str, Any]:
    classes = np.unique(parts["train"][target]) if task == "classification" else None
    if library == "hgb":
        train, val, test = (parts[k] for k in ("train", "val", "test"))
        model = hist_gradient_boosting(task, random_state=seed, **hyper)
        start = time.perf_counter()
        model.fit(train.drop(columns=target), train[target], val.drop(columns=target), val[target])
        fit_s = time.perf_counter() - start
        X_test, rounds = test.drop(columns=target), model.estimator.n_iter_
        y_test = test[target].to_numpy()
        assert classes is None or list(model.classes_) == list(classes)
    else:
        X, cats = native_frames(parts, target)
        if library == "catboost":  # native cat_features: strings, missing as its own value
            X = {
                k: v.assign(**{c: v[c].astype(object).fillna("<NA>") for c in cats})
                for k, v in X.items()
            }
        y = {k: v[target].to_numpy() for k, v in parts.items()}
        if classes is not None:  # class indices in sorted order, as the classes_ of HGB
            y = {k: np.searchsorted(classes, v) for k, v in y.items()}
        start = time.perf_counter()
        model, rounds = fit_library(library, task, X, y, cats, seed)
        fit_s = time.perf_counter() - start
        X_test, y_test = X["test"], y["test"]
    result: dict[str, Any] = {"seed": seed, "fit_s": round(fit_s, 2), "rounds": int(rounds)}
    if task == "classification":
        proba = model.predict_proba(X_test)
        pred = np.argmax(proba, axis=1)
        truth = np.searchsorted(classes, y_test) if library == "hgb" else y_test
        result["test_accuracy"] = round(float((pred == truth).mean()), 4)
        result["test_roc_auc"] = round(float(roc_auc_score(truth, proba[:, 1])), 4)
    else:
        pred = np.asarray(model.predict(X_test), dtype=float)
        result["test_rmse"] = round(float(np.sqrt(((pred - y_test) ** 2).mean())), 4)
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in ("test_accuracy", "test_roc_auc", "test_rmse", "fit_s", "rounds")]
    out = {}
    for k in (k for k in keys if k in runs[0]):
        values = [r[k] for r in runs]
        out[f"mean_{k}"] = round(statistics.mean(values), 4)
        if k.startswith("test_"):
            out[f"std_{k}"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


def installed_mb(dist_name: str) -> float:
    """Size on disk of an installed distribution's files (as `pip show -f` lists them)."""
    dist = metadata.distribution(dist_name)
    files = [f.locate() for f in dist.files or []]
    return round(sum(p.stat().st_size for p in files if p.is_file()) / 2**20, 1)


def install_footprint(library: str) -> dict[str, Any]:
    """Version and size of a library, plus its required (non-extra) dependencies."""
    dist = metadata.distribution(LIBRARIES[library])
    deps = {}
    for req in dist.requires or []:
        name = req.split(";")[0].split("[")[0].strip()
        for sep in "<>=!~ (":
            name = name.split(sep)[0]
        if "extra ==" not in req:
            try:
                deps[name] = installed_mb(name)
            except metadata.PackageNotFoundError:
                deps[name] = None
    return {"version": dist.version, "mb": installed_mb(LIBRARIES[library]), "requires_mb": deps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message=".*eval_set.* is deprecated")  # lightgbm 4.7
    hyper = hgb_hyperparameters()
    footprint = {lib: install_footprint(lib) for lib in args.libraries}
    result: dict[str, Any] = {
        "config": {
            "hgb": hyper,
            "others": {
                "learning_rate": LR,
                "max_rounds": ROUNDS,
                "early_stopping_rounds": PATIENCE,
                "threads": THREADS,
                "categoricals": "pandas category (CatBoost: cat_features as str)",
            },
            "split": "the pipeline's: 60/20/20, stratified for classification, seed 42",
            "model_seeds": args.seeds,
            "libraries": footprint,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
    }
    rows = []
    for name in args.datasets:
        parts, task, target = load_splits(name, args.data_dir)
        result[name] = {}
        for library in args.libraries:
            runs = [run_one(library, parts, task, target, hyper, s) for s in args.seeds]
            summary = summarise(runs)
            result[name][library] = {**summary, "runs": runs}
            print(name, library, json.dumps(result[name][library]), flush=True)
            metric = "test_accuracy" if task == "classification" else "test_rmse"
            figure = f"{summary[f'mean_{metric}']:.4f} ± {summary[f'std_{metric}']:.4f}"
            if task == "classification":
                figure += f" (AUC {summary['mean_test_roc_auc']:.4f})"
            size = footprint[library]["mb"]
            rows.append(f"| {name} | {library} | {figure} | {summary['mean_fit_s']} | {size} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| dataset | library | accuracy / RMSE ± std | fit s | installed MB |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
