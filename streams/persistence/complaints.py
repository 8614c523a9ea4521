"""PostgreSQL's ``complaints`` table (migration 8): the only module that touches it.

One row per (source, id), in the complaint's newest status: a version replaces the stored one
only when its ``updated_at`` is later (at the same instant, the later stage of the lifecycle
received < in_progress < fixed < closed < rejected wins), so redelivery, re-sent versions and
versions arriving out of order all end in the same row, and a complaint is counted once.

The writing side (:func:`write_complaints`) is called by the sink in the same transaction as the
rest of its batch; the reading side (:func:`complaint_counts`, :func:`complaint_cells`) answers
the gateway's ``/api/complaints/...`` routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from streams.contract.complaints import COMPLAINT_STATUSES, LocatedComplaint

__all__ = ["complaint_cells", "complaint_counts", "newest", "write_complaints"]

_RANK = {status: n for n, status in enumerate(COMPLAINT_STATUSES)}
_STATUS_ARRAY = "ARRAY[" + ", ".join(f"'{s}'" for s in COMPLAINT_STATUSES) + "]"


def newest(records: Sequence[LocatedComplaint]) -> list[LocatedComplaint]:
    """The newest version of each (source, id) among ``records`` (the order of the table)."""
    best: dict[tuple[str, str], LocatedComplaint] = {}
    for record in records:
        c = record.complaint
        key = (c.source, c.id)
        held = best.get(key)
        if held is None or (c.updated_at, _RANK[c.status]) > (
            held.complaint.updated_at,
            _RANK[held.complaint.status],
        ):
            best[key] = record
    return list(best.values())


async def write_complaints(
    conn: asyncpg.Connection, records: Sequence[LocatedComplaint], now: datetime | None = None
) -> None:
    """Store each complaint's newest version (idempotent)."""
    if not records:
        return
    stored_at = now or datetime.now(UTC)
    rows = []
    for record in newest(records):
        c = record.complaint
        rows.append(
            (
                c.source,
                c.id,
                c.category,
                c.status,
                record.district,
                record.h3,
                c.facility_id,
                c.received_at,
                c.updated_at,
                stored_at,
                c.model_dump_json(exclude_none=True),
            )
        )
    await conn.executemany(
        f"""INSERT INTO complaints (source, id, category, status, district, h3, facility_id,
                                    received_at, updated_at, stored_at, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
           ON CONFLICT (source, id) DO UPDATE SET category = EXCLUDED.category,
               status = EXCLUDED.status, district = EXCLUDED.district, h3 = EXCLUDED.h3,
               facility_id = EXCLUDED.facility_id, received_at = EXCLUDED.received_at,
               updated_at = EXCLUDED.updated_at, stored_at = EXCLUDED.stored_at,
               payload = EXCLUDED.payload
           WHERE (complaints.updated_at, array_position({_STATUS_ARRAY}, complaints.status))
               < (EXCLUDED.updated_at, array_position({_STATUS_ARRAY}, EXCLUDED.status))""",
        rows,
    )


async def complaint_counts(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, category: str | None = None
) -> list[tuple[str, str, int, int]]:
    """(district, category, complaints, of them still open) received in [start, end)."""
    rows = await conn.fetch(
        """SELECT district, category, count(*) AS n,
                  count(*) FILTER (WHERE status IN ('received', 'in_progress')) AS open
           FROM complaints
           WHERE received_at >= $1 AND received_at < $2 AND ($3::text IS NULL OR category = $3)
           GROUP BY district, category ORDER BY district, category""",
        start,
        end,
        category,
    )
    return [(r["district"], r["category"], int(r["n"]), int(r["open"])) for r in rows]


async def complaint_cells(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, category: str | None = None
) -> list[tuple[str, int]]:
    """(H3 cell at resolution 9, complaints) received in [start, end); complaints placed by
    district code alone have no cell."""
    rows = await conn.fetch(
        """SELECT h3, count(*) AS n FROM complaints
           WHERE h3 IS NOT NULL AND received_at >= $1 AND received_at < $2
             AND ($3::text IS NULL OR category = $3)
           GROUP BY h3 ORDER BY h3""",
        start,
        end,
        category,
    )
    return [(r["h3"], int(r["n"])) for r in rows]
