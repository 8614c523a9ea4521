"""PostgreSQL, the reading side: the history API's queries and what replay reads.

Each query returns wire-contract models (:mod:`streams.contract`); the gateway only parses
parameters and serialises. Series are step functions: a district's score holds from one update to
the next, so a step without updates shows the value carried over from before it
(:func:`fill_steps`, pure).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from streams.contract import (
    Alert,
    AlertHistoryResponse,
    AlertsResponse,
    DeadLetter,
    DeadLettersResponse,
    DownsampledScores,
    EventsResponse,
    HistoryPoint,
    HistoryResponse,
    LocatedEvent,
    ScoresAtResponse,
    ScoreUpdate,
    SeriesValue,
)
from streams.contract.base import read_internal
from streams.persistence import pages

__all__ = [
    "Bucket",
    "alert_history",
    "alerts",
    "dead_letters",
    "events",
    "fill_steps",
    "history",
    "located_of",
    "scores_at",
]


# Keyset conditions: rows strictly after a page's last key, in each route's order.
EVENTS_AFTER = "AND (occurred_at, epoch, kind, source, event_id) > ($8, $9, $10, $11, $12)"
ALERTS_AFTER = "AND (opened_at, id) < ($6, $7)"
DEAD_LETTER_COLUMNS = ("failed_at", "epoch", "topic", "partition", "offset")
DEAD_LETTER_PAGE_BYTES = 8 * 1024 * 1024  # original bytes per page (base64 makes 4/3 of it)
CURSOR_PREFETCH = 16
DEAD_LETTERS_AFTER = 'AND (failed_at, epoch, topic, partition, "offset") < ($6, $7, $8, $9, $10)'


@dataclass(frozen=True)
class Bucket:
    """What the database gives for one step that holds points."""

    start: datetime
    last: float
    grade: int | None
    lo: float
    hi: float
    n: int


def fill_steps(
    start: datetime,
    end: datetime,
    step: timedelta,
    carry: tuple[float, int | None] | None,
    buckets: Iterable[Bucket],
) -> list[HistoryPoint]:
    """One point per step in [start, end): steps with points summarise them, the others repeat the
    value carried in. ``carry`` is the (value, grade) in force at ``start``, if any.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 11, 25, tzinfo=UTC)
    >>> m = timedelta(minutes=1)
    >>> pts = fill_steps(t0, t0 + 3 * m, m, (2.0, 1), [Bucket(t0 + m, 5.0, 3, 4.0, 6.0, 2)])
    >>> [(p.value, p.min, p.max, p.updates) for p in pts]
    [(2.0, 2.0, 2.0, 0), (5.0, 2.0, 6.0, 2), (5.0, 5.0, 5.0, 0)]
    """
    by_start = {b.start: b for b in buckets}
    points = []
    value, grade = carry if carry is not None else (None, None)
    t = start
    while t < end:
        bucket = by_start.get(t)
        if bucket is None:
            points.append(
                HistoryPoint(t=t, value=value, min=value, max=value, grade=grade, updates=0)
            )
        else:
            lo = bucket.lo if value is None else min(value, bucket.lo)
            hi = bucket.hi if value is None else max(value, bucket.hi)
            value, grade = bucket.last, bucket.grade
            points.append(
                HistoryPoint(t=t, value=value, min=lo, max=hi, grade=grade, updates=bucket.n)
            )
        t += step
    return points


async def history(
    conn: asyncpg.Connection,
    *,
    series: str,
    district: str,
    domain: str,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> HistoryResponse:
    """A district's ``domain`` series in [start, end), downsampled to ``step``."""
    key = (series, district, domain)
    carry_row = await conn.fetchrow(
        """SELECT value, grade, model_version FROM score_points
           WHERE series = $1 AND district = $2 AND domain = $3 AND as_of < $4
           ORDER BY as_of DESC, seq DESC LIMIT 1""",
        *key,
        start,
    )
    rows = await conn.fetch(
        """SELECT date_bin($5::interval, as_of, $4) AS start,
                  (array_agg(value ORDER BY as_of DESC, seq DESC))[1] AS last,
                  (array_agg(grade ORDER BY as_of DESC, seq DESC))[1] AS grade,
                  min(lo) AS lo, max(hi) AS hi, sum(n)::integer AS n,
                  array_agg(DISTINCT model_version) AS versions
           FROM score_points
           WHERE series = $1 AND district = $2 AND domain = $3 AND as_of >= $4 AND as_of < $6
           GROUP BY 1 ORDER BY 1""",
        *key,
        start,
        step,
        end,
    )
    versions = {v for row in rows for v in row["versions"]}
    carry = None
    if carry_row is not None:
        carry = (carry_row["value"], carry_row["grade"])
        versions.add(carry_row["model_version"])
    buckets = [Bucket(r["start"], r["last"], r["grade"], r["lo"], r["hi"], r["n"]) for r in rows]
    return HistoryResponse(
        district=district,
        domain=domain,
        series=series,
        model_versions=sorted(versions),
        start=start,
        end=end,
        step_s=int(step.total_seconds()),
        points=fill_steps(start, end, step, carry, buckets),
    )


