"""Migrations on a real PostgreSQL: each applies once, concurrent runs are safe, and an older
database holding rows upgrades to the current schema with its rows intact and queryable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from streams.contract import Incident, LocatedEvent
from streams.persistence import db, pages, writes
from streams.persistence import reads as history
from streams.persistence.migrations import MIGRATIONS
from tests.factories import alert

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
LATEST = MIGRATIONS[-1][0]


def stored(n: int) -> writes.StoredEvent:
    event = LocatedEvent(
        kind="incident",
        district="4157056000",
        received_at=NOW,
        origin=f"riskmon.incidents/0/{n}",
        incident=Incident(
            id=f"I-{n}",
            source="gimpo-fire",
            type="fire",
            severity=2,
            occurred_at=NOW - timedelta(minutes=n % 7),
            code="4157056000",
        ),
    )
    return writes.StoredEvent(event, partition=0, offset=n)


async def test_concurrent_migrations_apply_each_version_once(pg_dsn: str) -> None:
    conns = [await db.connect(pg_dsn) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(db.migrate(c) for c in conns))
        assert sorted(v for versions in applied for v in versions) == [v for v, _ in MIGRATIONS]
        assert await db.migrate(conns[0]) == []
    finally:
        for conn in conns:
            await conn.close()


async def test_a_version_2_database_with_rows_upgrades_and_pages(pg_dsn: str) -> None:
    conn = await db.connect(pg_dsn)
    try:
        assert await db.migrate(conn, upto=2) == [1, 2]
        await writes.write_events(conn, 1, [stored(n) for n in range(30)])
        await writes.write_alerts(conn, [alert(f"a-{n}", 1) for n in range(5)])
        # Dead letters as a version-2 sink wrote them (no value_size column yet).
        await conn.executemany(
            """INSERT INTO dead_letters (epoch, topic, partition, "offset", error, reason,
                                         failed_at, key, value)
               VALUES (1, 'riskmon.incidents', 0, $1, 'not_json', 'not JSON', $2, NULL, $3)""",
            [(n, NOW, b"{oops") for n in range(5)],
        )

        assert await db.migrate(conn) == list(range(3, LATEST + 1))
        indexes = {
            r["indexname"]
            for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")
        }
        assert {"events_time", "events_district_time"} <= indexes

        seen: list[str] = []
        after = None
        while True:
            page = await history.events(
                conn,
                start=NOW - timedelta(hours=1),
                end=NOW + timedelta(seconds=1),
                limit=7,
                after=after,
            )
            seen += [e.incident.id for e in page.events if e.incident]
            if page.next is None:
                break
            after = pages.decode(pages.EVENT_KEY, page.next)
        assert sorted(seen) == sorted(f"I-{n}" for n in range(30))
        assert len(seen) == 30
        letters = await history.dead_letters(
            conn, start=NOW - timedelta(hours=1), end=NOW + timedelta(seconds=1)
        )
        assert sorted(d.offset for d in letters.dead_letters) == list(range(5))
        assert {(d.value, d.value_truncated_from) for d in letters.dead_letters} == {
            (b"{oops", None)
        }
    finally:
        await conn.close()


async def test_a_statement_that_runs_too_long_is_cancelled_as_transient(pg_dsn: str) -> None:
    """No call waits for ever: the server cancels a statement past its timeout, and the error
    counts as transient (retried, or a 503), not as a bug."""
    conn = await db.connect(pg_dsn, statement_timeout_s=0.2)
    try:
        with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
            await conn.execute("SELECT pg_sleep(5)")
        assert db.is_transient(cancelled.value)
    finally:
        await conn.close()
