"""Warm stage processes: the pipeline's stages forked from one process that has already
imported their libraries, instead of each importing them again.

    python -m bakeoff.warm dvc exp run [...]     # what `make run` runs
    python -m bakeoff.warm dvc repro [...]

Every stage is its own process (DVC's contract: a stage is a command), and every such
process used to import scikit-learn, MLflow (and its SQL store), pandas, matplotlib and, for
a network, torch and Lightning: several seconds per stage, and the largest part of a small
bake-off's wall time. `python -m bakeoff.warm <command>` starts a server that imports those
libraries once, runs `<command>` with BAKEOFF_WARM_SOCKET set, and stops the server when the
command ends. A stage started under it (`python -m bakeoff.stages.<name>`, from DVC as
always) asks the server for a fork of itself and runs in that fork: the same module, the
same arguments, working directory, environment and standard streams, and its exit status
is the stage's. Without the server (a plain `dvc repro`), or when it cannot serve a
request, the stage runs as before, in its own process: the result is the same either way,
only the start is slower.

What keeps a fork equivalent to a fresh process:
- the server imports third-party libraries only, never bakeoff: the stage imports this
  checkout's code in the fork, so an edit made while the server runs is what runs;
- a request whose environment differs from the server's in a variable that libraries read
  when imported (threads, paths, devices, ...; anything but RUN_TIME_NAMES and _PREFIXES) is
  refused and the stage starts cold, with one line saying which variable;
- the fork takes the request's environment, directory, arguments and streams, gets its own
  process group (like the watched child, bakeoff.watch), and the stage's process forwards
  SIGINT and SIGTERM to it once; its wait status (exit code, or the signal that killed it)
  comes back to the stage's process, so an out-of-memory kill is still seen as one;
- a stage's process that goes away takes its fork with it (SIGTERM), and a server that
  goes away mid-stage fails that stage (its fork is killed), never a silent success.

This module imports only the standard library: a stage's process reads it before anything
heavy.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOCKET = "BAKEOFF_WARM_SOCKET"  # where the server listens, for the stages under it
STAGE_PID = "BAKEOFF_WARM_STAGE_PID"  # in a fork: the stage's process it works for
# Environment variables a stage may have that the server has not, or with other values:
# set per stage by DVC, bakeoff, the shell or pytest, read at run time, never when a
# library is imported.
RUN_TIME_PREFIXES = ("DVC_", "BAKEOFF_", "MLFLOW_EXPERIMENT_")
RUN_TIME_NAMES = {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_RUN_ID"}
RUN_TIME_NAMES |= {"PWD", "OLDPWD", "SHLVL", "_", "PYTEST_CURRENT_TEST"}
# What the server imports: the stages' third-party libraries (a missing one is skipped).
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "pandera.pandas",  # validate's schema
    "scipy.stats",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.inspection",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "yaml",
    "omegaconf",
    "hydra.utils",
    "jinja2",
    "matplotlib",
    "matplotlib.pyplot",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.models",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "torch",
    "lightning",
    "tabm",
    "rtdl_num_embeddings",
)
IMPORT_SECONDS = "BAKEOFF_WARM_IMPORT_SECONDS"  # in a fork: what the server's imports took
PRELOAD_VARIABLE = "BAKEOFF_WARM_PRELOAD"  # another list, comma-separated (the tests' own)
TORCH_FAMILY = ("torch", "lightning", "tabm", "rtdl_num_embeddings")
HEADER = struct.Struct("!I")  # the request's length, sent with the three standard streams


class ServerLost(RuntimeError):
    """The warm server went away while a stage ran in its fork."""


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


class _Lines:
    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def read(self) -> dict | None:
        """The next message, None when the other side has closed."""
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


# --- the stage's side ----------------------------------------------------------------------


class WarmChild:
    """A stage running in a fork of the server: the parts of subprocess.Popen that the
    watcher uses (pid, send_signal, wait)."""

    def __init__(self, conn: socket.socket, pid: int, lines: _Lines) -> None:
        self.conn, self.pid, self.lines = conn, pid, lines
        self.returncode: int | None = None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(self.pid, signum)

    def wait(self) -> int:
        """The fork's returncode as Popen gives it: the exit status, or minus the signal."""
        if self.returncode is None:
            try:
                message = self.lines.read()
            finally:
                self.conn.close()
            if message is None or "status" not in message:
                # The server is gone: its fork must not outlive the stage unseen.
                _kill_group(self.pid, signal.SIGKILL)
                raise ServerLost(
                    f"the warm stage server ({os.environ.get(SOCKET)}) went away while "
                    f"pid {self.pid} ran this stage; run the command again"
                )
            self.returncode = int(message["status"])
        return self.returncode


