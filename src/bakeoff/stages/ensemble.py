"""Stage `ensemble`: the weighted average of the best classical and the best deep model, as
a contestant of its own (bakeoff.models.ensemble, bakeoff.evaluation.ensemble).

    python -m bakeoff.stages.ensemble

The family bests are chosen as compare chooses them (the same ranking of the same records).
The weight is fitted on the members' predictions for the validation split, never the test
split; the average is saved as an MLflow model that takes raw rows, scored on the frozen test
split, and scored on every resample (each weight fitted on that resample's early-stopping
rows, from the refits' predictions), so it gets an interval and a paired test like every
contestant. Outputs mirror a contestant's: data/models/ensemble/, reports/evaluate/ensemble/,
reports/resample/ensemble.json. With `ensemble.enabled: false`, or without a model of each
family, it records why it was skipped.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.ensemble")

import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from bakeoff import setup_process
from bakeoff.evaluation.ensemble import blend, fit_weights, resampled_scores
from bakeoff.evaluation.metrics import REPORTED
from bakeoff.evaluation.records import read_contestants
from bakeoff.evaluation.resampling import ratio
from bakeoff.evaluation.testing import evaluate_saved, save_evaluation
from bakeoff.evaluation.verdict import rank_models, summarize
from bakeoff.fileio import read_json, remove_tree, write_json
from bakeoff.guard import hold_workspace
from bakeoff.models.ensemble import NAME, WeightedAverage
from bakeoff.params import Params, load_params
from bakeoff.paths import (
    DATA_CARD,
    evaluation_dir,
    model_dir,
    resample_path,
    resample_predictions_path,
    split_path,
)
from bakeoff.tracking.datasets import log_fit_splits
from bakeoff.tracking.orphans import process_tags
from bakeoff.tracking.runs import download_model, log_evaluation, log_resamples, recorded_outcome
from bakeoff.tracking.store import connect, use_experiment
from bakeoff.tracking.tags import display_name, flatten, run_tags

log = logging.getLogger(__name__)


def members(params: Params, task: str) -> tuple[list[str], str | None]:
    """The best classical and best deep model, as compare will rank them; or why not."""
    if not params.ensemble.enabled:
        return [], "ensemble.enabled is false"
    found = read_contestants(list(params.models), params, task)
    if not found.rows:
        return [], "no contestant trained"
    summary = summarize(rank_models(found.rows, task), task)
    chosen = [summary.get("best_classical"), summary.get("best_deep")]
    if None in chosen:
        return [], "it needs a trained model of each family"
    missing = [m for m in chosen if m not in found.records]
    if missing:
        return chosen, f"{', '.join(missing)} has no resamples to pair with"
    return chosen, None


def skip(reason: str) -> None:
    """Outputs that say the ensemble was not built, and why (compare leaves it out)."""
    log.info("ensemble skipped: %s", reason)
    folder = model_dir(NAME)
    remove_tree(folder)
    (folder / "model").mkdir(parents=True)
    write_json(folder / "train.json", {"model": NAME, "status": "skipped", "reason": reason})
    out = evaluation_dir(NAME)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {})
    write_json(out / "importance.json", {})
    write_json(resample_path(NAME), {"model": NAME, "status": "skipped", "reason": reason})


def load_member(name: str):
    """A contestant's fitted model, from its saved MLflow model (what serving runs)."""
    import mlflow

    served = mlflow.pyfunc.load_model(str(model_dir(name) / "model")).unwrap_python_model()
    return served.served


def ensemble_resamples(chosen: list[str], params: Params, task: str) -> dict[str, Any]:
    records = {m: read_json(resample_path(m)) for m in chosen}
    predictions = {m: pd.read_parquet(resample_predictions_path(m)) for m in chosen}
    results = resampled_scores(predictions, records, task)
    resampling = params.compare.resampling
    first = records[chosen[0]]
    return {
        "model": NAME,
        "method": first["method"],
        "folds": first["folds"],
        "repeats": first["repeats"],
        "status": "done",
        "ratio": ratio(resampling, results),
        "wall_seconds": 0.0,
        "members": chosen,
        "resamples": results,
    }


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    card = read_json(DATA_CARD)
    task, target = card["task"], card["target"]
    chosen, reason = members(params, task)
    if reason:
        skip(reason)
        return
    import mlflow

    from bakeoff.reporting.plots import model_plots
    from bakeoff.tracking.serving import ServedModel, log_served_model

    served = {m: load_member(m) for m in chosen}
    val = pd.read_parquet(split_path("val"))  # raw rows, as the saved models take them
    frames = {m: s.predict_frame(val) for m, s in served.items()}
    weights = fit_weights(frames, val[target], task, params.ensemble.weight_steps)
    model = WeightedAverage(
        task=task, members={m: s.model for m, s in served.items()}, weights=weights
    )
    first = next(iter(served.values()))
    ensemble = ServedModel(model=model, steps=first.steps, target=first.target)
    validation = blend(frames, weights, task)
    fit_seconds = sum(read_json(model_dir(m) / "train.json")["fit_seconds"] for m in chosen)
    connect(params.tracking_uri)
    use_experiment(params.data.name)
    folder = model_dir(NAME)
    remove_tree(folder)
    description = " + ".join(f"{weights[m]:.2f} {m}" for m in chosen)
    with (
        mlflow.start_run(run_name=display_name(NAME, params.data.name), tags=process_tags()) as run,
        recorded_outcome(run),
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(flatten({"ensemble": {"members": chosen, "weights": weights}}))
        # Its members were fitted on the training split and its weights on the validation one.
        log_fit_splits(card)
        mlflow.set_tags(
            {
                **run_tags(
                    dataset=params.data.name,
                    data_hash=card["content_hash"],
                    model=NAME,
                    family=model.family,
                ),
                "mlflow.note.content": f"Weighted average: {description}",
            }
        )
        example = val.drop(columns=[target]).head(5).drop(columns=params.data.key)
        logged = log_served_model(
            ensemble,
            NAME,
            example,
            Path(tmp),
            tags={"bakeoff.model": NAME, "bakeoff.family": model.family},
        )
        # The DVC output is the logged model itself, as for every contestant.
        download_model(logged.model_id, folder / "model")
        trained = {
            "model": NAME,
            "status": "trained",
            "family": model.family,
            "task": task,
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "model_id": logged.model_id,
            "model_uri": f"models:/{logged.model_id}",
            # What it took to make: its members' fits (the weight is a grid search on top).
            "fit_seconds": fit_seconds,
            "members": chosen,
            "weights": weights,
            "val_predictions": len(validation),
            **model.describe(),
        }
        write_json(folder / "train.json", trained)
        out = evaluation_dir(NAME)
        test = pd.read_parquet(split_path("test"))
        result = evaluate_saved(folder / "model", test, card, params, fit_seconds)
        figures = model_plots(task, result.y_true, result.predictions, NAME, out / "plots")
        save_evaluation(out, result)
        log_evaluation(
            result.scores, figures, out / "importance.json", card=card, model_id=logged.model_id
        )
        record = ensemble_resamples(chosen, params, task)
        write_json(resample_path(NAME), record)
        log_resamples(record["resamples"], REPORTED[task])
    log.info(
        "ensemble %s: test %s", description, {k: round(v, 4) for k, v in result.scores.items()}
    )


if __name__ == "__main__":
    main()
