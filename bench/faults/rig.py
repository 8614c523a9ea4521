"""Servers and processes of a fault scenario: settings of one run, riskmon child processes that
can be killed, restarted and supervised, a controllable PostgreSQL, and an RSS sampler.

Every child is started and stopped by its PID; :class:`Rig` stops whatever is left on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

from bench import progress
from bench.rig import ROOT, bench_settings, settings_env
from streams.ops.embedded import EmbeddedBroker, EmbeddedPostgres, stop_process
from streams.persistence import db
from streams.settings import Settings

MIB = 1024 * 1024


def fault_settings(
    kafka_bootstrap: str, pg_dsn: str, data_dir: Path, **overrides: object
) -> Settings:
    """Settings of one scenario: topics and consumer group of this run, a 1 s tick, a token
    secret for the gateway; ``overrides`` replace any of them."""
    base = bench_settings(kafka_bootstrap, pg_dsn, data_dir)
    values: dict[str, object] = base.model_dump(exclude={"auth_secret"})
    values.update(
        tick_interval_s=1.0,
        auth_secret="riskmon fault suite: a token secret of 32+ bytes",
        **overrides,
    )
    return Settings.model_validate(values)


class Child:
    """``riskmon <command>`` as a child process: log to a file, SIGKILL or SIGTERM by PID, and
    restarts counted. ``supervise`` restarts it when it exits by itself (an orchestrator's
    restart policy), after ``restart_delay_s``."""

    def __init__(
        self, name: str, command: str, settings: Settings, log_dir: Path, **env: str
    ) -> None:
        self.name = name
        self.command = command
        self.settings = settings
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []  # exit codes of exits we did not cause
        self.kills = 0
        self._expected_exit = False

    def start(self) -> None:
        env = settings_env(self.settings)
        env.update(self.env)
        with self.log_path.open("ab") as out:
            out.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", self.command],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        self._expected_exit = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final checkpoint or flush."""
        if self.process is not None and self.process.poll() is None:
            self._expected_exit = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(15)
            self.kills += 1

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM; SIGKILL if it has not exited ``timeout_s`` later."""
        if self.process is not None:
            self._expected_exit = True
            stop_process(self.process, timeout=timeout_s)

    def check_exit(self) -> bool:
        """Whether it exited by itself since the last look (the exit is then recorded)."""
        if self.process is None or self._expected_exit:
            return False
        code = self.process.poll()
        if code is None:
            return False
        self._expected_exit = True
        self.exits.append(code)
        progress(f"{self.name} exited by itself with status {code}")
        return True

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


async def supervise(children: list[Child], stop: asyncio.Event, delay_s: float = 1.0) -> None:
    """Restart any of ``children`` that exits by itself (not by our kill or stop) until ``stop``."""
    while not stop.is_set():
        for child in children:
            if child.check_exit():
                await asyncio.sleep(delay_s)
                child.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


class RssPeak:
    """Peak RSS per role of the processes ``pids()`` returns, sampled every ``interval_s`` on a
    thread (processes come and go: a killed worker's successor is sampled too)."""

    def __init__(self, pids: Callable[[], dict[str, list[int]]], interval_s: float = 0.25) -> None:
        self._pids = pids
        self.interval_s = interval_s
        self.peak: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        for role, pids in self._pids().items():
            total = 0
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    total = max(total, psutil.Process(pid).memory_info().rss)
            self.last[role] = total
            self.peak[role] = max(self.peak.get(role, 0), total)

    def peak_mib(self, role: str) -> float | None:
        value = self.peak.get(role)
        return round(value / MIB, 1) if value else None


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Rig:
    """The servers and children of one scenario; :meth:`close` stops them all (by PID)."""

    workdir: Path
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    children: list[Child] = field(default_factory=list)

    def start_broker(self, port: int = 0) -> EmbeddedBroker:
        self.broker = EmbeddedBroker.start(
            self.workdir / f"tansu-{uuid.uuid4().hex[:6]}", port=port
        )
        return self.broker

    def stop_broker(self) -> None:
        if self.broker is not None:
            self.broker.stop()

    def start_postgres(self) -> EmbeddedPostgres:
        """An embedded PostgreSQL this scenario may stop and start (never the shared server)."""
        self.postgres = EmbeddedPostgres.start(self.workdir / "pg")
        return self.postgres

    def child(self, name: str, command: str, settings: Settings, **env: str) -> Child:
        made = Child(name, command, settings, self.workdir, **env)
        self.children.append(made)
        return made

    def close(self) -> None:
        for made in self.children:
            with contextlib.suppress(Exception):
                made.stop()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.stop()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop()


@contextlib.contextmanager
def rig(workdir: Path) -> Iterator[Rig]:
    made = Rig(workdir)
    try:
        yield made
    finally:
        made.close()


async def fresh_database(server_dsn: str) -> str:
    """A new database on ``server_dsn``, migrated; its DSN (dropped by :func:`drop_database`)."""
    name = f"riskmon_faults_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = db.with_database(server_dsn, name)
    conn = await db.connect(dsn)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    return dsn


async def drop_database(server_dsn: str, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[-1].split("?", 1)[0]
    with contextlib.suppress(Exception):
        admin = await asyncpg.connect(server_dsn, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


async def shared_server_dsn(rig: Rig) -> str:
    """``RISKMON_PG_DSN`` (the server), else the machine's PostgreSQL on 127.0.0.1:5432 when it
    answers, else an embedded one (for scenarios that do not stop PostgreSQL)."""
    given = os.environ.get("RISKMON_PG_DSN")
    if given:
        return given
    if await db.answers(LOCAL_PG):
        return LOCAL_PG
    return (await asyncio.to_thread(rig.start_postgres)).dsn


async def wait_until(check: Callable[[], object], within: float, interval: float = 0.25) -> bool:
    """Poll ``check()`` (sync or async) until truthy; False after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


async def run_cli(settings: Settings, *args: str, limit_s: float = 120.0) -> tuple[int, str]:
    """``riskmon ARGS`` run to its end with ``settings``: (exit status, stdout + stderr)."""

    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streams.cli", *args],
            cwd=ROOT,
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=limit_s,
        )

    done = await asyncio.to_thread(call)
    return done.returncode, done.stdout + done.stderr
