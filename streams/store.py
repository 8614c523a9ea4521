"""PostgreSQL: the one module that imports asyncpg.

Tables (first schema; migrations are numbered and applied once, under an advisory lock):

* ``events``             validated, located inputs; idempotent on (kind, source, event_id)
* ``score_updates``      every published :class:`ScoreUpdate`; idempotent on (district, seq)
* ``dead_letters``       rejected inputs with their original bytes; idempotent on origin
* ``scorer_checkpoints`` the worker's per-partition index state with the next offset to read
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from .contract import DeadLetter, LocatedEvent, ScoreUpdate

log = logging.getLogger(__name__)

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
    CREATE TABLE events (
        kind        text        NOT NULL,
        source      text        NOT NULL,
        event_id    text        NOT NULL,
        type        text        NOT NULL,
        district    text        NOT NULL,
        h3          text,
        occurred_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        origin      text        NOT NULL,
        payload     jsonb       NOT NULL,
        PRIMARY KEY (kind, source, event_id)
    );
    CREATE INDEX events_district_time ON events (district, occurred_at);
    CREATE TABLE score_updates (
        district      text             NOT NULL,
        seq           bigint           NOT NULL,
        as_of         timestamptz      NOT NULL,
        reason        text             NOT NULL,
        composite     double precision NOT NULL,
        grade         smallint         NOT NULL,
        safety        double precision NOT NULL,
        model_version text             NOT NULL,
        payload       jsonb            NOT NULL,
        PRIMARY KEY (district, seq)
    );
    CREATE INDEX score_updates_time ON score_updates (as_of);
    CREATE TABLE dead_letters (
        topic     text        NOT NULL,
        partition integer     NOT NULL,
        "offset"  bigint      NOT NULL,
        error     text        NOT NULL,
        reason    text        NOT NULL,
        failed_at timestamptz NOT NULL,
        key       bytea,
        value     bytea       NOT NULL,
        PRIMARY KEY (topic, partition, "offset")
    );
    CREATE TABLE scorer_checkpoints (
        app_id      text        NOT NULL,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        next_offset bigint      NOT NULL,
        state       jsonb       NOT NULL,
        saved_at    timestamptz NOT NULL,
        PRIMARY KEY (app_id, topic, partition)
    );
    """,
    ),
)
MIGRATION_LOCK = 0x7269736B6D6F6E  # "riskmon"

# Errors after which a retry may succeed (server down, restarting, connection lost).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database (handles unix-socket DSNs with ?host=...)."""
    base, _, query = dsn.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")


async def answers(dsn: str, timeout_s: float = 3.0) -> bool:
    """True when a PostgreSQL server accepts a connection at ``dsn``."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except TRANSIENT_ERRORS:
        return False
    await conn.close()
    return True


async def connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=10)
    return conn


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied now. Safe to run concurrently."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version not in done:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
    if applied_now:
        log.info("database migrated versions=%s", applied_now)
    return applied_now


# --- checkpoints ---------------------------------------------------------------------------------
async def save_checkpoint(
    conn: asyncpg.Connection,
    app_id: str,
    topic: str,
    partition: int,
    state: Mapping[str, Any],
    saved_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO scorer_checkpoints (app_id, topic, partition, next_offset, state, saved_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6)
           ON CONFLICT (app_id, topic, partition) DO UPDATE
           SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state,
               saved_at = EXCLUDED.saved_at""",
        app_id,
        topic,
        partition,
        int(state["next_offset"]),
        json.dumps(state),
        saved_at,
    )


async def load_checkpoint(
    conn: asyncpg.Connection, app_id: str, topic: str, partition: int
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT state FROM scorer_checkpoints WHERE app_id=$1 AND topic=$2 AND partition=$3",
        app_id,
        topic,
        partition,
    )
    if row is None:
        return None
    state: dict[str, Any] = json.loads(row["state"])
    return state


# --- history rows ---------------------------------------------------------------------------------
def event_row(located: LocatedEvent) -> tuple[Any, ...]:
    event = located.event
    if located.reading is not None:
        reading = located.reading
        return (
            "reading",
            reading.source,
            f"{reading.sensor_id}@{reading.observed_at.isoformat()}",
            reading.kind,
            located.district,
            located.h3,
            reading.observed_at,
            located.received_at,
            located.origin,
            event.model_dump_json(),
        )
    if located.incident is not None:
        incident = located.incident
        return (
            "incident",
            incident.source,
            incident.id,
            incident.type,
            located.district,
            located.h3,
            incident.occurred_at,
            located.received_at,
            located.origin,
            event.model_dump_json(),
        )
    assert located.safety is not None
    fact = located.safety
    return (
        "safety",
        fact.source,
        fact.id,
        fact.fact,
        located.district,
        located.h3,
        fact.effective_at,
        located.received_at,
        located.origin,
        event.model_dump_json(),
    )


async def write_batch(
    conn: asyncpg.Connection,
    events: Sequence[LocatedEvent],
    scores: Sequence[ScoreUpdate],
    dead: Sequence[DeadLetter],
) -> None:
    """Write one batch in one transaction; re-writing the same rows changes nothing."""
    async with conn.transaction():
        if events:
            await conn.executemany(
                """INSERT INTO events (kind, source, event_id, type, district, h3, occurred_at,
                                       received_at, origin, payload)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
                   ON CONFLICT DO NOTHING""",
                [event_row(e) for e in events],
            )
        if scores:
            await conn.executemany(
                """INSERT INTO score_updates (district, seq, as_of, reason, composite, grade,
                                              safety, model_version, payload)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT DO NOTHING""",
                [
                    (
                        s.district,
                        s.seq,
                        s.as_of,
                        s.reason,
                        s.composite.value,
                        s.composite.grade,
                        s.safety,
                        s.model_version,
                        s.model_dump_json(),
                    )
                    for s in scores
                ],
            )
        if dead:
            await conn.executemany(
                """INSERT INTO dead_letters (topic, partition, "offset", error, reason, failed_at,
                                             key, value)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
                [
                    (
                        d.topic,
                        d.partition,
                        d.offset,
                        d.error,
                        d.reason,
                        d.failed_at,
                        None if d.key_b64 is None else _b64(d.key_b64),
                        d.value,
                    )
                    for d in dead
                ],
            )


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)
