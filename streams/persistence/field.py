"""Inspectors' field reports and their photos in PostgreSQL (migration 7: ``field_reports``,
``field_photos``), and the safety facts in history the field page searches: the only module that
touches those tables.

A report is stored once per (user, client-made ``report_id``) with the exact bytes of the fact
published for it (``fact``, text: a resend publishes the same bytes), first ``received`` (stored,
not yet confirmed by the broker), then ``published``. Photos live in ``field_photos`` as bytea,
already checked and stripped by the gateway (docs/field.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = [
    "FactRow",
    "NewPhoto",
    "NewReport",
    "ReportRow",
    "get_report",
    "insert_report",
    "mark_published",
    "photos_of",
    "safety_facts",
]

SEARCH_ROWS = 2000  # at most this many newest facts per (kind, id) are ranked per search


@dataclass(frozen=True)
class NewPhoto:
    content_type: str
    width: int
    height: int
    sha256: bytes
    location_kept: bool
    data: bytes


@dataclass(frozen=True)
class NewReport:
    user: str
    report_id: str
    request_hash: bytes
    source: str
    fact_id: str
    kind: str  # inspection | facility
    subject: str  # the structure_id or facility_id
    district: str
    fact: str  # the published JSON, byte for byte
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class ReportRow:
    id: int
    user: str
    report_id: str
    request_hash: bytes
    source: str
    fact_id: str
    kind: str
    district: str
    fact: str
    note: str | None
    status: str
    created_at: datetime
    published_at: datetime | None
    photos: int


_REPORT = """r.id, r.user_name AS user, r.report_id, r.request_hash, r.source, r.fact_id, r.kind,
    r.district, r.fact, r.note, r.status, r.created_at, r.published_at,
    (SELECT count(*) FROM field_photos p WHERE p.report = r.id)::int AS photos"""


async def insert_report(
    conn: asyncpg.Connection, report: NewReport, photos: list[NewPhoto]
) -> ReportRow | None:
    """Store a new report (status ``received``) with its photos in one transaction; None when
    the user has a report with this ``report_id`` already (a concurrent insert of the same one
    waits for the other's transaction, then finds it)."""
    async with conn.transaction():
        report_key = await conn.fetchval(
            """INSERT INTO field_reports (user_name, report_id, request_hash, source, fact_id,
                   kind, subject, district, fact, note, status, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received', $11)
               ON CONFLICT (user_name, report_id) DO NOTHING RETURNING id""",
            report.user,
            report.report_id,
            report.request_hash,
            report.source,
            report.fact_id,
            report.kind,
            report.subject,
            report.district,
            report.fact,
            report.note,
            report.created_at,
        )
        if report_key is None:
            return None
        if photos:
            await conn.executemany(
                """INSERT INTO field_photos (report, n, content_type, size, width, height, sha256,
                       location_kept, data)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                [
                    (
                        report_key,
                        n,
                        p.content_type,
                        len(p.data),
                        p.width,
                        p.height,
                        p.sha256,
                        p.location_kept,
                        p.data,
                    )
                    for n, p in enumerate(photos)
                ],
            )
    found = await get_report(conn, report.user, report.report_id)
    assert found is not None  # committed just now
    return found


async def get_report(conn: asyncpg.Connection, user: str, report_id: str) -> ReportRow | None:
    row = await conn.fetchrow(
        f"SELECT {_REPORT} FROM field_reports r WHERE r.user_name = $1 AND r.report_id = $2",
        user,
        report_id,
    )
    return ReportRow(**dict(row)) if row else None


async def mark_published(conn: asyncpg.Connection, key: int, now: datetime) -> None:
    """The broker confirmed the report's fact (the first confirmation's time is kept)."""
    await conn.execute(
        """UPDATE field_reports SET status = 'published', published_at = $2
           WHERE id = $1 AND status <> 'published'""",
        key,
        now,
    )


async def photos_of(conn: asyncpg.Connection, key: int) -> list[tuple[str, bytes]]:
    """(content type, bytes) of a report's photos in the order they were sent."""
    rows = await conn.fetch(
        "SELECT content_type, data FROM field_photos WHERE report = $1 ORDER BY n", key
    )
    return [(r["content_type"], bytes(r["data"])) for r in rows]


@dataclass(frozen=True)
class FactRow:
    """The newest stored safety fact of one structure or facility."""

    type: str  # inspection | facility
    subject: str
    source: str
    district: str
    effective_at: datetime
    payload: dict[str, Any]


async def safety_facts(
    conn: asyncpg.Connection,
    *,
    pattern: str | None,
    box: tuple[float, float, float, float] | None,
    limit: int = SEARCH_ROWS,
) -> list[FactRow]:
    """The newest fact of each structure and facility in history whose id contains
    ``pattern`` (case-insensitive; None: any) and, when ``box`` (south, west, north, east) is
    given, whose point lies in it. At most ``limit`` rows, in no particular order."""
    like = None if pattern is None else "%" + _escape_like(pattern) + "%"
    rows = await conn.fetch(
        r"""SELECT type, subject, source, district, occurred_at, payload FROM (
                SELECT DISTINCT ON (type, subject) type, subject, source, district,
                       occurred_at, payload
                FROM (SELECT type, coalesce(payload->>'structure_id', payload->>'facility_id')
                             AS subject, source, district, occurred_at, event_id, payload
                      FROM events WHERE kind = 'safety') AS facts
                WHERE ($1::text IS NULL OR subject ILIKE $1 ESCAPE '\')
                ORDER BY type, subject, occurred_at DESC, source DESC, event_id DESC
            ) AS newest
            WHERE $2::float8 IS NULL OR (
                (payload->>'lat')::float8 BETWEEN $2 AND $4
                AND (payload->>'lon')::float8 BETWEEN $3 AND $5)
            LIMIT $6""",
        like,
        *(box if box is not None else (None, None, None, None)),
        limit,
    )
    return [
        FactRow(
            r["type"],
            r["subject"],
            r["source"],
            r["district"],
            r["occurred_at"],
            json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"],
        )
        for r in rows
        if r["subject"] is not None
    ]


def _escape_like(text: str) -> str:
    r"""``text`` matched literally inside a LIKE pattern (escape character ``\``).

    >>> _escape_like("a_b%c\\d")
    'a\\_b\\%c\\\\d'
    """
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
