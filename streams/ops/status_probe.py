"""``riskmon status``, the I/O shell: look at Kafka and PostgreSQL and fill an
:class:`~streams.ops.status.Observed` (read-only: it joins no group and writes nothing).

Committed offsets are read with OffsetFetch under each group's id (a consumer with manual
assignment, which does not join the group); end offsets with ListOffsets; positions of the
checkpointed stages from ``scorer_checkpoints``. A server that does not answer within the timeout
is recorded as an error, and the other one is still looked at.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.ops.status import Observed, Position
from streams.ops.topics import DropConnectErrors, required_partitions
from streams.persistence import db
from streams.persistence.migrations import MIGRATIONS
from streams.settings import Settings

__all__ = ["observe"]

log = logging.getLogger(__name__)

# What a look at a server can run into that is a finding about the deployment, reported as a
# check: the server's own errors (permanent ones too: status only reports, it retries nothing),
# a timeout, and ValueError (a setting that is unset or malformed, e.g. a DSN with a bad port).
# Anything else is a bug in this module and keeps its traceback.
PG_PROBLEMS: tuple[type[BaseException], ...] = (*db.DATABASE_ERRORS, ValueError)
KAFKA_PROBLEMS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError, ValueError)


async def observe(settings: Settings, now: datetime, timeout_s: float = 10.0) -> Observed:
    """One look at the deployment ``settings`` describe.

    Positions are read before log ends (checkpoints first, then committed offsets, then ends), so
    in a healthy deployment no position lies beyond its end, and one that does means the log
    was recreated or lost under the checkpoints.
    """
    observed = Observed(at=now, schema_latest=max(v for v, _ in MIGRATIONS))
    checkpoints: list[Any] | None = None
    try:
        async with asyncio.timeout(timeout_s):
            observed, checkpoints = await _postgres(settings, observed)
    except PG_PROBLEMS as exc:  # unreachable, refused, timed out, not configured: a finding
        observed = replace(observed, pg_error=_describe(exc))
    ends: dict[TopicPartition, int] = {}
    quiet = DropConnectErrors()  # an unreachable broker is reported as a check, not logged
    logging.getLogger("aiokafka").addFilter(quiet)
    try:
        async with asyncio.timeout(timeout_s):
            observed, ends = await _kafka(settings, observed)
    except KAFKA_PROBLEMS as exc:  # unreachable, refused, timed out: say so and go on
        observed = replace(observed, kafka_error=_describe(exc))
    finally:
        logging.getLogger("aiokafka").removeFilter(quiet)
    if checkpoints is not None:
        observed = _with_checkpoints(settings, observed, checkpoints, ends)
    return observed


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    text = str(exc)
    name = type(exc).__name__
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


async def _kafka(
    settings: Settings, observed: Observed
) -> tuple[Observed, dict[TopicPartition, int]]:
    topics = settings.topics
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=64 * 1024,
        **settings.kafka_client_options(),
    )
    try:
        await consumer.start()
        existing = await consumer.topics()
        missing = tuple(name for name in topics.all() if name not in existing)
        partitions = {
            name: sorted(consumer.partitions_for_topic(name) or ())
            for name in topics.all()
            if name in existing
        }
        problems = tuple(
            f"{name} has {len(partitions[name])} partition(s), needs {want}"
            for name, want in required_partitions(settings).items()
            if name in partitions and len(partitions[name]) != want
        )
        tps = [TopicPartition(name, p) for name, ps in partitions.items() for p in ps]

        def on(names: Iterable[str]) -> list[TopicPartition]:
            return [tp for tp in tps if tp.topic in names]

        sink_topics = (topics.located, topics.scores, topics.deadletter, topics.alerts)
        ingest = await _committed(settings, settings.app_id, on(topics.inputs()))
        sink = await _committed(settings, f"{settings.app_id}-sink", on(sink_topics))
        ends = await _log_ends(consumer, tps)
    finally:
        await consumer.stop()
    observed = replace(
        observed,
        missing_topics=missing,
        partition_problems=problems,
        ingest=tuple(Position(tp.topic, tp.partition, ends[tp], at) for tp, at in ingest),
        sink=tuple(Position(tp.topic, tp.partition, ends[tp], at) for tp, at in sink),
    )
    return observed, ends


async def _log_ends(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], within_s: float = 5.0
) -> dict[TopicPartition, int]:
    """The end of each partition's log: the high watermark of a fetch response.

    ListOffsets alone is not enough: the embedded broker answers it with the base offset of the
    last record batch + 1 (20 records produced in one batch: end 1, not 20). Fetching one
    record just before that end returns the true high watermark, on Apache Kafka too.
    """
    if not tps:
        return {}
    listed: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(listed[tp] - 1, 0))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while any(consumer.highwater(tp) is None for tp in tps) and loop.time() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=len(tps))
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in tps}


async def _committed(
    settings: Settings, group: str, tps: list[TopicPartition]
) -> list[tuple[TopicPartition, int | None]]:
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        group_id=group,
        enable_auto_commit=False,
        **settings.kafka_client_options(),
    )
    try:
        await consumer.start()
        consumer.assign(tps)  # manual assignment: reads the group's offsets without joining it
        return [(tp, await consumer.committed(tp)) for tp in tps]
    finally:
        await consumer.stop()


async def _postgres(settings: Settings, observed: Observed) -> tuple[Observed, list[Any] | None]:
    """Schema, epoch and facts, and the checkpoint rows (None when the schema is not current)."""
    conn = await db.connect(settings.require_pg_dsn())
    try:
        has_schema = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not has_schema:
            return replace(observed, schema_version=None), None
        version = await conn.fetchval("SELECT max(version) FROM schema_migrations")
        observed = replace(observed, schema_version=version)
        if version < observed.schema_latest:
            return observed, None  # the queries below need the current schema
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset, saved_at, state FROM scorer_checkpoints"
            " WHERE app_id = $1",
            settings.app_id,
        )
        epoch = await conn.fetchrow(
            "SELECT epoch, started_at, reason FROM stream_epochs ORDER BY epoch DESC LIMIT 1"
        )
        newest = await conn.fetchval("SELECT max(as_of) FROM score_updates WHERE series = 'live'")
        alerts = await conn.fetch(
            "SELECT state, count(*) AS n FROM alerts WHERE state <> 'resolved' GROUP BY state"
        )
        dead = await conn.fetch(
            "SELECT error, count(*) AS n FROM dead_letters"
            " WHERE failed_at > $1::timestamptz - interval '1 hour' GROUP BY error",
            observed.at,
        )
    finally:
        await conn.close()
    observed = replace(
        observed,
        epoch=epoch["epoch"] if epoch else None,
        epoch_began=epoch["started_at"] if epoch else None,
        epoch_reason=epoch["reason"] if epoch else None,
        newest_score=newest,
        open_alerts={r["state"]: r["n"] for r in alerts},
        dead_letters_1h={r["error"]: r["n"] for r in dead},
    )
    return observed, list(rows)


def _with_checkpoints(
    settings: Settings, observed: Observed, rows: list[Any], ends: dict[TopicPartition, int]
) -> Observed:
    """Positions of the checkpointed stages on the partitions Kafka listed."""
    topics = settings.topics
    saved = {(r["topic"], r["partition"]): r for r in rows}
    scoring = [
        _checkpoint_position(tp, end, saved.get((tp.topic, tp.partition)))
        for tp, end in sorted(ends.items())
        if tp.topic == topics.located
    ]
    # The alert stage's checkpoint is one row (topic alert-input, partition 0) whose state holds
    # the next offset of both of its inputs.
    alert_row = saved.get((topics.alert_input, 0))
    offsets = _state(alert_row).get("next_offsets", {}) if alert_row else {}
    alerting = [
        Position(
            tp.topic,
            tp.partition,
            end,
            None if offsets.get(tp.topic) is None else int(offsets[tp.topic]),
            alert_row["saved_at"] if alert_row else None,
        )
        for tp, end in sorted(ends.items())
        if tp.topic in (topics.alert_input, topics.alert_acks)
    ]
    return replace(observed, scoring=tuple(scoring), alerting=tuple(alerting))


def _checkpoint_position(tp: TopicPartition, end: int, row: Any) -> Position:
    if row is None:
        return Position(tp.topic, tp.partition, end, None)
    return Position(tp.topic, tp.partition, end, int(row["next_offset"]), row["saved_at"])


def _state(row: Any) -> dict[str, Any]:
    state = row["state"]
    data: dict[str, Any] = json.loads(state) if isinstance(state, str) else dict(state)
    return data
