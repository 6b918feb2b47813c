"""Stage `config`: refuse to run the pipeline on a params.yaml that no longer matches conf/.

DVC composes conf/ into params.yaml on `dvc exp run` only. After an edit in conf/, a plain
`dvc repro` would train with the old values; this stage, which depends on conf/, stops it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bakeoff import setup_logging
from bakeoff.params import load_params, read_params_file
from bakeoff.paths import CONFIG_CHECK, find_workspace

log = logging.getLogger(__name__)


def compose_conf(conf_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """conf/config.yaml composed with Hydra exactly as `dvc exp run` does it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides or [])
    return OmegaConf.to_container(cfg, resolve=True)


def diff_configs(expected: Any, actual: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings, with both values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in actual:
                lines.append(f"{where}: in conf/ but missing from params.yaml")
            elif key not in expected:
                lines.append(f"{where}: in params.yaml but not in conf/")
            else:
                lines.extend(diff_configs(expected[key], actual[key], where))
        return lines
    if expected != actual:
        return [f"{prefix}: conf/ has {expected!r}, params.yaml has {actual!r}"]
    return []


def check_params(conf_dir: Path, params_file: Path) -> list[str]:
    return diff_configs(compose_conf(conf_dir), read_params_file(params_file))


def main() -> None:
    setup_logging()
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