def start(module: str, args: list[str], env: dict[str, str] | None = None) -> WarmChild | None:
    """`python -m module *args` in a fork of the warm server; None when no server is set
    or reachable, or it refuses (it prints why): the caller then starts the stage cold."""
    path = os.environ.get(SOCKET)
    if not path:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    request = {
        "module": module,
        "args": list(args),
        "cwd": os.getcwd(),
        "env": dict(os.environ if env is None else env),
        "executable": sys.executable,
        "pid": os.getpid(),
    }
    payload = json.dumps(request).encode()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    socket.send_fds(conn, [HEADER.pack(len(payload))], [0, 1, 2])
    conn.sendall(payload)
    lines = _Lines(conn)
    answer = lines.read()
    if answer is None or "pid" not in answer:
        conn.close()
        reason = "it closed the connection" if answer is None else answer.get("refused")
        print(f"bakeoff.warm: {module} starts cold: {reason}", file=sys.stderr, flush=True)
        return None
    return WarmChild(conn, int(answer["pid"]), lines)


def preload_seconds(names: tuple[str, ...]) -> float | None:
    """In a fork: how long the server took to import these modules (each after the ones
    before it in PRELOAD, so the sum is their import's); None elsewhere, or when it
    imported none of them."""
    record = json.loads(os.environ.get(IMPORT_SECONDS) or "{}")
    found = [record[name] for name in names if name in record]
    return sum(found) if found else None


def stage_pid() -> int:
    """The process DVC started for this stage: this one, or in a fork of the server the
    stage's process it works for (whose parents are the stage's: DVC, ...)."""
    pid = os.environ.get(STAGE_PID)
    return int(pid) if pid else os.getpid()


def run_here_or_warm(module: str) -> None:
    """At the top of a stage module, before its imports: run the stage in a fork of the
    warm server and exit with its status; return (run it here) when there is none."""
    child = start(module, sys.argv[1:])
    if child is None:
        return

    def forward(signum: int, frame) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    try:
        status = child.wait()
    except ServerLost as error:
        sys.exit(f"{module}: {error}")
    exit_like(status)


def exit_like(status: int) -> None:
    """End this process the way the fork ended: its exit status, or the same signal (so
    DVC sees what it would have seen from the stage in its own process)."""
    if status >= 0:
        sys.exit(status)
    if -status not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(-status, signal.SIG_DFL)
    sys.stdout.flush()
    os.kill(os.getpid(), -status)
    sys.exit(128 - status)  # a signal that does not end a process by default


# --- the server's side ---------------------------------------------------------------------


def _refusal(request: dict, environment: dict[str, str]) -> str | None:
    """Why a fork of this server (started with `environment`) would not be the process the
    request asks for."""
    if request["executable"] != sys.executable:
        return f"another interpreter ({request['executable']}, the server has {sys.executable})"
    theirs, ours = request["env"], environment
    for name in sorted(set(theirs) | set(ours)):
        if theirs.get(name) == ours.get(name) or name in RUN_TIME_NAMES:
            continue
        if not name.startswith(RUN_TIME_PREFIXES):
            return f"the environment variable {name} differs from the server's"
    return None


