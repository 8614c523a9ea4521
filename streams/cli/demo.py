"""``riskmon demo``: the whole system on one machine.

Starts (unless ``RISKMON_KAFKA_BOOTSTRAP`` / ``RISKMON_PG_DSN`` name external servers) the
embedded Tansu broker and an embedded PostgreSQL, creates the topics, migrates the database,
runs the worker as a child process, and the gateway, the history sink and the simulator in this
process. Prints ``kafka:``, ``dashboard:`` and ``websocket:`` lines once the gateway listens,
and ``login:`` lines: the ``admin`` account it made (on its embedded PostgreSQL it gives ``admin``
a new random password at every start; on an external database it only creates a missing
``admin``), and with ``--insecure-demo-users`` a viewer ``demo``/``demo``.
SIGINT/SIGTERM stops every child; nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from streams.city.config import CityConfig
from streams.ops.embedded import EmbeddedBroker, EmbeddedPostgres, stop_process
from streams.ops.startup import prepare
from streams.settings import Settings

log = logging.getLogger("riskmon.demo")

PR_SET_PDEATHSIG = 1


SIMULATED_FUTURE_S = 10 * 365 * 86_400.0  # --speed > 1: accept inputs years ahead


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the demo process dies (Linux), so no orphans."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """Start ``riskmon worker`` as a child process with ``settings`` in its environment."""
    env = dict(os.environ)
    env["RISKMON_KAFKA_BOOTSTRAP"] = settings.require_bootstrap()
    env["RISKMON_PG_DSN"] = settings.require_pg_dsn()
    env["RISKMON_APP_ID"] = settings.app_id
    env["RISKMON_PARTITIONS"] = str(settings.partitions)
    env["RISKMON_MAX_FUTURE_S"] = str(settings.max_future_s)
    if settings.city is not None:  # the same city as the gateway and the simulator
        env["RISKMON_CITY"] = str(settings.city.resolve())
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, preexec_fn=_die_with_parent
    )


def city_line(config: CityConfig) -> str:
    """What the demo says of its city: name, districts, and how to get exact boundaries.

    >>> from streams.city.config import default_city_config
    >>> city_line(default_city_config())  # doctest: +ELLIPSIS
    'Gimpo-si 김포시 (approximate districts), 14 districts; approximate shapes: ...'
    """
    line = f"{config.city.name}, {len(config.city.codes)} districts"
    if config.approximate:
        line += (
            "; approximate shapes: set RISKMON_CITY to a city folder for the official ones "
            "(riskmon city import)"
        )
    return line


async def demo_users(settings: Settings, *, embedded: bool, insecure: bool) -> list[str]:
    """Make the demo's accounts; the ``login:`` lines to print (the only place a password
    appears: it is never logged)."""
    from dashboard_ws.security.passwords import PasswordHasher
    from streams.persistence import accounts, db

    hasher = PasswordHasher()
    lines: list[str] = []
    now = datetime.now(UTC)
    conn = await db.connect(settings.require_pg_dsn())
    try:
        existing = await accounts.get_user(conn, "admin")
        if existing is None or embedded:
            password = secrets.token_urlsafe(12)
            hashed = await asyncio.to_thread(hasher.hash, password)
            if existing is None:
                await accounts.add_user(conn, "admin", "admin", hashed, now)
            else:
                await accounts.set_password_hash(conn, "admin", hashed, now)
                await accounts.delete_sessions_of(conn, "admin")
            await accounts.audit(
                conn, at=now, actor="demo", action="user.demo_admin", target="admin"
            )
            lines.append(f"login: admin / {password}  (admin; printed once, not stored)")
        else:
            lines.append("login: admin exists in this database: use its password")
        if insecure:
            hashed = await asyncio.to_thread(hasher.hash, "demo")
            if await accounts.get_user(conn, "demo") is None:
                await accounts.add_user(conn, "demo", "viewer", hashed, now)
            else:
                await accounts.set_password_hash(conn, "demo", hashed, now)
            lines.append("login: demo / demo  (viewer; --insecure-demo-users: never in production)")
    finally:
        await conn.close()
    return lines


async def run_demo(
    settings: Settings,
    stop: asyncio.Event,
    *,
    simulator: bool = True,
    speed: float = 1.0,
    rate: float = 120.0,
    insecure_demo_users: bool = False,
) -> None:
    from dashboard_ws.server import Gateway
    from streams.city.config import load_city_config
    from streams.cli.errors import redact_dsn
    from streams.metrics import WorkerMetrics
    from streams.persistence.sink import run_sink
    from streams.simulator.producer import run_simulator

    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    worker: subprocess.Popen[bytes] | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        if not settings.kafka_bootstrap:
            broker = await asyncio.to_thread(EmbeddedBroker.start, settings.data_dir / "tansu")
            settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        if not settings.pg_dsn:
            postgres = await asyncio.to_thread(EmbeddedPostgres.start, settings.data_dir / "pg")
            settings = settings.model_copy(update={"pg_dsn": postgres.dsn})
        if simulator and speed > 1:
            # A faster simulated clock runs ahead of the wall clock the worker reads inputs by.
            settings = settings.model_copy(update={"max_future_s": SIMULATED_FUTURE_S})
        await prepare(settings)
        logins = await demo_users(
            settings, embedded=postgres is not None, insecure=insecure_demo_users
        )
        worker = spawn_worker(settings)
        gateway = Gateway(settings)
        await gateway.start()
        print(f"kafka: {settings.kafka_bootstrap}", flush=True)
        print(f"dashboard: http://{settings.gateway_host}:{gateway.port}/", flush=True)
        print(f"websocket: ws://{settings.gateway_host}:{gateway.port}/ws", flush=True)
        # For `riskmon status`, `replay` and `db` against this demo (RISKMON_PG_DSN=...); the
        # embedded server has no password, an external DSN is shown without its credentials.
        dsn = settings.require_pg_dsn()
        print(f"postgresql: {dsn if postgres else redact_dsn(dsn)}", flush=True)
        print(f"city: {city_line(load_city_config(settings.city))}", flush=True)
        for line in logins:
            print(line, flush=True)

        def task(coro: Coroutine[Any, Any, None]) -> None:
            tasks.append(asyncio.create_task(coro))

        task(run_sink(settings, stop, metrics=WorkerMetrics()))  # not served: the demo's sink
        if simulator:
            task(run_simulator(settings, speed=speed, rate_multiplier=rate, stop=stop))
        while not stop.is_set():
            if worker.poll() is not None:
                log.error("worker exited code=%s; stopping the demo", worker.returncode)
                break
            if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
                break  # the sink or the simulator failed: raised below, once all is stopped
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        stop.set()
        await gateway.stop()
    finally:
        stop.set()
        failed: BaseException | None = None
        for running in tasks:
            try:
                await asyncio.wait_for(running, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception as exc:  # raised once every server is stopped, below
                log.error("demo task failed task=%s error=%r", running.get_name(), exc)
                failed = failed or exc
        if worker is not None:
            await asyncio.to_thread(stop_process, worker, timeout=20)
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        log.info("demo stopped")
        if failed is not None:
            raise failed  # e.g. the sink's permanent SQL error: the demo ends loudly
