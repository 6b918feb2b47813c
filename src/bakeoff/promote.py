"""Stage `promote`: register this run's best model as the dataset's `challenger`, and make it
`champion` only when it beats the current champion on the current test split.

The rule (params `promote`): the challenger must respect the constraints (maximum latency),
and beat the champion's test score by more than `margin`; with `require_significant`, the
paired bootstrap interval of the difference must also lie above zero. A first model becomes
champion. The decision and its evidence go to reports/promotion.json, the registry (tags on
the version) and the pipeline's MLflow run.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from bakeoff import setup_logging
from bakeoff.io import read_json, write_json
from bakeoff.metrics import PRIMARY_METRIC
from bakeoff.params import PromoteConfig, load_params
from bakeoff.paths import DATA_CARD, LEADERBOARD_JSON, PROMOTION_REPORT, split_path
from bakeoff.registry import CHALLENGER, CHAMPION, alias_version, move_champion

log = logging.getLogger(__name__)


def choose_challenger(board: dict[str, Any], config: PromoteConfig) -> tuple[str, list[str]]:
    """The best-ranked model that meets the constraints; when none does, the best one, with
    the constraints it breaks (it is registered but cannot be promoted)."""
    ranked = sorted(board["models"], key=lambda m: board["models"][m]["rank"])
    broken = {name: constraint_failures(board["models"][name], config) for name in ranked}
    eligible = [name for name in ranked if not broken[name]]
    chosen = eligible[0] if eligible else ranked[0]
    return chosen, broken[chosen]


def constraint_failures(row: dict[str, Any], config: PromoteConfig) -> list[str]:
    latency = row.get("latency_p95_ms")
    limit = config.max_latency_ms
    if limit is not None and latency is not None and latency > limit:
        return [f"latency p95 {latency:.1f} ms > promote.max_latency_ms {config.max_latency_ms}"]
    return []


def row_outcomes(task: str, y_true: pd.Series, predictions: pd.DataFrame) -> np.ndarray:
    """Per test row: 1/0 correct (classification, the argmax class) or the squared error."""
    if task == "classification":
        from bakeoff.serving import predict_proba_columns

        proba, classes = predict_proba_columns(predictions)
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        return (predicted == y_true.astype(str).to_numpy()).astype(float)
    errors = predictions["prediction"].to_numpy(float) - y_true.to_numpy(float)
    return errors**2


def metric_of(task: str, outcomes: np.ndarray, axis: int = -1) -> np.ndarray:
    """Accuracy (mean correct) or RMSE (root mean squared error) over the rows."""
    mean = outcomes.mean(axis=axis)
    return mean if task == "classification" else np.sqrt(mean)


def paired_bootstrap(
    task: str,
    challenger: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Interval of the improvement (challenger better: positive) over rows resampled with
    replacement, the same rows for both models."""
    rng = np.random.default_rng(seed)
    higher = PRIMARY_METRIC[task][1]
    differences = []
    for start in range(0, resamples, 200):  # chunks keep the index matrix small
        rows = rng.integers(0, len(challenger), size=(min(200, resamples - start), len(challenger)))
        difference = metric_of(task, challenger[rows]) - metric_of(task, champion[rows])
        differences.append(difference if higher else -difference)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(differences), [tail, 100 - tail])
    return float(low), float(high)


def decide(
    *,
    improvement: float,
    interval: tuple[float, float] | None,
    config: PromoteConfig,
    broken: list[str],
) -> tuple[bool, list[str]]:
    """Promote or keep, with every reason (positive improvement: the challenger is better)."""
    reasons = list(broken)
    if improvement <= config.margin:
        reasons.append(
            f"improvement {improvement:+.4f} is not above promote.margin {config.margin}"
        )
    if config.require_significant and interval is not None and interval[0] <= 0:
        reasons.append(
            f"the {config.confidence:.0%} interval of the improvement "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] includes zero"
        )
    if reasons:
        return False, reasons
    return True, [f"improvement {improvement:+.4f} > margin {config.margin}"]


