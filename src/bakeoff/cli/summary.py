"""The last run's verdict and leaderboard in the terminal (what `make run` ends with).

    python -m bakeoff.cli.summary

Six columns that fit 100 characters; the full tables are in reports/leaderboard.md and the
HTML report, whose path is the last line.
"""

from __future__ import annotations

import argparse
import sys

from bakeoff.fileio import read_json
from bakeoff.params import load_params
from bakeoff.paths import LEADERBOARD_JSON, report_path
from bakeoff.reporting.leaderboard import terminal_summary


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    if not LEADERBOARD_JSON.is_file():
        sys.exit(f"{LEADERBOARD_JSON} not found: run the bake-off first (make run)")
    board = read_json(LEADERBOARD_JSON)
    sys.stdout.write(terminal_summary(board, str(report_path(load_params().data.name))))


if __name__ == "__main__":
    main()
