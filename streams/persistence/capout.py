"""CAP out in PostgreSQL: each alert's chain of approved messages (table ``cap_out``).

An approval is stored before it is published (``published`` false) and marked once the broker
confirmed it, so a lost answer or a broker outage never loses an approved warning: the next
approval of the same alert re-sends the unconfirmed message (same identifier, same bytes)
instead of composing a new one. :func:`chain_lock` serialises approvals of one alert.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from streams.contract.alerts import Alert
from streams.contract.base import read_internal
from streams.contract.capout import CapPublication

__all__ = ["chain", "chain_lock", "latest_alert", "mark_published", "open_chains", "record"]


async def latest_alert(conn: asyncpg.Connection, alert_id: str) -> Alert | None:
    """The newest stored state of alert ``alert_id`` (the sink keeps it), or None."""
    payload = await conn.fetchval("SELECT payload::text FROM alerts WHERE id = $1", alert_id)
    return None if payload is None else read_internal(Alert, payload.encode())


async def chain_lock(conn: asyncpg.Connection, alert_id: str) -> None:
    """Hold a transaction-scoped lock on ``alert_id``'s chain (call inside a transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cap_out:' || $1))", alert_id)


async def chain(conn: asyncpg.Connection, alert_id: str) -> list[CapPublication]:
    """The alert's messages, oldest first."""
    rows = await conn.fetch(
        """SELECT identifier, alert_id, sender, msg_type, all_clear, sent, approved_by,
                  approved_at, published, xml FROM cap_out WHERE alert_id = $1
           ORDER BY sent, identifier""",
        alert_id,
    )
    return [_publication(row) for row in rows]


async def open_chains(
    conn: asyncpg.Connection, limit: int = 100
) -> list[tuple[CapPublication, Alert | None]]:
    """The newest message of every chain without an all-clear, newest first, with its alert."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (c.alert_id) c.identifier, c.alert_id, c.sender, c.msg_type,
                  c.all_clear, c.sent, c.approved_by, c.approved_at, c.published, c.xml,
                  a.payload::text AS alert
           FROM cap_out c LEFT JOIN alerts a ON a.id = c.alert_id
           WHERE NOT EXISTS (SELECT 1 FROM cap_out d WHERE d.alert_id = c.alert_id AND d.all_clear)
           ORDER BY c.alert_id, c.sent DESC, c.identifier DESC""",
    )
    found = [
        (_publication(row), None if row["alert"] is None else read_internal(Alert, row["alert"]))
        for row in rows
    ]
    found.sort(key=lambda item: (item[0].sent, item[0].identifier), reverse=True)
    return found[:limit]


async def record(conn: asyncpg.Connection, message: CapPublication) -> None:
    await conn.execute(
        """INSERT INTO cap_out (identifier, alert_id, sender, msg_type, all_clear, sent, xml,
                               approved_by, approved_at, published)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)""",
        message.identifier,
        message.alert_id,
        message.sender,
        message.msg_type,
        message.all_clear,
        message.sent,
        message.xml.encode(),
        message.approved_by,
        message.approved_at,
    )


async def mark_published(conn: asyncpg.Connection, identifier: str) -> None:
    await conn.execute("UPDATE cap_out SET published = true WHERE identifier = $1", identifier)


def _publication(row: asyncpg.Record | dict[str, Any]) -> CapPublication:
    return CapPublication(
        identifier=row["identifier"],
        alert_id=row["alert_id"],
        sender=row["sender"],
        msg_type=row["msg_type"],
        all_clear=row["all_clear"],
        sent=row["sent"],
        approved_by=row["approved_by"],
        approved_at=row["approved_at"],
        published=row["published"],
        xml=bytes(row["xml"]).decode(),
    )
