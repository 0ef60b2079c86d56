"""``liverburden serve`` in processes of its own, for fault, log and disk-full tests.

:func:`start_serve` runs ``python -m app.cli serve`` (what an operator types). :class:`ServeForker`
is for the SIGKILL rounds: a helper interpreter imports the service once (2-3 s of CPU) and then
forks one child per request; each child runs the same command line (``app.cli.main`` with ``serve
--port N``) in a process of its own that the test kills with SIGKILL. A restart then costs only
the server's own start (migrations check, job recovery), which is what a restart is about. The
helper is single-threaded when it forks (checked), like a pre-loading server master.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.auth.keys import create_key
from app.db import dispose_engine, get_engine, make_session_factory, session_scope, upgrade_database
from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_home(home: Path, roles: tuple[str, ...] = ("radiologist",)) -> dict[str, str]:
    """Migrate the database under ``home`` and create one key per role (connections closed)."""
    home.mkdir(parents=True, exist_ok=True)
    url = Settings(home=home).resolved_database_url
    upgrade_database(url)
    factory = make_session_factory(get_engine(url))
    keys = {}
    with session_scope(factory) as s:
        for role in roles:
            keys[role] = create_key(s, role, f"{role} (fault test)", "test:setup")[1]
    dispose_engine(url)  # the server must be the only writer (and the WAL checkpointed)
    return keys


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class ServeProcess:
    """A running ``liverburden serve`` process (a Popen child, or a forked one by pid)."""

    pid: int
    port: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.popen.poll() is None if self.popen is not None else _alive(self.pid)

    def _wait(self, timeout_s: float) -> None:
        if self.popen is not None:
            self.popen.wait(timeout=timeout_s)
            return
        deadline = time.monotonic() + timeout_s
        while _alive(self.pid):  # reaped by the forker at once (SIGCHLD ignored there)
            if time.monotonic() > deadline:
                raise TimeoutError(f"process {self.pid} did not end")
            time.sleep(0.005)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self._wait(30)

    def stop(self) -> None:
        """SIGTERM and wait (graceful shutdown); SIGKILL after 30 s."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._wait(30)
            except (TimeoutError, subprocess.TimeoutExpired):
                self.kill()


def _env(home: Path, env: dict[str, str] | None) -> dict[str, str]:
    full = {**os.environ, "LIVERBURDEN_HOME": str(home), "PYTHONPATH": str(REPO)}
    full.pop("LIVERBURDEN_DATABASE_URL", None)
    full.pop("LIVERBURDEN_BROKER_URL", None)
    full.update(env or {})
    return full


def wait_healthy(server: ServeProcess, timeout_s: float = 60.0) -> ServeProcess:
    """Return ``server`` once ``/healthz`` answers 200; kill it and raise if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError("liverburden serve exited during start-up")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.01)
    server.kill()
    raise RuntimeError("liverburden serve did not start in time")


def start_serve(
    home: Path,
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    timeout_s: float = 60.0,
) -> ServeProcess:
    """Start ``python -m app.cli serve`` on ``home`` and wait until ``/healthz`` answers."""
    port = free_port()
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=_env(home, env),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
            preexec_fn=preexec_fn,  # only resource limits: no threads exist yet
        )
    finally:
        if log is not None and not isinstance(out, int):
            out.close()
    return wait_healthy(ServeProcess(proc.pid, port, proc), timeout_s)


_FORKER = """
import os, signal, sys, threading
import app.api.main, app.cli.main  # the slow part, once
assert threading.active_count() == 1, "no fork with threads"
log = sys.argv[1]
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
for line in sys.stdin:
    port = line.strip()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.dup2(fd, 1), os.dup2(fd, 2), os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.argv = ["liverburden", "serve", "--port", port]
        try:
            app.cli.main.main()
        finally:
            os._exit(0)
    print(pid, flush=True)
"""


class ServeForker:
    """Forks ``liverburden serve`` processes from one interpreter that imported the service."""

    def __init__(self, home: Path, env: dict[str, str] | None, log: Path) -> None:
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-c", _FORKER, str(log)],
            env=_env(home, env),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def serve(self, timeout_s: float = 60.0) -> ServeProcess:
        """A new ``serve`` process on a free port, once ``/healthz`` answers."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        port = free_port()
        self.proc.stdin.write(f"{port}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the forker ended with {self.proc.wait()}")
        return wait_healthy(ServeProcess(int(line), port), timeout_s)

    def close(self) -> None:
        """End the forker (its children must have been stopped)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
