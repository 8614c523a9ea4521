"""Stream epochs: a new life of the located-events log after the broker lost it (checkpoints
dropped, open alerts expired, offsets of two logs never compared).
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from streams.contract import Alert
from streams.contract.alerts import expired
from streams.contract.base import read_internal
from streams.persistence.db import MIGRATION_LOCK
from streams.persistence.writes import write_alerts

log = logging.getLogger(__name__)


async def begin_epoch(conn: asyncpg.Connection, reason: str, now: datetime) -> int:
    """Start a new life of the located-events log (the broker lost it): checkpoints, which name
    offsets of the old log, are dropped, and offsets stored from now on belong to the new epoch.

    Alerts still open are closed as ``expired`` at ``now``: the alert agent's state went with its
    checkpoint, so nothing would ever resolve them, and the new epoch opens alerts of its own.
    A database that never saw a score or a checkpoint stays in its first epoch.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        epoch: int = await conn.fetchval("SELECT max(epoch) FROM stream_epochs")
        used = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM scorer_checkpoints)
                   OR EXISTS (SELECT 1 FROM events WHERE epoch = $1)""",
            epoch,
        )
        if not used:
            return epoch
        await conn.execute("DELETE FROM scorer_checkpoints")
        await conn.execute(
            "INSERT INTO stream_epochs (epoch, reason) VALUES ($1, $2)", epoch + 1, reason
        )
        still_open = await conn.fetch("SELECT payload FROM alerts WHERE state <> 'resolved'")
        await write_alerts(
            conn, [expired(read_internal(Alert, r["payload"]), now) for r in still_open]
        )
    log.warning(
        "stream epoch started epoch=%s reason=%s alerts_expired=%s",
        epoch + 1,
        reason,
        len(still_open),
    )
    return epoch + 1
