"""Fixtures for tests that need a real MLflow tracking server backed by a real PostgreSQL.

conftest.py re-exports them, so any test can ask for them by name.

* ``postgres_url`` initdb's a throw-away cluster in a fresh temporary directory, starts it on
  a free port bound to 127.0.0.1 only (its unix socket lives in that directory too), creates
  the ``mlflow`` database and yields a SQLAlchemy URL,
  ``postgresql+psycopg2://mlflow:<password>@127.0.0.1:<port>/mlflow``.
* ``mlflow_server`` runs ``mlflow server`` (the executable next to ``sys.executable``) on
  another free 127.0.0.1 port against that database, proxying artifacts to a temporary
  directory, and yields ``MlflowServer(uri, artifacts, log)``.

* ``mlflow_ui(project, log)`` (a context manager, not a fixture) runs ``mlflow ui`` over a
  project's own store (``mlflow.db``, artifacts in ``mlartifacts/``), as ``make ui`` does, on
  a free 127.0.0.1 port and yields its URL.

Both fixtures are module-scoped; each is torn down (server stopped, directories deleted) after the
module's last test. When PostgreSQL's server binaries or psycopg2 are missing, or PostgreSQL
will not start, the tests that use them are skipped with the reason (install hints and the
server's own output included); an ``mlflow server`` that will not start fails them. Set ``BAKEOFF_REQUIRE_TRACKING_SERVER=1`` to make that a
failure instead, e.g. on a CI machine that is meant to have PostgreSQL.

PostgreSQL refuses to run as root. Under euid 0 the cluster is created and run as the
``postgres`` system user (created by Debian's package), else as ``nobody``: the data directory
is made with ``tempfile.mkdtemp`` directly under /tmp (pytest's own /tmp/pytest-of-root is mode
700, which that user could not traverse) and chown'ed to it, and initdb/pg_ctl are started with
``subprocess``'s ``user=``/``group=``/``extra_groups=[]``: setuid/setgid in the child, no
dependency on runuser/su/sudo or on PAM.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, NoReturn

import pytest

# Where to look for initdb/pg_ctl, in order: $PG_BINDIR if set, then Debian/Ubuntu's
# versioned directories (newest first), then $PATH.
PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")  # Debian/Ubuntu, RHEL (PGDG)
PG_INSTALL_HINT = (
    "install PostgreSQL's server package (Debian/Ubuntu: `apt-get install postgresql`; "
    "RHEL/Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql`), "
    "or point PG_BINDIR at a directory holding initdb and pg_ctl"
)
PG_USER = "mlflow"
PG_DATABASE = "mlflow"
# Users to run PostgreSQL as when we are root, in order of preference.
UNPRIVILEGED_USERS = ("postgres", "nobody")
PG_START_TIMEOUT_S = 60
MLFLOW_START_TIMEOUT_S = 90
START_ATTEMPTS = 3  # a new free port each time: another process may grab ours in between


class MlflowServer(NamedTuple):
    uri: str  # http://127.0.0.1:PORT
    artifacts: Path  # the --artifacts-destination directory
    log: Path  # the server's stdout and stderr


class _Unavailable(Exception):
    """The fixture cannot provide its server on this machine (skip, not fail)."""


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("BAKEOFF_REQUIRE_TRACKING_SERVER", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def find_pg_bindir() -> Path | None:
    """The first directory holding both initdb and pg_ctl, or None."""
    if env_dir := os.environ.get("PG_BINDIR"):
        candidates = [env_dir]
    else:
        candidates = []
        for pattern in PG_BIN_GLOBS:
            candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
        if on_path := shutil.which("initdb"):
            candidates.append(os.path.dirname(os.path.realpath(on_path)))
            candidates.append(os.path.dirname(on_path))
    for directory in candidates:
        if all(os.access(os.path.join(directory, exe), os.X_OK) for exe in ("initdb", "pg_ctl")):
            return Path(directory)
    return None


class _PgRunner:
    """Runs PostgreSQL's programs as ourselves, or as an unprivileged user when we are root."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.uid, self.gid, self.name = os.geteuid(), os.getegid(), None
        if self.as_root:
            for name in UNPRIVILEGED_USERS:
                with contextlib.suppress(KeyError):
                    entry = pwd.getpwnam(name)
                    self.uid, self.gid, self.name = entry.pw_uid, entry.pw_gid, name
                    break
            else:
                raise _Unavailable(
                    "running as root, and PostgreSQL refuses to: found none of the users "
                    f"{', '.join(UNPRIVILEGED_USERS)} to run it as"
                )

    def own(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def run(self, args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        extra: dict = {}
        if self.as_root:
            extra = {"user": self.uid, "group": self.gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self.as_root:
            env.update(HOME=str(cwd), USER=self.name, LOGNAME=self.name)
        return subprocess.run(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **extra,
        )


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise _Unavailable(
            f"{what} failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}"
        )


def _create_database(port: int, password: str) -> None:
    import psycopg2

    # Over TCP with the password: proves the role's password authentication works.
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=port,
        user=PG_USER,
        password=password,
        dbname="postgres",
        connect_timeout=10,
    )
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL to a fresh database on a throw-away PostgreSQL server on 127.0.0.1."""
    try:
        import psycopg2  # noqa: F401  (MLflow's server and our setup both need it)
    except ImportError:
        _unavailable(
            "psycopg2 is not installed in this environment: `pip install psycopg2-binary` "
            "(MLflow's server needs it to talk to PostgreSQL)"
        )
    bindir = find_pg_bindir()
    if bindir is None:
        where = os.environ.get("PG_BINDIR") or ", ".join(PG_BIN_GLOBS) + " or $PATH"
        _unavailable(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found in {where}: {PG_INSTALL_HINT}"
        )
    initdb, pg_ctl = str(bindir / "initdb"), str(bindir / "pg_ctl")

    try:
        runner = _PgRunner()
    except _Unavailable as exc:
        _unavailable(str(exc))
    # Under root: /tmp (world-traversable), not pytest's mode-700 tmp dirs; see the docstring.
    base = Path(tempfile.mkdtemp(prefix="pytest-pg-", dir="/tmp" if runner.as_root else None))
    data, log = base / "data", base / "server.log"
    started = False
    try:
        runner.own(base)
        password = secrets.token_urlsafe(16)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        runner.own(pwfile)
        # Password (scram-sha-256) authentication over TCP; trust only on the unix socket,
        # which lives in `base` (mode 700, owned by the server's user).
        _check(
            runner.run(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    PG_USER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ],
                cwd=base,
                timeout=120,
            ),
            f"initdb ({initdb})",
        )
        pwfile.unlink()
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            with (data / "postgresql.conf").open("a") as conf:
                # A later setting wins, so each attempt may append its own port.
                conf.write(
                    "\n# pytest tracking_server fixture\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {port}\n"
                    f"unix_socket_directories = '{base}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
            log_start = log.stat().st_size if log.exists() else 0
            proc = runner.run(
                [
                    pg_ctl,
                    "start",
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    str(PG_START_TIMEOUT_S),
                ],
                cwd=base,
                timeout=PG_START_TIMEOUT_S + 30,
            )
            if proc.returncode == 0:
                started = True
                break
            server_log = (
                log.read_bytes()[log_start:].decode(errors="replace") if log.exists() else ""
            )
            if attempt == START_ATTEMPTS or "already in use" not in server_log:
                _check(proc, f"pg_ctl start ({pg_ctl}); server log:\n{_tail(server_log)}\n")
        _create_database(port, password)
    except (_Unavailable, OSError, subprocess.SubprocessError, ImportError) as exc:
        _stop_postgres(runner, pg_ctl, data, base, started)
        _unavailable(f"could not start a PostgreSQL server with {bindir}: {exc}")
    except Exception as exc:  # psycopg2.Error and the like: still a "cannot start"
        _stop_postgres(runner, pg_ctl, data, base, started)
        _unavailable(f"PostgreSQL started but could not be set up: {type(exc).__name__}: {exc}")

    try:
        yield f"postgresql+psycopg2://{PG_USER}:{password}@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        _stop_postgres(runner, pg_ctl, data, base, started)


def _stop_postgres(runner: _PgRunner, pg_ctl: str, data: Path, base: Path, started: bool) -> None:
    try:
        if started or (data / "postmaster.pid").exists():
            proc = runner.run([pg_ctl, "stop", "-D", str(data), "-m", "fast", "-w"], base, 60)
            pidfile = data / "postmaster.pid"
            if proc.returncode != 0 and pidfile.exists():  # last resort: no orphaned server
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _mlflow_command() -> list[str]:
    exe = Path(sys.executable).parent / "mlflow"  # not resolve()d: keep the venv's bin/
    return [str(exe)] if os.access(exe, os.X_OK) else [sys.executable, "-m", "mlflow"]


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _stop_process_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    # uvicorn workers and the like may outlive the CLI process; SIGKILL whatever is left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _start_mlflow(cmd: list[str], env: dict, cwd: Path, log: Path, uri: str) -> subprocess.Popen:
    """Start the server and wait until it answers; on failure stop it and raise RuntimeError."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for teardown
        )
    deadline = time.monotonic() + MLFLOW_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with code {proc.returncode}")
            with contextlib.suppress(OSError):
                if _get(f"{uri}/health", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not answer {uri}/health within {MLFLOW_START_TIMEOUT_S} s"
                )
            time.sleep(0.25)
        # /health is exempt from the server's Host-header check; the API is not.
        status, body = _get(f"{uri}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=30)
        if status != 200:
            raise RuntimeError(f"mlflow server's API answered HTTP {status}: {body[:500]}")
    except BaseException:
        _stop_process_group(proc)
        raise
    return proc


@contextlib.contextmanager
def _running_mlflow(args: list[str], cwd: Path, log: Path, secret: str = "") -> Iterator[str]:
    """`mlflow <args>` on a free 127.0.0.1 port until the block ends; yields its URL. `secret`
    (a password in `args`) is kept out of the log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        # Default on in MLflow 3.x: also starts a huey job-runner (more processes, a temp
        # dir in /dev/shm) that these tests do not use.
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        PYTHONUNBUFFERED="1",
    )
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        uri = f"http://127.0.0.1:{port}"
        cmd = [
            *_mlflow_command(),
            *args,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", "1",
        ]  # fmt: skip
        line = f"=== attempt {attempt}: {' '.join(cmd)}\n"
        with log.open("a") as out:
            out.write(line.replace(secret, "<secret>") if secret else line)
        log_start = log.stat().st_size
        try:
            proc = _start_mlflow(cmd, env, cwd, log, uri)
            break
        except RuntimeError as exc:
            text = log.read_bytes()[log_start:].decode(errors="replace")
            if attempt < START_ATTEMPTS and "address already in use" in text.lower():
                continue
            pytest.fail(f"{exc}; last lines of {log}:\n{_tail(text)}", pytrace=False)
    try:
        yield uri
    finally:
        _stop_process_group(proc)


@pytest.fixture(scope="module")
def mlflow_server(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A real `mlflow server` on 127.0.0.1 storing runs in PostgreSQL and artifacts on disk."""
    workdir = tmp_path_factory.mktemp("mlflow-server")
    artifacts, log = workdir / "artifacts", workdir / "server.log"
    artifacts.mkdir()
    args = [
        "server",
        "--backend-store-uri", postgres_url,
        "--artifacts-destination", artifacts.as_uri(),
    ]  # fmt: skip
    with _running_mlflow(args, workdir, log, secret=postgres_url) as uri:
        yield MlflowServer(uri=uri, artifacts=artifacts, log=log)


@contextlib.contextmanager
def mlflow_ui(project: Path, log: Path) -> Iterator[str]:
    """`mlflow ui` over a project's store (mlflow.db, artifacts in mlartifacts/), as `make ui`
    starts it; yields its URL."""
    store = f"sqlite:///{project / 'mlflow.db'}"
    with _running_mlflow(["ui", "--backend-store-uri", store], project, log) as uri:
        yield uri
