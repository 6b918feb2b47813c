"""Warm stage processes (bakeoff.warm): a real server, real forks, real signals; a stage
module written by each test, so that nothing here waits for the heavy libraries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bakeoff import warm
from bakeoff.watch import KILLED_REASON
from conftest import run_python

# The tests' stage: reports what it sees, then does what its first argument says.
STAGE = """
import gc, os, signal, sys, time
if __name__ == "__main__":
    from bakeoff.warm import run_here_or_warm
    run_here_or_warm("stagex")
print("version", VERSION, "args", sys.argv[1:], "cwd", os.getcwd(), flush=True)
print("pid", os.getpid(), "preloaded", "csv" in sys.modules, "frozen", gc.get_freeze_count() > 0, "exp", os.environ.get("DVC_EXP_NAME"),
      "socket", os.environ.get("BAKEOFF_WARM_SOCKET"), flush=True)
print("to stderr", file=sys.stderr, flush=True)
what = sys.argv[1] if len(sys.argv) > 1 else "ok"
if what == "fail":
    sys.exit(3)
if what == "raise":
    raise ValueError("boom")
if what == "die":
    os.kill(os.getpid(), signal.SIGKILL)
if what == "sleep":
    time.sleep(60)
"""


# A command run under `python -m bakeoff.warm` that waits until its server listens and
# prints where ("socket <path>").
WAITS_FOR_THE_SERVER = (
    "import os, sys, time\n"
    "path = os.environ['BAKEOFF_WARM_SOCKET']\n"
    "while not os.path.exists(path): time.sleep(0.05)\n"
    "print('socket', path, flush=True)\n"
)


def write_stage(folder: Path, version: int = 1) -> None:
    (folder / "stagex.py").write_text(STAGE.replace("VERSION", str(version)))


@pytest.fixture
def server(tmp_path):
    """A warm server that preloads `csv` only (the stage checks for it), and its socket."""
    path = str(tmp_path / "warm.sock")
    env = stage_env(None)
    process = subprocess.Popen([sys.executable, "-m", "bakeoff.warm", "--serve", path], env=env)
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        assert process.poll() is None, "the server ended before listening"
        assert time.monotonic() < deadline, "the server did not listen within 60 s"
        time.sleep(0.05)
    yield path, process
    if process.poll() is None:  # not a test that killed it
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert not os.path.exists(path), "the server left its socket behind"


def stage_env(socket_path: str | None, **extra: str) -> dict[str, str]:
    """The environment of the server and the stages (pytest's per-phase variable left out)."""
    env = {**os.environ, warm.PRELOAD_VARIABLE: "csv", **extra}
    for name in (warm.SOCKET, "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    if socket_path:
        env[warm.SOCKET] = socket_path
    return env


def run_stage(folder: Path, socket_path: str | None, *args: str, **extra: str):
    return subprocess.run(
        [sys.executable, "-m", "stagex", *args],
        cwd=folder,
        env=stage_env(socket_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def fields(output: str) -> dict[str, str]:
    words = " ".join(line for line in output.splitlines() if line.startswith("pid")).split()
    return dict(zip(words[::2], words[1::2], strict=True))


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_stage_runs_in_a_fork_with_its_own_arguments_directory_streams_and_status(
    tmp_path, server
):
    path, process = server
    write_stage(tmp_path)
    result = run_stage(tmp_path, path, "ok", "--flag", DVC_EXP_NAME="bar")
    assert result.returncode == 0, result.stderr
    assert f"args ['ok', '--flag'] cwd {tmp_path}" in result.stdout
    seen = fields(result.stdout)
    assert seen["preloaded"] == "True", result.stderr  # imported by the server
    assert seen["frozen"] == "True"  # out of the collector's sight (gc.freeze)
    assert seen["exp"] == "bar"  # the stage's environment (DVC's), which the server's lacks
    assert seen["socket"] == "None"  # what the stage starts, starts cold
    assert "to stderr" in result.stderr and "starts cold" not in result.stderr
    assert int(seen["pid"]) != process.pid

    assert run_stage(tmp_path, path, "fail").returncode == 3
    raised = run_stage(tmp_path, path, "raise")
    assert raised.returncode == 1 and "ValueError: boom" in raised.stderr
    # Killed by the operating system: the stage's process ends by the same signal, so DVC
    # (and bakeoff.watch) see what they would see from a stage in its own process.
    assert run_stage(tmp_path, path, "die").returncode == -signal.SIGKILL


def test_without_a_server_the_stage_runs_cold_and_the_same(tmp_path):
    write_stage(tmp_path)
    result = run_stage(tmp_path, None, "ok")
    assert result.returncode == 0 and fields(result.stdout)["preloaded"] == "False"
    assert run_stage(tmp_path, None, "fail").returncode == 3
    gone_server = run_stage(tmp_path, str(tmp_path / "no.sock"), "ok")
    assert gone_server.returncode == 0 and "starts cold" not in gone_server.stderr


def test_an_edit_to_the_stage_is_what_runs_in_the_next_fork(tmp_path, server):
    write_stage(tmp_path, version=1)
    assert "version 1 " in run_stage(tmp_path, server[0]).stdout
    write_stage(tmp_path, version=2)
    assert "version 2 " in run_stage(tmp_path, server[0]).stdout


def test_an_environment_that_changes_what_imports_do_starts_cold(tmp_path, server):
    write_stage(tmp_path)
    result = run_stage(tmp_path, server[0], OMP_NUM_THREADS="7")
    assert result.returncode == 0
    assert "bakeoff.warm: stagex starts cold" in result.stderr
    assert "OMP_NUM_THREADS differs" in result.stderr
    assert fields(result.stdout)["preloaded"] == "False"


def started_stage(folder: Path, socket_path: str) -> tuple[subprocess.Popen, int]:
    """`stagex sleep` started; (its process, the pid of the fork doing the work)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stagex", "sleep"],
        cwd=folder,
        env=stage_env(socket_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("pid"):
            return process, int(fields(line)["pid"])
    raise AssertionError(process.stderr.read())


def test_a_signal_to_the_stage_reaches_its_fork_and_ends_both_alike(tmp_path, server):
    write_stage(tmp_path)
    process, fork = started_stage(tmp_path, server[0])
    assert fork != process.pid
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM
    assert gone(fork)


def test_a_stage_process_that_dies_takes_its_fork_with_it(tmp_path, server):
    write_stage(tmp_path)
    process, fork = started_stage(tmp_path, server[0])
    process.kill()
    process.wait(timeout=30)
    assert gone(fork), "the fork outlived the stage's process"


def test_a_server_that_dies_mid_stage_fails_the_stage_and_its_fork(tmp_path, server):
    path, server_process = server
    write_stage(tmp_path)
    process, fork = started_stage(tmp_path, path)
    server_process.kill()
    server_process.wait(timeout=30)
    assert process.wait(timeout=30) == 1
    assert "went away" in process.stderr.read()
    assert gone(fork)


def test_a_watched_stage_killed_in_its_fork_is_recorded_by_a_fresh_process(tmp_path, server):
    """bakeoff.watch: the fork's death by SIGKILL runs the recorder, as for a cold child."""
    (tmp_path / "watched.py").write_text(
        textwrap.dedent(
            f"""
            import os, signal, sys
            reason = os.environ.get({KILLED_REASON!r})
            if reason:
                print("recorded:", reason, "preloaded", "csv" in sys.modules, flush=True)
            else:
                os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )
    code = "import sys; from bakeoff.watch import run_watched; sys.exit(run_watched('watched', []))"
    output = run_python(code, cwd=tmp_path, env=stage_env(server[0]))
    assert output.returncode == 0, output.stderr
    assert "recorded: its process was killed by SIGKILL" in output.stdout
    assert "preloaded False" in output.stdout  # the recorder is a process of its own


def test_the_command_runs_with_a_server_that_stops_with_it(tmp_path):
    write_stage(tmp_path)
    script = WAITS_FOR_THE_SERVER + (
        "import subprocess\n"
        "sys.exit(subprocess.run([sys.executable, '-m', 'stagex', 'fail']).returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff.warm", sys.executable, "-c", script],
        cwd=tmp_path,
        env=stage_env(None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr  # the command's status
    assert fields(result.stdout)["preloaded"] == "True"
    socket_path = next(line for line in result.stdout.splitlines() if line.startswith("socket"))
    assert not Path(socket_path.split()[1]).parent.exists(), "the server's folder is left"


def test_a_stage_process_leaves_what_it_holds_out_of_the_exit_s_collections():
    """bakeoff.setup_process: the interpreter's last collections at exit skip the objects a
    stage holds (gc.freeze in an exit handler); seen from an exit handler that runs after."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from bakeoff import setup_process\n"
        "setup_process()\n"
        "print('frozen before:', gc.get_freeze_count() > 0)\n"
    )
    result = run_python(code)
    assert result.stdout.split("\n")[:2] == ["frozen before: False", "frozen at exit: True"]


def test_the_server_ends_when_the_wrapper_that_started_it_is_killed(tmp_path):
    """A `kill -9` of `python -m bakeoff.warm ...` cannot stop its server: the server sees
    its parent gone and ends by itself, instead of holding its memory forever."""
    script = WAITS_FOR_THE_SERVER + "time.sleep(60)\n"
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "bakeoff.warm", sys.executable, "-c", script],
        env=stage_env(None),
        stdout=subprocess.PIPE,
        text=True,
    )
    socket_path = wrapper.stdout.readline().split()[1]
    import psutil

    children = psutil.Process(wrapper.pid).children()
    server = next(p for p in children if "--serve" in p.cmdline())
    wrapper.kill()
    wrapper.wait(timeout=30)
    try:
        assert gone(server.pid), "the server outlived its wrapper"
        assert not os.path.exists(socket_path)
    finally:
        for child in children:  # the command, which nothing else stops
            if child.pid != server.pid:
                child.kill()
