"""A stage's work in a child process that the stage's own process watches, so that the
operating system killing the work (the out-of-memory killer, SIGKILL) is recorded as that
work's failure instead of taking the pipeline down.

The watching process imports nothing but the standard library (it only waits), runs the
same command again with WATCHED_CHILD set, and passes on the child's outcome:

- exit status 0 or an error status: the same status (a pipeline error stays an error);
- interrupted (the watcher got SIGINT or SIGTERM, which it forwards to the child once):
  the child records the interruption itself; the watcher exits 128 + the signal;
- killed by a signal nobody sent through the watcher (SIGKILL, SIGSEGV, SIGBUS, SIGABRT):
  the command runs once more with KILLED_REASON set, to record the failure, and its status
  (0: the stage finished, with a failed contestant) is the stage's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bakeoff import warm

WATCHED_CHILD = "BAKEOFF_WATCHED_CHILD"  # set in the child: it does the work itself
KILLED_REASON = "BAKEOFF_KILLED_REASON"  # set in the recorder: why the child died
KILLED_PID = "BAKEOFF_KILLED_PID"  # ... and which process it was
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def is_watched_child() -> bool:
    return bool(os.environ.get(WATCHED_CHILD))


def killed_reason(signum: int) -> str:
    name = signal.Signals(signum).name
    why = {
        signal.SIGKILL: "most often the out-of-memory killer (see `dmesg`), or `kill -9`",
        signal.SIGSEGV: "a crash in native code",
        signal.SIGBUS: "a crash in native code (often out of shared memory)",
        signal.SIGABRT: "native code aborted (often an allocation that failed)",
    }.get(signal.Signals(signum), "a signal from outside")
    return f"its process was killed by {name}: {why}"


def run_watched(module: str, args: list[str]) -> int:
    """Run `python -m module *args` as the watched child and return the stage's exit status
    (see above). The child is a fork of the warm stage server when there is one
    (bakeoff.warm), else a new process."""
    command = [sys.executable, "-m", module, *args]
    env = {**os.environ, WATCHED_CHILD: "1"}
    child = warm.start(module, args, env)
    if child is None:
        # Its own process group: a Ctrl-C on the terminal reaches this process only, which
        # forwards it once (twice, the child's cleanup would itself be interrupted).
        child = subprocess.Popen(command, env=env, process_group=0)
    received: list[int] = []

    def forward(signum: int, frame) -> None:
        received.append(signum)
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in INTERRUPTS}
    try:
        status = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if status >= 0:
        return status
    if received or -status in INTERRUPTS:  # an interruption, not a failure
        return 128 + (received[0] if received else -status)
    recorder = {**env, KILLED_REASON: killed_reason(-status), KILLED_PID: str(child.pid)}
    return subprocess.run(command, env=recorder, check=False).returncode


def watch_unless_child(module: str) -> None:
    """In the stage's own process: run `python -m module <same arguments>` as the watched
    child and exit with the outcome. In the child: return, so that it does the work."""
    if is_watched_child():
        return
    try:
        sys.exit(run_watched(module, sys.argv[1:]))
    except warm.ServerLost as error:
        sys.exit(f"{module}: {error}")
