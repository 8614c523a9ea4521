"""PostgreSQL, the writing side of history: events, score updates, alerts and dead letters.

Every write here is idempotent: writing the same rows again changes nothing. The reading side
(the history API, replay) is :mod:`streams.persistence.reads`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from streams.contract import Alert, DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.complaints import LocatedComplaint
from streams.persistence.complaints import write_complaints
from streams.persistence.db import current_epoch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredEvent:
    """A located event with where it was read from ``riskmon.located``."""

    event: LocatedEvent
    partition: int
    offset: int


def event_key(located: LocatedEvent) -> tuple[str, str, str, str, datetime]:
    """(kind, source, event_id, type, time) of a located event as stored.

    A reading's id names its sensor, time and value: an identical re-send is a duplicate, while a
    different value for the same sensor and time is another reading (the model ranks both).
    """
    if located.reading is not None:
        r = located.reading
        observed = r.observed_at.astimezone(
            UTC
        ).isoformat()  # one key however the offset is written
        return (
            "reading",
            r.source,
            f"{r.sensor_id}@{observed}={r.value!r}",
            r.kind,
            r.observed_at,
        )
    if located.incident is not None:
        i = located.incident
        return ("incident", i.source, i.id, i.type, i.occurred_at)
    if located.withdrawal is not None:
        w = located.withdrawal
        return ("withdrawal", w.source, w.id, w.type, w.withdrawn_at)
    assert located.safety is not None
    f = located.safety
    return ("safety", f.source, f.id, f.fact, f.effective_at)


SCALAR_DOMAINS = ("composite", "safety")


def points_of(update: ScoreUpdate) -> list[tuple[str, float, int | None]]:
    """The narrow history rows of one update: (domain, value, grade) for the composite, safety,
    each domain's risk and each group's risk (``group:<name>``)."""
    points: list[tuple[str, float, int | None]] = [
        ("composite", update.composite.value, update.composite.grade),
        ("safety", update.safety, None),
    ]
    points += [(name, d.risk, d.grade) for name, d in sorted(update.domains.items())]
    points += [(f"group:{name}", g.risk, g.grade) for name, g in sorted(update.groups.items())]
    return points


async def write_events(conn: asyncpg.Connection, epoch: int, events: Sequence[StoredEvent]) -> None:
    rows = []
    for stored in events:
        kind, source, event_id, type_, at = event_key(stored.event)
        rows.append(
            (
                kind,
                source,
                event_id,
                type_,
                stored.event.district,
                stored.event.h3,
                at,
                stored.event.received_at,
                stored.event.origin,
                stored.event.event.model_dump_json(),
                stored.partition,
                stored.offset,
            )
        )
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO events (epoch, kind, source, event_id, type, district, h3, occurred_at,
                               received_at, origin, payload, log_partition, log_offset)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)
           ON CONFLICT DO NOTHING""",
        [(epoch, *row) for row in rows],
    )


async def write_scores(
    conn: asyncpg.Connection, series: str, epoch: int | None, updates: Sequence[ScoreUpdate]
) -> None:
    """Full updates (for time travel) and their narrow points (for charts) of one series."""
    if not updates:
        return
    await conn.executemany(
        """INSERT INTO score_updates (series, district, seq, as_of, reason, composite, grade,
                                      safety, model_version, payload, epoch, basis_partition,
                                      basis_offset)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13)
           ON CONFLICT DO NOTHING""",
        [
            (
                series,
                u.district,
                u.seq,
                u.as_of,
                u.reason,
                u.composite.value,
                u.composite.grade,
                u.safety,
                u.model_version,
                u.model_dump_json(),
                epoch,
                u.basis.partition if u.basis else None,
                u.basis.next_offset if u.basis else None,
            )
            for u in updates
        ],
    )
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
    for u in updates:
        for domain, value, grade in points_of(u):
            for column, item in zip(
                columns,
                (u.district, domain, u.as_of, u.seq, value, grade, u.model_version),
                strict=True,
            ):
                column.append(item)
    await conn.execute(
        """INSERT INTO score_points (series, district, domain, as_of, seq, value, grade, lo, hi,
                                     model_version)
           SELECT $1, d, dom, t, s, v, g, v, v, mv
           FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::bigint[],
                       $6::float8[], $7::int2[], $8::text[]) AS x(d, dom, t, s, v, g, mv)
           ON CONFLICT DO NOTHING""",
        series,
        *columns,
    )


async def write_alerts(conn: asyncpg.Connection, alerts: Sequence[Alert]) -> None:
    """Every alert message into its lifecycle history; the newest (by seq) into ``alerts``."""
    if not alerts:
        return
    await conn.executemany(
        """INSERT INTO alert_changes (id, seq, change, state, as_of, payload)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING""",
        [(a.id, a.seq, a.change, a.state, a.as_of, a.model_dump_json()) for a in alerts],
    )
    newest: dict[str, Alert] = {}
    for a in alerts:
        if a.id not in newest or a.seq > newest[a.id].seq:
            newest[a.id] = a
    await conn.executemany(
        """INSERT INTO alerts (id, seq, district, domain, rule, state, severity, opened_at, as_of,
                               cluster, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
           ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state,
               severity = EXCLUDED.severity, as_of = EXCLUDED.as_of, cluster = EXCLUDED.cluster,
               payload = EXCLUDED.payload
           WHERE alerts.seq < EXCLUDED.seq""",
        [
            (
                a.id,
                a.seq,
                a.district,
                a.domain,
                a.rule,
                a.state,
                a.severity,
                a.opened_at,
                a.as_of,
                a.cluster,
                a.model_dump_json(),
            )
            for a in newest.values()
        ],
    )


async def write_dead_letters(
    conn: asyncpg.Connection, epoch: int, dead: Sequence[DeadLetter]
) -> None:
    if not dead:
        return
    await conn.executemany(
        """INSERT INTO dead_letters (epoch, topic, partition, "offset", error, reason, failed_at,
                                     key, value, value_size)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
        [
            (
                epoch,
                d.topic,
                d.partition,
                d.offset,
                d.error,
                d.reason,
                d.failed_at,
                None if d.key_b64 is None else base64.b64decode(d.key_b64),
                d.value,
                d.value_truncated_from,
            )
            for d in dead
        ],
    )


async def write_batch(
    conn: asyncpg.Connection,
    events: Sequence[StoredEvent],
    scores: Sequence[ScoreUpdate],
    dead: Sequence[DeadLetter],
    alerts: Sequence[Alert] = (),
    complaints: Sequence[LocatedComplaint] = (),
) -> int:
    """Write one batch of the live stream in one transaction; returns the epoch it went to."""
    async with conn.transaction():
        epoch = await current_epoch(conn)
        await write_events(conn, epoch, events)
        await write_scores(conn, "live", epoch, scores)
        await write_dead_letters(conn, epoch, dead)
        await write_alerts(conn, alerts)
        await write_complaints(conn, complaints)
    return epoch