def _become_stage(request: dict, fds: list[int]) -> None:
    """In the fork: take the request's streams, environment, directory and arguments."""
    os.setpgid(0, 0)
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    # The fork is the stage: what it starts (a recorder, a worker) starts cold.
    os.environ.pop(SOCKET, None)
    os.environ[STAGE_PID] = str(request["pid"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as `python -m` puts the working directory first
    sys.argv = ["-m", *request["args"]]  # runpy replaces argv[0] with the module's file
    for name in [m for m in sys.modules if m == "bakeoff" or m.startswith("bakeoff.")]:
        del sys.modules[name]  # the stage imports this checkout's bakeoff itself


def serve(path: str) -> dict | None:
    """Import PRELOAD, then fork a stage for each request on `path` until SIGTERM. In the
    server: None, once stopped. In a fork: the request, for the caller to run."""
    environment = dict(os.environ)  # what a stage's is compared with
    parent = os.getppid()  # the command's wrapper: the server does not outlive it
    _preload()
    # What importing set (some libraries export a variable when imported): a fresh process
    # would have it too once it imported them, so the forks get it as well.
    set_by_imports = {k: v for k, v in os.environ.items() if environment.get(k) != v}
    # What is imported now lasts as long as the server: out of the garbage collector's
    # sight (Python's advice for a process that forks without exec), so a fork's
    # collections, and its exit, do not walk the hundreds of thousands of objects it
    # inherits (interpreter shutdown over them alone took seconds per stage).
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".part")
    listener.listen(16)
    os.replace(path + ".part", path)  # connectable only once everything is imported
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # fork's pid -> its stage's connection
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the stages, via their processes
    try:
        while not stopping and os.getppid() == parent:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    request = _accept(conn, selector, children, environment)
                    if request is not None:  # this is the fork
                        listener.close()
                        children.clear()  # its siblings are the server's, not its own
                        os.environ.update(set_by_imports)
                        return request
                else:  # a stage's process closed its side: it is gone, so is its fork
                    pid = key.data
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    if children.pop(pid, None) is not None:
                        _kill_group(pid, signal.SIGTERM)
            _reap(children, selector)
    finally:
        for pid in children:
            _kill_group(pid, signal.SIGTERM)
    listener.close()
    Path(path).unlink(missing_ok=True)
    return None


def _preload() -> None:
    import importlib

    chosen = os.environ.get(PRELOAD_VARIABLE)
    seconds = {}
    for name in chosen.split(",") if chosen else PRELOAD:
        if name in TORCH_FAMILY and _has_cuda_devices():
            continue
        started = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        seconds[name] = round(time.perf_counter() - started, 3)
        if name == "matplotlib":
            module.use("Agg")  # the server never draws; bakeoff.reporting.plots does the same
    # For the forks: what a fresh process pays for these imports on this machine now
    # (preload_seconds; a refit worker is such a process).
    os.environ[IMPORT_SECONDS] = json.dumps(seconds)


def _has_cuda_devices() -> bool:
    # A fork must not inherit an initialised CUDA driver, so on a machine with NVIDIA
    # devices the stages import torch themselves.
    return Path("/dev/nvidiactl").exists()


def _accept(
    conn: socket.socket, selector, children: dict[int, socket.socket], environment: dict
) -> dict | None:
    """Read a request, refuse it or fork for it; the request in the fork, else None."""
    data, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    (length,) = HEADER.unpack(data)
    payload = b""
    while len(payload) < length:
        chunk = conn.recv(length - len(payload))
        if not chunk:
            break
        payload += chunk
    request = json.loads(payload)
    reason = _refusal(request, environment)
    if reason is not None or len(fds) != 3:
        _send(conn, {"refused": reason or "the standard streams did not arrive"})
        conn.close()
        for fd in fds:
            os.close(fd)
        return None
    pid = os.fork()
    if pid == 0:
        selector.close()
        for other in children.values():
            other.close()
        conn.close()
        _become_stage(request, fds)
        return request
    for fd in fds:
        os.close(fd)
    children[pid] = conn
    selector.register(conn, selectors.EVENT_READ, data=pid)
    _send(conn, {"pid": pid})
    return None


def _reap(children: dict[int, socket.socket], selector) -> None:
    """Wait for every fork that has ended (those whose stage went first too) and send its
    status to its stage's process."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        selector.unregister(conn)
        with contextlib.suppress(OSError):  # the stage's process may already be gone
            _send(conn, {"status": os.waitstatus_to_exitcode(status)})
        conn.close()


def _kill_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


# --- the command's side --------------------------------------------------------------------


def run_with_server(command: list[str]) -> int:
    """Start the server, run `command` with its socket in the environment, stop it."""
    with tempfile.TemporaryDirectory(prefix="bakeoff-warm-") as folder:
        path = str(Path(folder) / "stages.sock")
        # Its own session: a Ctrl-C on the terminal reaches the stages' processes, which
        # forward it to their forks once, not the server and every fork directly.
        server = subprocess.Popen(
            [sys.executable, "-m", "bakeoff.warm", "--serve", path], start_new_session=True
        )
        env = {**os.environ, SOCKET: path}
        # The first stages (config, ingest) are cheap and start cold while the server
        # imports; the rest find it ready.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command gets it
        try:
            try:
                status = subprocess.run(command, env=env, check=False).returncode
            except FileNotFoundError:
                print(f"bakeoff.warm: no such command: {command[0]}", file=sys.stderr)
                status = 127
        finally:
            signal.signal(signal.SIGINT, previous)
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        return status if status >= 0 else 128 - status


def main(argv: list[str]) -> dict | None:
    if argv[:1] == ["--serve"]:
        return serve(argv[1])
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        sys.exit("usage: python -m bakeoff.warm <command> [args...]   (e.g. dvc exp run)")
    if sys.platform != "linux":  # forking after importing GUI-linked libraries is unsafe on macOS
        sys.exit(subprocess.run(command, check=False).returncode)
    sys.exit(run_with_server(command))


if __name__ == "__main__":
    stage = main(sys.argv[1:])
    if stage is not None:  # a fork of the server: run the stage, here, at the top level
        import runpy

        runpy.run_module(stage["module"], run_name="__main__", alter_sys=True)