async def scores_at(
    conn: asyncpg.Connection,
    *,
    series: str,
    at: datetime,
    codes: Sequence[str],
    domains: Sequence[str] = (),
) -> ScoresAtResponse:
    """Every district in ``codes`` as its last stored update at or before ``at`` showed it.

    Where that update is past the raw retention, each of ``domains`` (series names such as
    ``composite`` or ``fire``) comes from the downsampled points instead: the newest point at or
    before ``at``. A rollup point carries the time and value of the last update of its step, so
    the value is never from after ``at`` and at most one step older than the exact one.
    """
    rows = await conn.fetch(
        """SELECT c.code, u.payload
           FROM unnest($3::text[]) AS c(code)
           LEFT JOIN LATERAL (
               SELECT payload FROM score_updates
               WHERE series = $1 AND district = c.code AND as_of <= $2
               ORDER BY as_of DESC, seq DESC LIMIT 1
           ) u ON true
           ORDER BY c.code""",
        series,
        at,
        list(codes),
    )
    found = [read_internal(ScoreUpdate, r["payload"]) for r in rows if r["payload"]]
    missing = [r["code"] for r in rows if not r["payload"]]
    downsampled = await _downsampled_at(conn, series, at, missing, domains) if domains else []
    kept = {d.district for d in downsampled}
    return ScoresAtResponse(
        at=at,
        series=series,
        districts=found,
        downsampled=downsampled,
        missing=[code for code in missing if code not in kept],
    )


async def _downsampled_at(
    conn: asyncpg.Connection,
    series: str,
    at: datetime,
    codes: Sequence[str],
    domains: Sequence[str],
) -> list[DownsampledScores]:
    if not codes:
        return []
    rows = await conn.fetch(
        """SELECT c.code, d.domain, p.as_of, p.value, p.grade, p.model_version
           FROM unnest($3::text[]) AS c(code) CROSS JOIN unnest($4::text[]) AS d(domain)
           JOIN LATERAL (
               SELECT as_of, value, grade, model_version FROM score_points
               WHERE series = $1 AND district = c.code AND domain = d.domain AND as_of <= $2
               ORDER BY as_of DESC, seq DESC LIMIT 1
           ) p ON true
           ORDER BY c.code, d.domain""",
        series,
        at,
        list(codes),
        list(domains),
    )
    by_code: dict[str, dict[str, SeriesValue]] = {}
    version: dict[str, tuple[datetime, str]] = {}
    for r in rows:
        by_code.setdefault(r["code"], {})[r["domain"]] = SeriesValue(
            value=r["value"], grade=r["grade"], as_of=r["as_of"]
        )
        newest = version.get(r["code"])
        if newest is None or r["as_of"] > newest[0]:
            version[r["code"]] = (r["as_of"], r["model_version"])
    return [
        DownsampledScores(district=code, model_version=version[code][1], series=values)
        for code, values in by_code.items()
    ]


async def alerts(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    state: str | None = None,
    district: str | None = None,
    limit: int = 500,
    after: pages.Key | None = None,
) -> AlertsResponse:
    """Alerts opened in [start, end) in their latest state, newest first (then by id,
    descending); ``after`` continues from a page's ``next`` cursor."""
    rows = await conn.fetch(
        f"""SELECT opened_at, id, payload FROM alerts
           WHERE opened_at >= $1 AND opened_at < $2
             AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR district = $4)
             {ALERTS_AFTER if after else ""}
           ORDER BY opened_at DESC, id DESC LIMIT $5""",
        start,
        end,
        state,
        district,
        limit + 1,
        *(after or ()),
    )
    page, next_key = _page(rows, limit, ("opened_at", "id"))
    return AlertsResponse(
        alerts=[read_internal(Alert, r["payload"]) for r in page],
        truncated=next_key is not None,
        next=pages.encode(pages.ALERT_KEY, next_key) if next_key else None,
    )


async def alert_history(conn: asyncpg.Connection, alert_id: str) -> AlertHistoryResponse | None:
    """Every stored message of one alert, in lifecycle order; None for an unknown id."""
    rows = await conn.fetch(
        "SELECT payload FROM alert_changes WHERE id = $1 ORDER BY seq", alert_id
    )
    if not rows:
        return None
    return AlertHistoryResponse(
        id=alert_id, changes=[read_internal(Alert, r["payload"]) for r in rows]
    )


