"""The history sink writes located events, score updates and dead letters once, durably."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from indices import ModelParams
from streams.contract import Incident, LocatedEvent
from streams.contract.deadletters import RawRecord, dead_letter
from streams.persistence import db
from streams.persistence.sink import Batch, run_sink, write_with_retry
from streams.pipeline.ingest import ingest
from streams.pipeline.scoring import PartitionScorer, ScoringContext
from streams.settings import Settings
from tests.cities import exact_gimpo

from .harness import eventually, isolated_settings, produce

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def counts(dsn: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM score_updates),"
            " (SELECT count(*) FROM dead_letters)"
        )
    finally:
        await conn.close()
    return (row[0], row[1], row[2])


async def run_once(settings: object, dsn: str, expected: tuple[int, int, int]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop))  # type: ignore[arg-type]
    try:
        await eventually(lambda: _is(counts(dsn), expected), within=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _is(value: object, expected: tuple[int, int, int]) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_rows_are_written_once_even_when_redelivered(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    city = exact_gimpo()
    incident = Incident(
        id="s-1",
        source="gimpo-fire",
        type="fire",
        severity=3,
        occurred_at=NOW,
        lat=37.6385,
        lon=126.6791,
    )
    raw = RawRecord(settings.topics.incidents, 0, 7, None, incident.model_dump_json().encode())
    located = ingest(raw, "incident", city, ModelParams(), NOW)
    assert isinstance(located, LocatedEvent)
    scorer = PartitionScorer(0, city.codes)
    ctx = ScoringContext(city.model_districts(), ModelParams())
    update = scorer.process([(0, located)], ctx, NOW).updates[0]
    letter = dead_letter(
        RawRecord(settings.topics.incidents, 1, 3, None, b"{bad"), "not_json", "not JSON", NOW
    )
    # each twice: an at-least-once producer may deliver any record again
    key = b"one-partition"  # keep order: the late event below comes after the duplicates
    await produce(settings, settings.topics.located, [located, located], key=key)
    await produce(settings, settings.topics.scores, [update, update], key=key)
    await produce(settings, settings.topics.deadletter, [letter, letter], key=key)
    conn = await asyncpg.connect(pg_dsn)
    await db.migrate(conn)
    await conn.close()

    await run_once(settings, pg_dsn, (1, 1, 1))

    conn = await asyncpg.connect(pg_dsn)
    try:
        event = await conn.fetchrow("SELECT * FROM events")
        stored_letter = await conn.fetchrow("SELECT * FROM dead_letters")
        score = await conn.fetchrow("SELECT * FROM score_updates")
    finally:
        await conn.close()
    assert (event["source"], event["event_id"], event["district"]) == (
        "gimpo-fire",
        "s-1",
        "4157056000",
    )
    assert event["h3"] == located.h3
    assert bytes(stored_letter["value"]) == b"{bad"
    assert stored_letter["reason"] == "not JSON"
    assert (score["district"], score["seq"]) == (update.district, update.seq)

    # A new consumer group re-reads everything from the start; a new event after the duplicates
    # shows it got through them: still one row for each of the first three.
    later = Incident(
        id="s-2", source="gimpo-fire", type="fire", severity=1, occurred_at=NOW, code="4157056000"
    )
    raw_later = RawRecord(settings.topics.incidents, 0, 8, None, later.model_dump_json().encode())
    await produce(
        settings,
        settings.topics.located,
        [ingest(raw_later, "incident", city, ModelParams(), NOW)],
        key=key,
    )
    again = settings.model_copy(update={"app_id": settings.app_id + "-again"})
    await run_once(again, pg_dsn, (2, 1, 1))


async def test_a_record_postgresql_refuses_becomes_a_dead_letter_and_the_rest_is_written(
    pg_dsn: str,
) -> None:
    """A record that passed validation but that PostgreSQL cannot store (here text with a NUL,
    which the contract does not forbid in a located event's ``origin``) must neither stop the
    history (retrying it can never succeed) nor take its batch's other rows down with it."""
    settings = Settings(pg_dsn=pg_dsn)
    topics = settings.topics

    def located(n: int, origin: str) -> bytes:
        event = LocatedEvent(
            kind="incident",
            district="4157056000",
            received_at=NOW,
            origin=origin,
            incident=Incident(
                id=f"n-{n}",
                source="gimpo-fire",
                type="fire",
                severity=2,
                occurred_at=NOW,
                code="4157056000",
            ),
        )
        return event.model_dump_json().encode()

    bad = located(2, "riskmon.incidents/0/\x002")
    batch = Batch(settings)
    batch.add(topics.located, 0, 10, located(1, "riskmon.incidents/0/1"))
    batch.add(topics.located, 0, 11, bad)
    batch.add(topics.located, 0, 12, located(3, "riskmon.incidents/0/3"))
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await write_with_retry(pg_dsn, conn, batch, asyncio.Event())
        ids = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM events ORDER BY 1")]
        letters = await conn.fetch("SELECT * FROM dead_letters")
    finally:
        await conn.close()
    assert ids == ["n-1", "n-3"]
    [letter] = letters
    assert (letter["topic"], letter["partition"], letter["offset"]) == (topics.located, 0, 11)
    assert letter["error"] == "not_storable"
    assert "PostgreSQL refused" in letter["reason"]
    assert bytes(letter["value"]) == bad
