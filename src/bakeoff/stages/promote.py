"""Stage `promote`: register this run's best model as the dataset's `challenger`, and make it
`champion` only when it beats the current champion on the current test split (the rule:
bakeoff.evaluation.promotion; the registry: bakeoff.tracking.registry).

    python -m bakeoff.stages.promote

The decision and its evidence go to reports/promotion.json, the registry (tags on the
version) and the pipeline's MLflow run.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.promote")

import logging
from typing import Any

import pandas as pd

from bakeoff import setup_process
from bakeoff.evaluation.metrics import PRIMARY_METRIC
from bakeoff.evaluation.promotion import choose_challenger, decide
from bakeoff.fileio import read_json, write_json
from bakeoff.guard import hold_workspace
from bakeoff.params import Params, load_params
from bakeoff.paths import DATA_CARD, LEADERBOARD_JSON, PROMOTION_REPORT, split_path
from bakeoff.tracking import store, tags
from bakeoff.tracking.registry import (
    CHAMPION,
    ChampionIncompatible,
    alias_version,
    compare_with_champion,
    load_version,
    log_decision,
    move_champion,
    register,
)

log = logging.getLogger(__name__)


def promote(
    client, params: Params, card: dict[str, Any], board: dict[str, Any], test: pd.DataFrame
) -> dict[str, Any]:
    """Register the challenger, apply the promotion rule, move `champion` if it wins; the
    report. A registry error fails here before anything moves (only "no such model" means
    there is no champion); a champion that cannot read today's columns is not compared."""
    config = params.promote
    task, target = card["task"], card["target"]
    name = params.registered_model
    model, broken = choose_challenger(board, config)
    row = board["models"][model]
    metric = PRIMARY_METRIC[task][0]
    version_tags = {
        "bakeoff.model": model,
        "bakeoff.family": row["family"],
        "bakeoff.metric": metric,
        "bakeoff.test_score": f"{row[metric]:.6g}",
        "bakeoff.data_hash": card["content_hash"],
        "bakeoff.pipeline_run": board.get("pipeline_run_id", ""),
        "mlflow.source.git.commit": tags.git_commit(),
    }
    champion = alias_version(client, name, CHAMPION)
    # Loaded before anything is registered: a store error here leaves the registry as it was.
    champion_model = load_version(client, name, champion) if champion else None
    version = register(client, name, model, row, version_tags)
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
        models = {"challenger": load_version(client, name, version), "champion": champion_model}
        try:
            evidence = compare_with_champion(task, test, target, models, config, params.seed)
        except ChampionIncompatible as exc:  # the champion does not read today's columns
            promoted = False
            reasons = [
                f"champion v{champion} cannot score the current test split ({exc}); promote "
                f"by hand: python -m bakeoff.cli.registry promote --version {version} --reason ..."
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
    return report


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    params = load_params()
    card, board = read_json(DATA_CARD), read_json(LEADERBOARD_JSON)

    import mlflow

    store.connect(params.tracking_uri)
    client = mlflow.MlflowClient()
    report = promote(client, params, card, board, pd.read_parquet(split_path("test")))
    write_json(PROMOTION_REPORT, report)
    log_decision(board.get("pipeline_run_id"), report)
    log.info(
        "%s v%s (%s): %s: %s",
        report["registered_model"],
        report["challenger_version"],
        report["challenger_model"],
        report["decision"],
        "; ".join(report["reasons"]),
    )


if __name__ == "__main__":
    main()
