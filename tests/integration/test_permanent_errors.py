"""On a real PostgreSQL: an error in riskmon's own SQL is raised at once by the code paths that
retry (sink, retention, checkpoint store, startup) instead of being retried for ever, while an
unreachable server is still retried. The bound (10 s) is a hang detector, not a speed target."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from streams.contract.deadletters import RawRecord, dead_letter
from streams.ops.embedded import free_port
from streams.ops.startup import migrate_db
from streams.persistence import db, writes
from streams.persistence.checkpoints import CheckpointUnavailable, PgCheckpointStore
from streams.persistence.retention import retention_loop
from streams.persistence.sink import Batch, write_with_retry
from streams.settings import Settings

pytestmark = pytest.mark.integration

BOUND_S = 10.0
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def settings_for(dsn: str) -> Settings:
    return Settings.model_validate({"pg_dsn": dsn, "retention_interval_s": 3600})


def one_dead_letter(settings: Settings) -> Batch:
    batch = Batch(settings)
    raw = RawRecord("riskmon.incidents", 0, 7, None, b"{}")
    batch.dead.append(dead_letter(raw, "schema", "a test record", NOW))
    return batch


async def test_sink_raises_an_sql_error_at_once(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await db.connect(pg_dsn)
    await db.migrate(conn)

    async def broken_sql(conn: Any, *rows: Any) -> int:
        await conn.fetch("SELECT * FROM no_such_table")
        return 1

    monkeypatch.setattr(writes, "write_batch", broken_sql)
    settings = settings_for(pg_dsn)
    try:
        with pytest.raises(asyncpg.UndefinedTableError, match="no_such_table"):
            await asyncio.wait_for(
                write_with_retry(pg_dsn, conn, one_dead_letter(settings), asyncio.Event()),
                timeout=BOUND_S,
            )
    finally:
        await conn.close()
    assert "sink write failed permanently" in caplog.text
    assert "retrying in" not in caplog.text


async def test_sink_still_retries_an_unreachable_server(caplog: pytest.LogCaptureFixture) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"  # nothing listens there
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(1.5, stop.set)
    with caplog.at_level(logging.WARNING, logger="riskmon.sink"):
        conn = await asyncio.wait_for(
            write_with_retry(dsn, None, one_dead_letter(settings_for(dsn)), stop),
            timeout=BOUND_S,
        )
    assert conn is None  # gave up only because stop was set
    assert "sink write failed, retrying" in caplog.text


async def test_retention_raises_an_sql_error_at_once(pg_dsn: str) -> None:
    # No migrations: the retention's DELETE FROM events names a table that does not exist.
    with pytest.raises(asyncpg.UndefinedTableError):
        await asyncio.wait_for(
            retention_loop(settings_for(pg_dsn), asyncio.Event()), timeout=BOUND_S
        )


async def test_checkpoint_load_raises_an_sql_error_at_once(pg_dsn: str) -> None:
    store = PgCheckpointStore(pg_dsn, "riskmon-test", "riskmon.located")  # no table: unmigrated
    try:
        with pytest.raises(asyncpg.UndefinedTableError, match="scorer_checkpoints"):
            await asyncio.wait_for(store.load(0), timeout=BOUND_S)
        with pytest.raises(asyncpg.UndefinedTableError):  # a save's SQL error is not an outage
            await store.save(0, {"next_offset": 1}, NOW)
    finally:
        await store.close()


async def test_checkpoint_save_of_an_unreachable_store_is_retriable() -> None:
    store = PgCheckpointStore(f"postgresql://postgres@127.0.0.1:{free_port()}/x", "a", "t")
    with pytest.raises(CheckpointUnavailable) as raised:
        await asyncio.wait_for(store.save(0, {"next_offset": 1}, NOW), timeout=BOUND_S)
    assert raised.value.retriable


async def test_startup_does_not_wait_for_a_database_that_does_not_exist(
    pg_server_dsn: str,
) -> None:
    dsn = db.with_database(pg_server_dsn, "riskmon_no_such_database")
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncio.wait_for(migrate_db(settings_for(dsn)), timeout=BOUND_S)
