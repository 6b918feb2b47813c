"""What does recording a network's curves in MLflow cost, per epoch of training?

Trains the shipped MLP (conf/model/mlp.yaml, fixed epoch count) on California housing as
the pipeline splits it, then records its per-epoch curves (train/loss, val/loss, val/rmse)
into a fresh SQLite store three ways, each timed:

* batched       - what bakeoff does: `bakeoff.tracking.runs.log_history`, one log_batch request
                  after training
* per_epoch     - an `mlflow.log_metrics` call per epoch, as a logging callback would
* per_epoch_async - the same with `synchronous=False`, flushed at the end

The overhead is the logging time per epoch as a share of the training time per epoch.
Usage:  PYTHONPATH=src python benchmarks/mlflow_logging.py [--epochs 30] [--data-dir data/external]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bakeoff.models.fitting import fit_model
from bakeoff.params import compose_conf
from bakeoff.tracking.runs import log_history
from common import ROOT, load_splits

RESULTS = Path(__file__).parent / "results" / "mlflow_logging.json"


def timed_logging(history: list[dict], store: Path) -> dict[str, float]:
    """Seconds each way of logging `history` takes, into its own run of a fresh store."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}")
    mlflow.MlflowClient().search_experiments()  # create and migrate the store first
    mlflow.set_experiment("logging")
    seconds = {}
    with mlflow.start_run() as run:
        start = time.perf_counter()
        log_history(run.info.run_id, history)
        seconds["batched"] = time.perf_counter() - start
    for name, synchronous in (("per_epoch", True), ("per_epoch_async", False)):
        with mlflow.start_run():
            start = time.perf_counter()
            for row in history:
                values = {k: float(v) for k, v in row.items() if k != "epoch"}
                mlflow.log_metrics(values, step=int(row["epoch"]), synchronous=synchronous)
            mlflow.flush_async_logging()
            seconds[name] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data/external")
    args = parser.parse_args()
    parts, task, target = load_splits("california_housing", args.data_dir)
    n = args.epochs  # patience = epochs: every epoch runs, a fixed amount of training
    config = compose_conf(
        ROOT / "conf",
        [
            "trainer=cpu",
            f"models.mlp.max_epochs={n}",
            f"models.mlp.patience={n}",
            "models.mlp.random_state=0",
        ],
    )["models"]["mlp"]
    train = parts["train"]
    model, fit_seconds = fit_model(config, task=task, train=train, val=parts["val"], target=target)
    history = model.estimator.history_
    epoch_ms = 1000 * fit_seconds / len(history)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = timed_logging(history, Path(tmp) / "mlflow.db")
    result = {
        "epochs": len(history),
        "metrics_per_epoch": len(history[0]) - 1,
        "train_rows": len(train),
        "epoch_ms": round(epoch_ms, 1),
        "logging": {
            name: {
                "total_ms": round(1000 * s, 1),
                "per_epoch_ms": round(1000 * s / len(history), 2),
                "share_of_epoch_pct": round(100 * 1000 * s / len(history) / epoch_ms, 2),
            }
            for name, s in seconds.items()
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
