"""How long CI and the test suite take on a clean clone: `.ci/run` from nothing (the virtual
environment's install, the pretrained encoder's fetch, `make lint`, `make test`), then
`make test` again in the same clone (set-up done: the suite alone), each with the time of
its two pytest halves (`make test-pipeline` and `make test-rest`, side by side).

The clone is `git clone` of this checkout's HEAD (committed files only) with `../shared`
beside it, as a user or CI gets it. Run it on an idle machine: the halves share two cores
with nothing else. `.ci/run` installs Debian packages only when Chromium or PostgreSQL is
missing; where it did, that time is in its figure.

    python benchmarks/suite_time.py [--keep /tmp/bakeoff-suite-time] [--no-ci]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from common import ROOT, save_result

# `make test`'s two halves, told apart by the marker expression make echoes for each.
HALVES = {'-m "pipeline': "pipeline half", '-m "not pipeline': "rest half"}
# pytest's last line: "668 passed, 16 deselected, 1 skipped in 175.32s (0:02:55)", between
# "=" rules unless -q.
SUMMARY = re.compile(r"^=*\s*(?P<counts>\d+ (passed|failed).*?) in (?P<seconds>[\d.]+)s\b")
BUDGETS = {".ci/run": 720, "make test": 300}  # seconds, on the 2-core machine (docs/testing.md)


def clean_environment() -> dict[str, str]:
    """This process's environment without its virtual environment: the clone builds its own."""
    venv = str(ROOT / ".venv")
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(venv)]
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "MLFLOW_TRACKING_URI")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PATH": os.pathsep.join(path)}


def halves(output: str) -> dict[str, dict[str, object]]:
    """Each pytest half's own seconds and counts, from `make test`'s synchronised output."""
    found: dict[str, dict[str, object]] = {}
    current = None
    for line in output.splitlines():
        for marker, label in HALVES.items():
            if marker in line and "pytest" in line:
                current = label
        match = SUMMARY.match(line.strip())
        if match and current is not None:
            found[current] = {"s": float(match["seconds"]), "tests": match["counts"]}
    missing = set(HALVES.values()) - set(found)
    if missing:
        raise RuntimeError(f"no pytest summary for {sorted(missing)} in the output")
    return found


def timed(command: list[str], clone: Path, log: Path) -> tuple[float, str]:
    """Wall seconds and output of `command` in the clone; a failure raises with the log's path."""
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=clone, env=clean_environment(), capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    log.write_text(output)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}; output: {log}")
    return seconds, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=Path("/tmp/bakeoff-suite-time"))
    parser.add_argument("--no-ci", action="store_true", help="make setup, then make test only")
    args = parser.parse_args()
    shutil.rmtree(args.keep, ignore_errors=True)
    args.keep.mkdir(parents=True)
    clone = args.keep / "bakeoff"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (args.keep / "shared").symlink_to((ROOT.parent / "shared").resolve())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=clone,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    rows = []
    if args.no_ci:
        timed(["make", "setup", "pretrained"], clone, args.keep / "setup.log")
    else:
        seconds, output = timed([".ci/run"], clone, args.keep / "ci.log")
        rows.append(row(".ci/run", "fresh clone: install, lint, tests", seconds, output))
        print(f".ci/run: {seconds:.0f} s", flush=True)
    seconds, output = timed(["make", "test"], clone, args.keep / "make-test.log")
    rows.append(row("make test", "the same clone, set-up done", seconds, output))
    print(f"make test: {seconds:.0f} s", flush=True)

    save_result(
        "suite_time",
        title="CI and the test suite on a clean clone",
        command="python benchmarks/suite_time.py" + (" --no-ci" if args.no_ci else ""),
        tables=[{"caption": f"wall seconds on a clean clone of {commit}", "rows": rows}],
        notes=[
            "The halves run side by side (make -j2), so the command's time is the longer "
            "half's plus make's own start; .ci/run's also holds the install (pip from the "
            "lock, the pretrained encoder's fetch) and make lint.",
            "budget s: the most each may take on this 2-core machine (make test 5 min, CI 12 min).",
        ],
        raw={"commit": commit},
    )


def row(command: str, what: str, seconds: float, output: str) -> dict[str, object]:
    parts = halves(output)
    return {
        "command": command,
        "what": what,
        "wall s": round(seconds, 1),
        "budget s": BUDGETS[command],
        "pipeline half s": parts["pipeline half"]["s"],
        "rest half s": parts["rest half"]["s"],
        "tests": f"{parts['pipeline half']['tests']}; {parts['rest half']['tests']}",
    }


if __name__ == "__main__":
    main()
