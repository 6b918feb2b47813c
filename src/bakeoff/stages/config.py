"""Stage `config`: refuse to run the pipeline on a params.yaml that no longer matches conf/.

DVC composes conf/ into params.yaml on `dvc exp run` only. After an edit in conf/, a plain
`dvc repro` would train with the old values; this stage, which depends on conf/, stops it.
"""

from __future__ import annotations

# In a fork of the warm stage server when there is one (bakeoff.warm), which has imported
# the libraries below already; before those imports.
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm

    run_here_or_warm("bakeoff.stages.config")

import json
import logging
import os
import sys

from bakeoff import setup_process
from bakeoff.guard import hold_workspace
from bakeoff.params import check_params, load_params
from bakeoff.paths import CONFIG_CHECK, find_workspace

log = logging.getLogger(__name__)


def main() -> None:
    setup_process()
    hold_workspace()  # this run alone uses the workspace (bakeoff.guard)
    workspace = find_workspace()
    # Under `dvc exp run` DVC has just composed params.yaml from conf/ plus the -S overrides.
    composed_now = bool(os.environ.get("DVC_EXP_NAME"))
    if not composed_now:
        problems = check_params(workspace / "conf", workspace / "params.yaml")
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            sys.exit(
                "params.yaml does not match conf/ (conf/ was edited after params.yaml was "
                f"composed):\n  {shown}{more}\n"
                "Run `dvc exp run` (or `make run`) instead of `dvc repro`: it composes conf/ "
                "into params.yaml first. Repeat any `-S key=value` you want to keep."
            )
    try:  # every typed check (split.method, drift.action, ...) before any stage runs
        load_params(workspace / "params.yaml")
    except (TypeError, ValueError) as exc:
        sys.exit(f"params.yaml: {exc}")
    out = workspace / CONFIG_CHECK
    out.parent.mkdir(parents=True, exist_ok=True)
    # Constant content: a passing check must not make downstream stages run again.
    out.write_text(json.dumps({"params_match_conf": True}) + "\n", encoding="utf-8")
    log.info("params.yaml matches conf/%s", " (composed by dvc exp run)" if composed_now else "")


if __name__ == "__main__":
    main()
