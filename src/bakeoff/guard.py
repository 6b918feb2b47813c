"""One pipeline run at a time per workspace: a second `dvc exp run` (or `dvc repro`) started
while one runs is refused before it changes anything.

Why here, and how. `dvc exp run` rewrites params.yaml (Hydra composition), stashes and
restores the workspace and commits data deps *before* it runs any stage, and DVC releases
its repository lock while a stage's command runs; so a guard inside our first stage acts
too late for the second run, and DVC's repository lock does not cover a whole run. What DVC
does check before all of that is its experiments read/write lock (`.dvc/tmp/exps/rwlock`):
`dvc exp run`, queued or not, must take "workspace" for writing first, and is refused
("'workspace' is busy") while a live process holds it. So every stage calls
`hold_workspace()` first: it registers the `dvc` process running the pipeline as a reader
of "workspace" in that file (the same file format and guard lock DVC uses), with a
description that DVC prints when it refuses the second run; a helper process removes the
entry once that `dvc` process has exited. A stage whose own `dvc` process is not the
holder (a second `dvc repro`, a stage started by hand) stops before reading anything.

The guarantee starts with the first stage a run executes. Between the end of a run's own
composition and its first stage (a second or two) another `dvc exp run` can still get in;
then its stage finds the workspace held and stops, and since its composition has already
rewritten params.yaml, every stage also checks that params.yaml still has the content the
run registered with (and the stopped run marks it spoiled): neither run trains on the
other's values, though both may stop. `dvc exp run --queue` runs each experiment in a copy
of the project (no guard needed there), which is the way to run several.
"""

from __future__ import annotations

import configparser
import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bakeoff import warm
from bakeoff.fileio import write_text
from bakeoff.paths import find_workspace

log = logging.getLogger(__name__)

WORKSPACE = "workspace"  # what DVC's experiment commands lock before they touch anything
EXPS_TMP = Path(".dvc/tmp/exps")  # DVC's experiments temp folder: its rwlock lives here
RUN_RECORD = Path(".dvc/tmp/bakeoff_run.json")  # the holding run: dvc pid, params hash
MARK = "bakeoff pipeline run"  # how our entries in DVC's lock file start
QUEUED_COPY = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep
POLL_SECONDS = 0.5


class WorkspaceBusy(SystemExit):
    """This stage's run may not go on: another run holds the workspace, or params.yaml
    changed under it. (A SystemExit: the stage ends with the message, no traceback.)"""


def _dvc_arguments(command: list[str]) -> list[str] | None:
    """`dvc` and its arguments from a process's command line (None: not a dvc command);
    the interpreter that runs the `dvc` script is left out."""
    for i, arg in enumerate(command[:3]):
        if Path(arg).name == "dvc":
            return ["dvc", *command[i + 1 :]]
        if arg == "-m" and command[i + 1 : i + 2] == ["dvc"]:
            return ["dvc", *command[i + 2 :]]
    return None


def dvc_process() -> psutil.Process | None:
    """The nearest ancestor that is a `dvc` command (None: this stage was started by hand).
    A fork of the warm stage server (bakeoff.warm) counts from the stage's own process."""
    stage = psutil.Process(warm.stage_pid())  # itself a `python -m bakeoff...` command
    for parent in [stage, *stage.parents()]:
        try:
            if _dvc_arguments(parent.cmdline()):
                return parent
        except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return None


def _hardlink_lock(root: Path) -> bool:
    """DVC's core.hardlink_lock setting (it picks the kind of guard lock on the file)."""
    config = configparser.ConfigParser()
    config.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    return config.get("core", "hardlink_lock", fallback="false").strip().lower() == "true"


class _Lockfile:
    """DVC's experiments rwlock file, edited under DVC's own guard lock, as DVC edits it."""

    def __init__(self, root: Path):
        self.folder = root / EXPS_TMP
        self.hardlink = _hardlink_lock(root)

    def __enter__(self) -> dict:
        from dvc.lock import make_lock

        self.folder.mkdir(parents=True, exist_ok=True)
        self.guard = make_lock(
            str(self.folder / "rwlock.lock"),
            tmp_dir=str(self.folder),
            hardlink_lock=self.hardlink,
        )
        self.guard.lock()
        path = self.folder / "rwlock"
        self.content = json.loads(path.read_text()) if path.is_file() else {}
        return self.content

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                content = {k: v for k, v in self.content.items() if v}
                write_text(self.folder / "rwlock", json.dumps(content))
        finally:
            self.guard.unlock()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _holders(lock: dict) -> list[dict]:
    """Live processes holding "workspace": our runs (readers) and DVC's own writers (a
    `dvc exp run` composing params.yaml right now)."""
    readers = lock.get("read", {}).get(WORKSPACE, [])
    writer = lock.get("write", {}).get(WORKSPACE)
    return [h for h in [*readers, *([writer] if writer else [])] if _alive(int(h["pid"]))]


