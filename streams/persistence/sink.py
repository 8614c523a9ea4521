"""The history sink: located events, score updates, alerts and dead letters -> PostgreSQL.

Its own consumer group, so it never slows scoring. Offsets are committed only after the batch's
rows are committed in PostgreSQL; while PostgreSQL is down it retries with backoff, consumes
nothing more, and resumes where it stopped. Writes are idempotent, so a redelivered batch after a
crash changes nothing. Retention runs beside it on its own connection.

Only transient errors are retried (:func:`streams.persistence.db.is_transient`). A permanent one,
an error in riskmon's SQL or schema, is logged once with its batch and stops the sink with the
batch uncommitted, so that it reaches a person instead of being retried for ever; data that
PostgreSQL refuses (class 22, 23) is the exception: those records become dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from streams.contract import Alert, DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.base import read_internal
from streams.contract.complaints import LocatedComplaint
from streams.contract.deadletters import RawRecord, dead_letter
from streams.metrics import WorkerMetrics
from streams.persistence import db, writes
from streams.persistence.retention import retention_loop
from streams.pipeline.ingest import describe_validation_error
from streams.settings import Settings

log = logging.getLogger("riskmon.sink")

# PostgreSQL refusing the data itself (class 22: bad value, untranslatable character, date out of
# range; class 23: a constraint): retrying the same rows can never succeed.
DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class Batch:
    """Pure buffer: sorts decoded records into rows per table. A record it cannot decode (a newer
    writer's format during a rolling upgrade, or corruption) is never skipped: it becomes a
    ``schema`` dead letter with its bytes, stored like any other, and is counted."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.records: list[tuple[str, int, int, bytes | None]] = []  # as read, for isolation
        self.events: list[writes.StoredEvent] = []
        self.scores: list[ScoreUpdate] = []
        self.dead: list[DeadLetter] = []
        self.alerts: list[Alert] = []
        self.complaints: list[LocatedComplaint] = []
        self.undecodable = 0

    def add(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        self.records.append((topic, partition, offset, value))
        try:
            if topic == self.topics.located:
                event = read_internal(LocatedEvent, value or b"")
                self.events.append(writes.StoredEvent(event, partition, offset))
            elif topic == self.topics.scores:
                self.scores.append(read_internal(ScoreUpdate, value or b""))
            elif topic == self.topics.deadletter:
                self.dead.append(read_internal(DeadLetter, value or b""))
            elif topic == self.topics.alerts:
                self.alerts.append(read_internal(Alert, value or b""))
            elif topic == self.topics.complaints_located:
                self.complaints.append(read_internal(LocatedComplaint, value or b""))
        except ValidationError as exc:
            self.undecodable += 1
            reason = (
                f"the sink could not read this {topic} record (written by a newer version, or "
                f"corrupt): {describe_validation_error(exc)}"
            )
            raw = RawRecord(topic, partition, offset, None, value)
            self.dead.append(dead_letter(raw, "schema", reason, datetime.now(UTC)))

    def __len__(self) -> int:
        return (
            len(self.events)
            + len(self.scores)
            + len(self.dead)
            + len(self.alerts)
            + len(self.complaints)
        )


def unstorable(
    topic: str, partition: int, offset: int, value: bytes | None, error: str
) -> DeadLetter:
    """A dead letter for a record PostgreSQL refused: its bytes, where it was read, the reason."""
    raw = RawRecord(topic, partition, offset, None, value)
    reason = f"PostgreSQL refused to store it: {error}"
    return dead_letter(raw, "not_storable", reason, datetime.now(UTC))


async def _write(conn: Any, batch: Batch, metrics: WorkerMetrics) -> None:
    """Write ``batch`` in one transaction. If PostgreSQL refuses its data (not a connection
    problem: that never heals by retrying), write its records one by one and store each refused
    one as a ``not_storable`` dead letter instead, so one bad record cannot stop the history."""
    try:
        await writes.write_batch(
            conn, batch.events, batch.scores, batch.dead, batch.alerts, batch.complaints
        )
    except DATA_ERRORS as exc:
        log.error("sink batch refused, isolating its records error=%r", exc)
        for record in batch.records:
            single = Batch(batch.settings)
            single.add(*record)
            try:
                await writes.write_batch(
                    conn, single.events, single.scores, single.dead, single.alerts,
                    single.complaints,
                )  # fmt: skip
                _count_rows(single, metrics)
            except DATA_ERRORS as refused:
                letter = unstorable(*record, error=str(refused))
                metrics.dead_letters.labels(letter.error).inc()
                log.error(
                    "sink record not storable origin=%s/%s/%s error=%r",
                    record[0],
                    record[1],
                    record[2],
                    refused,
                )
                await writes.write_batch(conn, [], [], [letter], [])
                metrics.sink_rows.labels("dead_letters").inc()
        return
    _count_rows(batch, metrics)


def _count_rows(batch: Batch, metrics: WorkerMetrics) -> None:
    metrics.sink_rows.labels("events").inc(len(batch.events))
    metrics.sink_rows.labels("score_updates").inc(len(batch.scores))
    metrics.sink_rows.labels("dead_letters").inc(len(batch.dead))
    metrics.sink_rows.labels("alerts").inc(len(batch.alerts))
    metrics.sink_rows.labels("complaints").inc(len(batch.complaints))


async def write_with_retry(
    dsn: str, conn: Any, batch: Batch, stop: asyncio.Event, metrics: WorkerMetrics | None = None
) -> Any:
    """Write ``batch`` until it is durable (or ``stop`` is set); returns the live connection."""
    metrics = metrics or WorkerMetrics(process=False)
    delay = 0.5
    while not stop.is_set():
        try:
            if conn is None or conn.is_closed():
                conn = await db.connect(dsn)
            await _write(conn, batch, metrics)
            return conn
        except db.DATABASE_ERRORS as exc:
            if not db.is_transient(exc):
                log.error(
                    "sink write failed permanently, not retrying: the batch stays uncommitted "
                    "rows=%s first=%s error=%r",
                    len(batch),
                    "/".join(map(str, batch.records[0][:3])) if batch.records else None,
                    exc,
                )
                raise
            metrics.sink_retries.inc()
            log.warning("sink write failed, retrying in %.1f s error=%r", delay, exc)
            conn = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    return conn


async def record_lag(consumer: AIOKafkaConsumer, metrics: WorkerMetrics) -> None:
    """Records behind the log end per topic: the last fetch's high watermark minus the position
    (the embedded broker under-reports log ends, so there it reads low)."""
    lag: dict[str, int] = {}
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is None:
            continue
        position = await consumer.position(tp)
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - position)
    for topic, value in lag.items():
        metrics.sink_lag.labels(topic).set(value)


async def run_sink(
    settings: Settings,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    *,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Consume until ``stop`` is set, writing each batch before committing its offsets
    (counting in ``metrics``, the process's; a registry of its own when None)."""
    metrics = metrics or WorkerMetrics(process=False)
    dsn = settings.require_pg_dsn()
    conn = await db.connect(dsn)
    await db.migrate(conn)
    topics = settings.topics
    consumer = AIOKafkaConsumer(
        topics.located,
        topics.scores,
        topics.deadletter,
        topics.alerts,
        topics.complaints_located,
        bootstrap_servers=settings.require_bootstrap(),
        group_id=f"{settings.app_id}-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(min(3.0, settings.session_timeout_s / 3) * 1000),
        **settings.kafka_client_options(),
    )
    await consumer.start()
    retention = asyncio.create_task(
        retention_loop(settings, stop, metrics), name="riskmon-retention"
    )
    if ready is not None:
        ready.set()
    log.info("sink started group=%s-sink", settings.app_id)
    try:
        while not stop.is_set():
            if retention.done():
                retention.result()  # retention stopped on a permanent error: so does the sink
            records = await consumer.getmany(timeout_ms=200, max_records=2000)
            batch = Batch(settings)
            for partition_records in records.values():
                for record in partition_records:
                    batch.add(record.topic, record.partition, record.offset, record.value)
            if batch.undecodable:
                log.warning(
                    "sink kept undecodable records as dead letters count=%s", batch.undecodable
                )
                metrics.dead_letters.labels("schema").inc(batch.undecodable)
            if len(batch):
                conn = await write_with_retry(dsn, conn, batch, stop, metrics)
            if records and not stop.is_set():
                await consumer.commit()
                await record_lag(consumer, metrics)
        if retention.done():
            retention.result()
    finally:
        retention.cancel()
        await asyncio.wait([retention])  # never raises: its own error was raised above
        await consumer.stop()
        if conn is not None and not conn.is_closed():
            await conn.close()