def register(client, name: str, model: str, row: dict[str, Any], tags: dict[str, str]) -> str:
    import mlflow

    version = mlflow.register_model(f"runs:/{row['run_id']}/model", name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    client.update_model_version(
        name,
        version.version,
        description=f"{model} ({row['family']}), bake-off run {row['run_id']}",
    )
    return str(version.version)


def compare_with_champion(
    task: str,
    test: pd.DataFrame,
    target: str,
    uris: dict[str, str],
    config: PromoteConfig,
    seed: int,
) -> dict[str, Any]:
    """Both models' scores on the current test rows and the interval of the difference."""
    import mlflow

    X, y = test.drop(columns=[target]), test[target]
    outcomes = {
        role: row_outcomes(task, y, mlflow.pyfunc.load_model(uri).predict(X))
        for role, uri in uris.items()
    }
    metric, higher = PRIMARY_METRIC[task]
    scores = {role: float(metric_of(task, o)) for role, o in outcomes.items()}
    difference = scores["challenger"] - scores["champion"]
    interval = paired_bootstrap(
        task,
        outcomes["challenger"],
        outcomes["champion"],
        resamples=config.bootstrap,
        confidence=config.confidence,
        seed=seed,
    )
    return {
        "metric": metric,
        "challenger_score": scores["challenger"],
        "champion_score": scores["champion"],
        "improvement": difference if higher else -difference,
        "interval": list(interval),
        "confidence": config.confidence,
        "test_rows": len(test),
    }


def main() -> None:
    setup_logging()
    params = load_params()
    config = params.promote
    card, board = read_json(DATA_CARD), read_json(LEADERBOARD_JSON)
    task, target = card["task"], card["target"]
    name = params.registered_model

    import mlflow

    from bakeoff import tracking

    tracking.connect(params.tracking_uri)
    client = mlflow.MlflowClient()
    model, broken = choose_challenger(board, config)
    row = board["models"][model]
    metric = PRIMARY_METRIC[task][0]
    tags = {
        "bakeoff.model": model,
        "bakeoff.family": row["family"],
        "bakeoff.metric": metric,
        "bakeoff.test_score": f"{row[metric]:.6g}",
        "bakeoff.data_hash": card["content_hash"],
        "bakeoff.pipeline_run": board.get("pipeline_run_id", ""),
        "mlflow.source.git.commit": tracking.git_commit(),
    }
    champion = alias_version(client, name, CHAMPION)
    version = register(client, name, model, row, tags)
    report: dict[str, Any] = {
        "registered_model": name,
        "challenger_version": version,
        "challenger_model": model,
        "champion_before": champion,
        "margin": config.margin,
        "require_significant": config.require_significant,
    }
    if champion is None:
        promoted = not broken
        reasons = broken or ["first model: there was no champion"]
        report["metric"], report["challenger_score"] = metric, row[metric]
    else:
        uris = {"challenger": f"models:/{name}/{version}", "champion": f"models:/{name}/{champion}"}
        try:
            evidence = compare_with_champion(
                task, pd.read_parquet(split_path("test")), target, uris, config, params.seed
            )
        except Exception as exc:  # the champion may not read today's columns
            promoted = False
            reasons = [
                f"champion v{champion} cannot score the current test split ({exc}); promote "
                f"by hand: python -m bakeoff.registry promote --version {version} --reason ..."
            ]
        else:
            report.update(evidence)
            promoted, reasons = decide(
                improvement=evidence["improvement"],
                interval=tuple(evidence["interval"]),
                config=config,
                broken=broken,
            )
    report["decision"] = "promoted" if promoted else "kept champion"
    report["reasons"] = reasons
    if promoted:
        move_champion(client, name, version, action="promoted", reason="; ".join(reasons))
    report["champion_after"] = alias_version(client, name, CHAMPION)
    client.set_model_version_tag(name, version, "bakeoff.decision", report["decision"])
    client.set_model_version_tag(name, version, "bakeoff.decision_reason", "; ".join(reasons))
    write_json(PROMOTION_REPORT, report)
    log_decision(board.get("pipeline_run_id"), report)
    log.info("%s v%s (%s): %s: %s", name, version, model, report["decision"], "; ".join(reasons))


def log_decision(run_id: str | None, report: dict[str, Any]) -> None:
    """The decision joins the pipeline's MLflow run (compare started it)."""
    if not run_id:
        return
    import mlflow

    client = mlflow.MlflowClient()
    client.set_tag(run_id, "bakeoff.promotion", report["decision"])
    client.set_tag(run_id, "bakeoff.challenger_version", report["challenger_version"])
    for key in ("challenger_score", "champion_score", "improvement"):
        if report.get(key) is not None:
            client.log_metric(run_id, f"promotion/{key}", float(report[key]))
    client.log_artifact(run_id, str(PROMOTION_REPORT))


if __name__ == "__main__":
    main()