async def events(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    district: str | None = None,
    kind: str | None = None,
    type_: str | None = None,
    source: str | None = None,
    limit: int = 1000,
    after: pages.Key | None = None,
) -> EventsResponse:
    """Validated events that happened in [start, end), oldest first (ties in a fixed order of
    epoch, kind, source and id); ``after`` continues from a page's ``next`` cursor."""
    rows = await conn.fetch(
        f"""SELECT kind, district, h3, received_at, origin, payload,
                  occurred_at, epoch, source, event_id FROM events
           WHERE occurred_at >= $1 AND occurred_at < $2
             AND ($3::text IS NULL OR district = $3) AND ($4::text IS NULL OR kind = $4)
             AND ($6::text IS NULL OR type = $6) AND ($7::text IS NULL OR source = $7)
             {EVENTS_AFTER if after else ""}
           ORDER BY occurred_at, epoch, kind, source, event_id LIMIT $5""",
        start,
        end,
        district,
        kind,
        limit + 1,
        type_,
        source,
        *(after or ()),
    )
    page, next_key = _page(rows, limit, ("occurred_at", "epoch", "kind", "source", "event_id"))
    return EventsResponse(
        events=[located_of(r) for r in page],
        truncated=next_key is not None,
        next=pages.encode(pages.EVENT_KEY, next_key) if next_key else None,
    )


async def dead_letters(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    error: str | None = None,
    topic: str | None = None,
    limit: int = 1000,
    after: pages.Key | None = None,
    byte_budget: int = DEAD_LETTER_PAGE_BYTES,
) -> DeadLettersResponse:
    """Dead letters that failed in [start, end), newest first, with their original bytes;
    ``after`` continues from a page's ``next`` cursor.

    Rejected inputs can be large (whatever the broker accepted), so a page also ends once its
    original bytes reach ``byte_budget`` (at least one row is always given): rows are streamed
    from a cursor and never all held at once.
    """
    sql = f"""SELECT epoch, topic, partition, "offset", error, reason, failed_at, key, value,
                  value_size
           FROM dead_letters
           WHERE failed_at >= $1 AND failed_at < $2
             AND ($3::text IS NULL OR error = $3) AND ($4::text IS NULL OR topic = $4)
             {DEAD_LETTERS_AFTER if after else ""}
           ORDER BY failed_at DESC, epoch DESC, topic DESC, partition DESC, "offset" DESC
           LIMIT $5"""
    args = (start, end, error, topic, limit + 1, *(after or ()))
    page: list[asyncpg.Record] = []
    more = False
    used = 0
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(sql, *args, prefetch=CURSOR_PREFETCH):
            size = len(row["value"]) + len(row["key"] or b"")
            if len(page) == limit or (page and used + size > byte_budget):
                more = True
                break
            page.append(row)
            used += size
    next_key = _key_of(page[-1], DEAD_LETTER_COLUMNS) if more else None
    found = [
        DeadLetter(
            topic=r["topic"],
            partition=r["partition"],
            offset=r["offset"],
            key_b64=DeadLetter.encode(r["key"]),
            value_b64=DeadLetter.encode(r["value"]) or "",
            reason=r["reason"],
            error=r["error"],
            failed_at=r["failed_at"],
            value_truncated_from=r["value_size"],
        )
        for r in page
    ]
    return DeadLettersResponse(
        dead_letters=found,
        truncated=next_key is not None,
        next=pages.encode(pages.DEAD_LETTER_KEY, next_key) if next_key else None,
    )


def _page(
    rows: Sequence[asyncpg.Record], limit: int, key: tuple[str, ...]
) -> tuple[Sequence[asyncpg.Record], pages.Key | None]:
    """The first ``limit`` rows (a query asks for one more) and, when more follow, the key of
    the last one shown."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], _key_of(rows[limit - 1], key)


def _key_of(row: asyncpg.Record, columns: tuple[str, ...]) -> pages.Key:
    return tuple(row[name] for name in columns)


def located_of(row: asyncpg.Record | dict[str, Any]) -> LocatedEvent:
    """A stored event row back as the :class:`LocatedEvent` the worker produced."""
    payload = row["payload"]
    return LocatedEvent.model_validate(
        {
            "kind": row["kind"],
            "district": row["district"],
            "h3": row["h3"],
            "received_at": row["received_at"],
            "origin": row["origin"],
            row["kind"]: json.loads(payload) if isinstance(payload, str) else payload,
        }
    )


async def incident_cells(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, type_: str | None = None
) -> list[tuple[str, int, float]]:
    """(H3 cell, incidents, sum of severities) of the incidents that occurred in [start, end),
    per stored cell (resolution 9); incidents placed by district code alone have no cell."""
    rows = await conn.fetch(
        """SELECT h3, count(*) AS n, sum((payload->>'severity')::int) AS severity FROM events
           WHERE kind = 'incident' AND h3 IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2
             AND ($3::text IS NULL OR type = $3)
           GROUP BY h3 ORDER BY h3""",
        start,
        end,
        type_,
    )
    return [(r["h3"], int(r["n"]), float(r["severity"] or 0)) for r in rows]


async def incident_counts(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, type_: str | None = None
) -> list[tuple[str, str, int]]:
    """(district, incident type, incidents) that occurred in [start, end)."""
    rows = await conn.fetch(
        """SELECT district, type, count(*) AS n FROM events
           WHERE kind = 'incident' AND occurred_at >= $1 AND occurred_at < $2
             AND ($3::text IS NULL OR type = $3)
           GROUP BY district, type ORDER BY district, type""",
        start,
        end,
        type_,
    )
    return [(r["district"], r["type"], int(r["n"])) for r in rows]
