"""What every process runs at startup: database migrations, Kafka topics and stream epochs.

``riskmon topics``, ``riskmon worker`` and ``riskmon demo`` all go through :func:`prepare`, so
whichever runs first after a broker lost its logs notices it. Only a topic's creation tells:
the worker checkpoints its state with the next offset to read, and those offsets mean nothing
in a new log. When a checkpointed topic (located events, alert input) has to be created while
the database already holds scoring state, a new stream epoch starts and the checkpoints are
dropped, so the worker rebuilds from the new log instead of waiting at an offset the new log
has not reached (and skipping everything before it).

Topics created by other means (an administrator's ``kafka-topics.sh``, Terraform) cannot be
noticed: after such a rebuild, run ``riskmon db new-epoch`` before starting the workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.ops.topics import create_topics
from streams.persistence import db, epochs
from streams.settings import Settings

__all__ = ["Prepared", "migrate_db", "new_epoch", "prepare"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` did."""

    migrations: list[int]  # versions applied
    topics: list[str]  # topics created
    epoch: int | None  # the current stream epoch; None without a database


async def migrate_db(settings: Settings) -> list[int]:
    """Apply pending database migrations; returns the versions applied."""
    conn = await db.connect_waiting(settings.require_pg_dsn())
    try:
        return await db.migrate(conn)
    finally:
        await conn.close()


async def prepare(settings: Settings) -> Prepared:
    """Migrate the database (when one is configured), create missing topics, and begin a new
    stream epoch when a checkpointed topic had to be created.

    Without a database (``RISKMON_PG_DSN`` unset) only topics are created; creating a
    checkpointed topic then logs a warning, because the epoch cannot be recorded.
    """
    migrations = await migrate_db(settings) if settings.pg_dsn else []
    created = await create_topics(settings)
    checkpointed = {settings.topics.located, settings.topics.alert_input}
    lost = sorted(checkpointed.intersection(created))
    if not settings.pg_dsn:
        if lost:
            log.warning(
                "topics created without a database: if the broker lost its log (not a first "
                "deployment), run `riskmon db new-epoch` with RISKMON_PG_DSN set before "
                "starting workers topics=%s",
                lost,
            )
        return Prepared(migrations, created, None)
    conn = await db.connect_waiting(settings.pg_dsn)
    try:
        if lost:
            epoch = await epochs.begin_epoch(
                conn, f"topic {', '.join(lost)} was created", datetime.now(UTC)
            )
        else:
            epoch = await db.current_epoch(conn)
    finally:
        await conn.close()
    return Prepared(migrations, created, epoch)


async def new_epoch(settings: Settings, reason: str) -> int:
    """Begin a stream epoch by hand (after topics were recreated by other means); returns the
    current epoch, unchanged when the database holds no scoring state yet."""
    conn = await db.connect(settings.require_pg_dsn())
    try:
        await db.migrate(conn)
        return await epochs.begin_epoch(conn, reason, datetime.now(UTC))
    finally:
        await conn.close()
