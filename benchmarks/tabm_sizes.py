"""What TabM's size costs and buys on a CPU: k (members), d_block (width) and the
piecewise-linear embeddings, on California housing (RMSE) and Adult (accuracy).

TabM as the pipeline builds it (conf/model/tabm.yaml through `compose_conf` and
`build_model`, the default trainer), with k, d_block and embeddings set per row and
everything else at the config's values; the pipeline's own split (`tabm_quality.card_splits`,
built as `common.load_splits` builds it), one model seed, test split. Design `oat` (default) changes one factor at a time around
k 16 / d_block 256 / embeddings, plus the paper's size (k 32, d_block 512); `full` runs every
combination; `small` compares narrower sizes for small tables (breast_cancer, digits: the
`cpu` preset's row rule). HistGradientBoosting (its default config) on the same split is the
yardstick.

Usage:  PYTHONPATH=src python benchmarks/tabm_sizes.py [--data california_housing adult]
            [--design oat|full|small] [--paper-epochs N] [--threads 1] [--name tabm_sizes]
        PYTHONPATH=src python benchmarks/tabm_sizes.py --data breast_cancer digits \
            --design small --name tabm_sizes_small
Writes benchmarks/results/<name>.json (tables of rounded figures) after each dataset,
keeping the other datasets' tables already there: one run per dataset can go side by side.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path
from typing import Any

from common import FILES, ROOT, save_result
from tabm_quality import (
    DATASETS,
    card_splits,
    fit_and_score,
    kept_results,
    pipeline_models,
    quiet,
    with_threads,
)

log = logging.getLogger("tabm_sizes")

CENTRE = {"k": 16, "d_block": 256, "embeddings": "piecewise_linear"}
LEVELS = {"k": [32, 16, 8], "d_block": [512, 256], "embeddings": ["piecewise_linear", "none"]}
# Small tables (the `cpu` preset's row rule): the large-table size and narrower ones.
SMALL = [(16, 256), (8, 128), (8, 64), (4, 128), (4, 64)]
PAPER = {"k": 32, "d_block": 512, "embeddings": "piecewise_linear"}


def variants(design: str) -> list[dict[str, Any]]:
    """The (k, d_block, embeddings) settings to fit, centre first."""
    if design == "small":
        return [{"k": k, "d_block": d, "embeddings": "piecewise_linear"} for k, d in SMALL]
    if design == "full":
        return [
            dict(zip(LEVELS, values, strict=True)) for values in itertools.product(*LEVELS.values())
        ]
    rows = [dict(CENTRE)]
    for factor, levels in LEVELS.items():
        rows += [{**CENTRE, factor: level} for level in levels if level != CENTRE[factor]]
    rows.append(dict(PAPER))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=list(FILES), choices=DATASETS)
    parser.add_argument("--design", choices=["oat", "full", "small"], default="oat")
    parser.add_argument(
        "--paper-epochs",
        type=int,
        default=None,
        help="cap the paper-size row at this many epochs (its cost per epoch only)",
    )
    parser.add_argument("--name", default="tabm_sizes")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "external")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    quiet()

    for card in args.data:
        parts, task, target = card_splits(card, args.data_dir)
        models = pipeline_models(card, args.data_dir, [])["models"]
        metric = "test_accuracy" if task == "classification" else "test_rmse"
        hgb = fit_and_score(models["hist_gradient_boosting"], parts, task, target)
        log.info("%s hist_gradient_boosting %s", card, hgb)
        rows = []
        for setting in variants(args.design):
            config = with_threads({**models["tabm"], **setting}, args.threads)
            capped = args.paper_epochs is not None and setting == PAPER
            if capped:
                config["max_epochs"] = args.paper_epochs
            result = fit_and_score(config, parts, task, target)
            if capped:  # a score after a few epochs says nothing about the size
                result.pop(metric)
                result["capped_at_epochs"] = args.paper_epochs
            rows.append({**setting, **result})
            log.info("%s %s %s", card, setting, result)
        for row in rows:
            if metric in row:
                ratio = row[metric] / hgb[metric]
                row["vs_hgb"] = round(
                    ratio if metric == "test_rmse" else row[metric] - hgb[metric], 4
                )
        hgb_line = f"HistGradientBoosting {metric} {hgb[metric]}, {hgb['cpu_s']} CPU s"
        table = {
            "caption": f"{card}: {len(parts['train'])} training rows; {hgb_line}",
            "rows": rows,
        }
        # Saved after each card, keeping other cards' tables (a run per card side by side).
        tables, raw = kept_results(args.name, [card])
        raw[card] = {
            "hist_gradient_boosting": hgb,
            "tabm_config": models["tabm"],
            "command": COMMAND,
        }
        tables = sorted([*tables, table], key=lambda t: DATASETS.index(t["caption"].split(":")[0]))
        save(args.name, tables, raw, args.threads)


COMMAND = " ".join(["PYTHONPATH=src python benchmarks/tabm_sizes.py", *sys.argv[1:]])


def save(name: str, tables: list[dict], raw: dict, threads: int) -> None:
    # Each dataset's table keeps the command that measured it (runs side by side, one each);
    # a table saved before commands were kept per dataset has none to show.
    commands = dict.fromkeys(v["command"] for v in raw.values() if "command" in v)
    save_result(
        name,
        title="TabM's size on a CPU: k, d_block and piecewise-linear embeddings",
        command="; ".join(commands),
        tables=tables,
        notes=[
            "One model seed (42) on the pipeline's split, test scores; TabM as conf/model/tabm.yaml "
            f"with k, d_block and embeddings per row, on {threads} torch thread(s); n_blocks is "
            "the package's depth (2 with embeddings, 3 without). vs_hgb: RMSE ratio "
            "(regression) or accuracy difference (classification) to HistGradientBoosting.",
            "cpu_s: CPU seconds of the fit (one thread: about its wall time on an idle core). "
            "The machine was shared with other work: fit_s, the wall time, is inflated by it "
            "several times over, cpu_s less so (cores shared at a lower speed). "
            "cpu_s_per_epoch includes validation and the per-epoch share of preprocessing. "
            "load_before: 1-minute load average before the fit (2 cores).",
            "capped_at_epochs: the row ran that many epochs only, for its cost per epoch; "
            "its score is left out.",
        ],
        raw=raw,
    )


if __name__ == "__main__":
    main()
