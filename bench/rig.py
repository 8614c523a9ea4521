"""The servers a benchmark runs on: a fresh PostgreSQL database, the settings and environment of a
worker child process, the process itself (stopped by its PID) and a meter of its CPU time.

Shared by the pipeline, gateway and API benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from pydantic import SecretStr

from bench import progress
from streams.ops.embedded import EmbeddedPostgres, stop_process
from streams.persistence import db
from streams.settings import Settings, Topics

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


# --- servers and the worker ------------------------------------------------------------------


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_database(workdir: Path) -> Iterator[tuple[str, str]]:
    """A fresh database: (its DSN, where the server came from); dropped (and any embedded server
    stopped) on exit."""
    server_dsn = os.environ.get("RISKMON_PG_DSN")
    origin = "RISKMON_PG_DSN"
    embedded: EmbeddedPostgres | None = None
    if not server_dsn:
        if asyncio.run(db.answers(LOCAL_PG)):
            server_dsn, origin = LOCAL_PG, "local 127.0.0.1:5432"
        else:
            progress("pipeline: starting embedded PostgreSQL")
            embedded = EmbeddedPostgres.start(workdir / "pg")
            server_dsn, origin = embedded.dsn, "embedded"
    try:
        name = f"riskmon_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(server_dsn, f'CREATE DATABASE "{name}"'))
        try:
            yield db.with_database(server_dsn, name), origin
        finally:
            asyncio.run(_admin(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        if embedded is not None:
            embedded.stop()


def bench_settings(kafka_bootstrap: str, pg_dsn: str, data_dir: Path) -> Settings:
    """Settings with topic names and consumer group of this run only; the rest as in the
    environment (``RISKMON_HANDOFF=false python -m bench --only pipeline`` measures the worker
    without its in-process hand-off), else the defaults."""
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        **{name: f"b{tag}.{default}" for name, default in Topics().model_dump().items()}
    )
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        pg_dsn=pg_dsn,
        topics=topics,
        app_id=f"riskmon-bench-{tag}",
        gateway_host="127.0.0.1",
        gateway_port=0,
        data_dir=data_dir,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process that reads back exactly ``settings``."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude={"topics"}).items():
        if value is None:
            env.pop(f"RISKMON_{name.upper()}", None)
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, tuple | list | dict):
            value = json.dumps(value)  # how pydantic-settings reads complex values
        env[f"RISKMON_{name.upper()}"] = str(value)
    for name, topic in settings.topics.model_dump().items():
        env[f"RISKMON_TOPICS__{name.upper()}"] = topic
    return env


class WorkerProcess:
    """``riskmon worker`` as a child process, output to a log file; stopped by its PID."""

    def __init__(self, settings: Settings, log_path: Path, profile: Path | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.profile = profile
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Under cProfile the worker writes its profile when it exits after SIGTERM.
        profiler = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *profiler, "-m", "streams.cli", "worker"],
                cwd=ROOT,
                env=settings_env(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        """SIGTERM to its PID; SIGKILL if it has not exited 30 s later."""
        if self.process is not None:
            stop_process(self.process, timeout=30)

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the worker died; log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU used by the worker, the broker and this process over a stretch of wall time."""

    pids: dict[str, int]
    start_wall: float = 0.0
    start_cpu: dict[str, float | None] = field(default_factory=dict)

    def start(self) -> None:
        self.start_wall = time.perf_counter()
        self.start_cpu = self._now()

    def shares(self) -> dict[str, float | None]:
        """Cores used on average since :meth:`start` per process (1.0 = one core busy)."""
        wall = time.perf_counter() - self.start_wall
        now = self._now()
        out: dict[str, float | None] = {}
        for name, before in self.start_cpu.items():
            after = now[name]
            out[name] = (
                None if before is None or after is None else round((after - before) / wall, 2)
            )
        return out

    def _now(self) -> dict[str, float | None]:
        cpu: dict[str, float | None] = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["bench"] = time.process_time()
        return cpu


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-file limit (the gateway, its child, inherits it); the limit in
    force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
