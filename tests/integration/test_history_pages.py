"""Keyset pages of the history API on a real PostgreSQL, through the gateway's API shell.

Paging with ``after=next`` returns every matching row exactly once and in the single-query order,
even when many rows share a timestamp and when rows arrive between two pages.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard_ws.api.service import HistoryApi
from streams.contract import DeadLetter, Incident, LocatedEvent
from streams.persistence import db, pages, writes
from streams.persistence import reads as history
from streams.settings import Settings
from tests.factories import alert
from tests.principals import ADMIN

pytestmark = pytest.mark.integration

JANGGI = "4157056000"
BONDONG = "4157051500"
NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
RANGE = {"from": (NOW - timedelta(hours=2)).isoformat(), "to": NOW.isoformat()}


def located(n: int, *, at: datetime, district: str, source: str) -> writes.StoredEvent:
    incident = Incident(
        id=f"I-{n:04d}",
        source=source,
        type="fire",
        severity=1 + n % 5,
        occurred_at=at,
        code=district,
    )
    event = LocatedEvent(
        kind="incident",
        district=district,
        received_at=at + timedelta(seconds=n % 3),
        origin=f"riskmon.incidents/0/{n}",
        incident=incident,
    )
    return writes.StoredEvent(event, partition=0, offset=n)


def seed_events(rng: random.Random, first: int, count: int) -> Iterator[writes.StoredEvent]:
    """Events at only six distinct times, so pages cut through ties."""
    moments = [NOW - timedelta(minutes=10 * k) for k in range(1, 7)]
    for n in range(first, first + count):
        yield located(
            n,
            at=rng.choice(moments),
            district=rng.choice([JANGGI, BONDONG]),
            source=rng.choice(["gimpo-fire", "gimpo-119", "kfs"]),
        )


async def fetch(api: HistoryApi, path: str, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in {**RANGE, **params}.items()).replace("+", "%2B")
    status, body = await api.handle(path, query, ADMIN)
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


async def all_pages(
    api: HistoryApi, path: str, items: str, *, start: str | None = None, **params: str
) -> list[Any]:
    """Every row of every page from the one after ``start`` (a ``next`` cursor) on."""
    rows: list[Any] = []
    cursor = start
    while True:
        extra = {"after": cursor} if cursor else {}
        page = await fetch(api, path, **params, **extra)
        rows.extend(page[items])
        assert page["truncated"] == (page["next"] is not None)
        cursor = page["next"]
        if cursor is None:
            return rows


def event_ids(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["incident"]["source"], r["incident"]["id"]) for r in rows]


@pytest.fixture
async def api(pg_dsn: str) -> Any:
    conn = await db.connect(pg_dsn)
    await db.migrate(conn)
    await conn.close()
    gateway_api = HistoryApi(Settings(pg_dsn=pg_dsn), [JANGGI, BONDONG], ["composite"])
    yield gateway_api
    await gateway_api.close()


async def test_event_pages_hold_every_row_once_in_order(pg_dsn: str, api: HistoryApi) -> None:
    rng = random.Random(11)
    conn = await db.connect(pg_dsn)
    try:
        await writes.write_events(conn, 1, list(seed_events(rng, 0, 150)))
        await writes.write_events(conn, 2, list(seed_events(rng, 150, 100)))
    finally:
        await conn.close()
    whole = await fetch(api, "/api/events", limit="10000")
    assert len(whole["events"]) == 250
    assert not whole["truncated"]
    assert whole["next"] is None

    paged = await all_pages(api, "/api/events", "events", limit="23")
    assert event_ids(paged) == event_ids(whole["events"])
    assert len(set(event_ids(paged))) == 250
    times = [datetime.fromisoformat(r["incident"]["occurred_at"]) for r in paged]
    assert times == sorted(times)

    kfs = await all_pages(api, "/api/events", "events", limit="9", source="kfs")
    assert event_ids(kfs) == [ids for ids in event_ids(paged) if ids[0] == "kfs"]
    assert kfs
    fires = await fetch(api, "/api/events", limit="10000", type="fire")
    assert len(fires["events"]) == 250  # every seeded incident is a fire
    assert (await fetch(api, "/api/events", type="theft"))["events"] == []

    janggi = await all_pages(api, "/api/events", "events", limit="17", district=JANGGI)
    assert {r["district"] for r in janggi} == {JANGGI}
    assert event_ids(janggi) == [
        ids for ids, r in zip(event_ids(paged), paged, strict=True) if r["district"] == JANGGI
    ]


async def test_rows_added_between_pages_neither_repeat_nor_shift_a_page(
    pg_dsn: str, api: HistoryApi
) -> None:
    rng = random.Random(12)
    conn = await db.connect(pg_dsn)
    try:
        await writes.write_events(conn, 1, list(seed_events(rng, 0, 60)))
        first = await fetch(api, "/api/events", limit="25")
        # new rows both before the cursor (already paged over) and after it
        late = [
            located(900, at=NOW - timedelta(minutes=59), district=JANGGI, source="a-early"),
            located(901, at=NOW - timedelta(minutes=1), district=JANGGI, source="z-late"),
        ]
        await writes.write_events(conn, 1, late)
    finally:
        await conn.close()
    rest = await all_pages(api, "/api/events", "events", limit="25", start=first["next"])
    seen = event_ids(first["events"]) + event_ids(rest)
    assert len(seen) == len(set(seen))
    assert ("z-late", "I-0901") in seen  # after the cursor: found
    assert ("a-early", "I-0900") not in seen  # before the cursor: not replayed into a later page
    assert len(seen) == 61


async def test_alert_pages_newest_first(pg_dsn: str, api: HistoryApi) -> None:
    opened = [NOW - timedelta(minutes=m) for m in (5, 5, 5, 30, 30, 50)]
    alerts = [
        alert(f"{JANGGI}:fire:hazard:{i:03d}", 1).model_copy(
            update={"opened_at": opened[i % len(opened)], "as_of": NOW}
        )
        for i in range(40)
    ]
    conn = await db.connect(pg_dsn)
    try:
        await writes.write_alerts(conn, alerts)
    finally:
        await conn.close()
    whole = (await fetch(api, "/api/alerts", limit="1000"))["alerts"]
    paged = await all_pages(api, "/api/alerts", "alerts", limit="7")
    assert [a["id"] for a in paged] == [a["id"] for a in whole]
    assert len({a["id"] for a in paged}) == 40
    keys = [(datetime.fromisoformat(a["opened_at"]), a["id"]) for a in paged]
    assert keys == sorted(keys, reverse=True)


async def test_dead_letters_page_newest_first_with_their_original_bytes(
    pg_dsn: str, api: HistoryApi
) -> None:
    failed = NOW - timedelta(minutes=3)
    letters = [
        DeadLetter(
            topic="riskmon.incidents" if i % 2 else "riskmon.readings",
            partition=i % 3,
            offset=i,
            key_b64=DeadLetter.encode(b"k") if i % 4 else None,
            value_b64=DeadLetter.encode(f"not json {i} \xff".encode("latin-1")) or "",
            reason=f"line 1: expecting value (message {i})",
            error="not_json" if i % 5 else "outside_city",
            failed_at=failed if i < 30 else failed - timedelta(minutes=1),
            value_truncated_from=1_000_000 if i == 3 else None,
        )
        for i in range(45)
    ]
    conn = await db.connect(pg_dsn)
    try:
        await writes.write_dead_letters(conn, 1, letters[:20])
        await writes.write_dead_letters(conn, 2, letters[20:])
    finally:
        await conn.close()
    paged = await all_pages(api, "/api/dead-letters", "dead_letters", limit="8")
    assert len(paged) == 45
    assert {d["offset"] for d in paged} == set(range(45))
    by_offset = {d["offset"]: DeadLetter.model_validate(d) for d in paged}
    assert by_offset[7].value == "not json 7 \xff".encode("latin-1")
    assert by_offset[0].key_b64 is None
    assert by_offset[3].value_truncated_from == 1_000_000  # a large input's size is kept
    assert by_offset[4].value_truncated_from is None
    assert [d["failed_at"] for d in paged] == sorted((d["failed_at"] for d in paged), reverse=True)

    outside = await all_pages(
        api, "/api/dead-letters", "dead_letters", limit="2", error="outside_city"
    )
    assert sorted(d["offset"] for d in outside) == [i for i in range(45) if i % 5 == 0]
    one_topic = await fetch(api, "/api/dead-letters", topic="riskmon.readings")
    assert {d["topic"] for d in one_topic["dead_letters"]} == {"riskmon.readings"}
    assert len(one_topic["dead_letters"]) == 23


async def test_a_page_that_ends_exactly_at_the_last_row_promises_no_more(
    pg_dsn: str, api: HistoryApi
) -> None:
    conn = await db.connect(pg_dsn)
    try:
        await writes.write_events(conn, 1, list(seed_events(random.Random(3), 0, 4)))
    finally:
        await conn.close()
    first = await fetch(api, "/api/events", limit="2")
    second = await fetch(api, "/api/events", limit="2", after=first["next"])
    assert len(second["events"]) == 2
    assert second["next"] is None  # exactly at the end: no promise of more


async def test_large_dead_letters_end_a_page_at_its_byte_budget(pg_dsn: str) -> None:
    """A page holds what fits in the budget (at least one row), and paging still gives all."""
    failed = NOW - timedelta(minutes=1)
    sizes = [300_000] * 7 + [1_500_000, 10]
    letters = [
        DeadLetter(
            topic="riskmon.incidents",
            partition=0,
            offset=i,
            key_b64=None,
            value_b64=DeadLetter.encode(bytes([i]) * size) or "",
            reason="not JSON",
            error="not_json",
            failed_at=failed - timedelta(seconds=i),
        )
        for i, size in enumerate(sizes)
    ]
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await writes.write_dead_letters(conn, 1, letters)
        seen: list[DeadLetter] = []
        pages_sizes: list[int] = []
        after = None
        while True:
            page = await history.dead_letters(
                conn,
                start=NOW - timedelta(hours=1),
                end=NOW,
                limit=100,
                after=after,
                byte_budget=1_000_000,
            )
            pages_sizes.append(len(page.dead_letters))
            seen.extend(page.dead_letters)
            assert sum(len(d.value) for d in page.dead_letters) <= 1_000_000 or (
                len(page.dead_letters) == 1
            )
            if page.next is None:
                break
            after = pages.decode(pages.DEAD_LETTER_KEY, page.next)
        # newest first: offset i failed i seconds earlier
        assert [d.offset for d in seen] == list(range(len(sizes)))
        assert pages_sizes == [
            3,
            3,
            1,
            1,
            1,
        ]  # 3 x 300 kB, 3 x 300 kB, 300 kB, the 1.5 MB alone, 10 B
        assert all(d.value == bytes([i]) * sizes[i] for i, d in enumerate(seen))
    finally:
        await conn.close()