def _params_hash(root: Path) -> str:
    params = root / "params.yaml"
    return hashlib.sha256(params.read_bytes()).hexdigest() if params.is_file() else ""


def _description(dvc: psutil.Process) -> str:
    command = " ".join(_dvc_arguments(dvc.cmdline()) or ["dvc"])
    since = dt.datetime.fromtimestamp(dvc.create_time()).strftime("%H:%M:%S")
    return (
        f"{MARK} `{command}` (since {since}) is using this workspace. Wait for it to end; "
        "to run several experiments, queue them once it has ended with `dvc exp run --queue "
        "-S ...` and run them with `dvc queue start` (each in its own copy of the project)"
    )


def _refuse(root: Path, holders: list[dict], mine: psutil.Process | None) -> WorkspaceBusy:
    who = "; ".join(f"PID {h['pid']}: {h['cmd']}" for h in holders)
    rewrote = mine is not None and os.environ.get("DVC_EXP_NAME")
    if rewrote:
        # This `dvc exp run` slipped in before the other run's first stage and has already
        # rewritten params.yaml: spoil the other run's record so that it stops too.
        record = root / RUN_RECORD
        if record.is_file():
            held = json.loads(record.read_text())
            held["spoiled_by"] = f"PID {mine.pid}: {' '.join(_dvc_arguments(mine.cmdline()))}"
            write_text(record, json.dumps(held))
    return WorkspaceBusy(
        f"another pipeline run holds this workspace ({who}). This run stops here, before "
        "its stages read or write anything"
        + (
            "; its `dvc exp run` had already rewritten params.yaml, so the other run stops "
            "at its next stage too: run it again once both have ended."
            if rewrote
            else "."
        )
    )


def hold_workspace(start: Path | None = None) -> None:
    """First thing every stage does: make sure this run alone uses the workspace (see the
    module's docstring). Returns when it does; raises WorkspaceBusy otherwise."""
    try:
        root = find_workspace(start)
    except FileNotFoundError:
        return  # not in a project (a library call from a test): nothing to guard
    if QUEUED_COPY in str(root) or not (root / ".dvc").is_dir():
        return  # a queued experiment's own copy, or no DVC project
    mine = dvc_process()
    with _Lockfile(root) as lock:
        holders = _holders(lock)
        others = [h for h in holders if mine is None or int(h["pid"]) != mine.pid]
        if others:
            raise _refuse(root, others, mine)
        if mine is None:
            return
        readers = lock.setdefault("read", {}).setdefault(WORKSPACE, [])
        readers[:] = [h for h in readers if _alive(int(h["pid"]))]
        first = not any(int(h["pid"]) == mine.pid for h in readers)
        if first:
            readers.append({"pid": mine.pid, "cmd": _description(mine)})
            record = {"dvc_pid": mine.pid, "params_sha256": _params_hash(root)}
            write_text(root / RUN_RECORD, json.dumps(record))
    if first:
        _release_when_gone(root, mine.pid)
    _check_params(root, mine.pid)


def _check_params(root: Path, pid: int) -> None:
    held = json.loads((root / RUN_RECORD).read_text())
    if held["dvc_pid"] != pid:
        return
    if held.get("spoiled_by"):
        raise WorkspaceBusy(
            f"another `dvc exp run` ({held['spoiled_by']}) rewrote params.yaml while this run "
            "was starting: this run stops rather than train on its values. Run it again."
        )
    if _params_hash(root) != held["params_sha256"]:
        raise WorkspaceBusy(
            "params.yaml changed while this pipeline run was in progress (edited, checked "
            "out, or rewritten by another command): this run stops rather than mix values. "
            "Run it again."
        )


def _release_when_gone(root: Path, pid: int) -> None:
    """A detached helper removes the run's entry when its `dvc` process has exited."""
    subprocess.Popen(
        [sys.executable, "-m", "bakeoff.guard", str(root), str(pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def release(root: Path, pid: int) -> None:
    """Remove `pid`'s entry from DVC's lock file and our run record."""
    with _Lockfile(root) as lock:
        readers = lock.get("read", {}).get(WORKSPACE, [])
        readers[:] = [h for h in readers if int(h["pid"]) != pid]
        if not readers:
            lock.get("read", {}).pop(WORKSPACE, None)
        record = root / RUN_RECORD
        if record.is_file() and json.loads(record.read_text()).get("dvc_pid") == pid:
            record.unlink()


def main(argv: list[str]) -> None:
    """`python -m bakeoff.guard <root> <pid>`: wait for process `pid` to exit, then release."""
    root, pid = Path(argv[0]), int(argv[1])
    while _alive(pid):
        time.sleep(POLL_SECONDS)
    release(root, pid)


if __name__ == "__main__":
    main(sys.argv[1:])
