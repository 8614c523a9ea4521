"""Retention on a real PostgreSQL: old history is downsampled without changing what the history
API answers at the rollup step, expired rows go, and a second run changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from streams.contract import FacilityFact, Incident, InspectionFact, LocatedEvent, ScoreUpdate
from streams.persistence import db, writes
from streams.persistence import reads as history
from streams.persistence.retention import ORIGIN, apply_retention
from streams.settings import Settings
from tests.factories import alert, score_update

pytestmark = pytest.mark.integration

CODE = "4157056000"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def settings(pg_dsn: str) -> Settings:
    return Settings(
        pg_dsn=pg_dsn,
        retention_raw_history_days=2,
        retention_rollup_step_s=300,
        retention_history_days=10,
        retention_events_days=5,
        retention_dead_letters_days=5,
    )


async def seed(conn: asyncpg.Connection) -> int:
    """Irregular updates over 12 days, up to NOW; returns how many."""
    rng = random.Random(5)
    t = NOW - timedelta(days=12)
    updates = []
    seq = 0
    while t < NOW:
        seq += 1
        update = score_update(CODE, seq, rng.uniform(0, 10))
        updates.append(update.model_copy(update={"as_of": t}))
        t += timedelta(seconds=rng.expovariate(1 / 90))
    await writes.write_scores(conn, "live", 1, updates)
    return len(updates)


async def series(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[object]:
    answer = await history.history(
        conn, series="live", district=CODE, domain="fire", start=start, end=end, step=STEP
    )
    return [(p.t, p.value, p.min, p.max, p.updates) for p in answer.points]


async def test_downsampling_keeps_answers_at_the_rollup_step(pg_dsn: str) -> None:
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        written = await seed(conn)
        old = await conn.fetchrow("SELECT 1 FROM score_points LIMIT 1")
        assert old is not None
        # the window that survives (10 days) but will be downsampled (older than 2 days)
        start = ORIGIN + ((NOW - timedelta(days=9) - ORIGIN) // STEP) * STEP
        end = ORIGIN + ((NOW - timedelta(days=3) - ORIGIN) // STEP) * STEP
        before = await series(conn, start, end)
        recent_before = await series(conn, NOW - timedelta(days=1), NOW)
        await conn.execute(
            """INSERT INTO alerts (id, seq, district, domain, rule, state, severity, opened_at,
                                   as_of, payload)
               VALUES ('old', 1, $1, 'fire', 'spike', 'resolved', 'Severe', $2, $2, '{}'),
                      ('open', 1, $1, 'fire', 'spike', 'firing', 'Severe', $2, $2, '{}')""",
            CODE,
            NOW - timedelta(days=20),
        )
        await writes.write_alerts(conn, [alert("recent", 1)])

        dry = await apply_retention(conn, settings(pg_dsn), NOW, dry_run=True)
        assert await conn.fetchval("SELECT count(*) FROM score_points WHERE seq < 0") == 0
        report = await apply_retention(conn, settings(pg_dsn), NOW)

        assert report.deleted == dry.deleted
        assert report.downsampled_points == dry.downsampled_points > 0
        assert 0 < report.rollup_rows < report.downsampled_points
        assert await series(conn, start, end) == before
        assert await series(conn, NOW - timedelta(days=1), NOW) == recent_before
        oldest = await conn.fetchval("SELECT min(as_of) FROM score_points")
        assert oldest >= NOW - timedelta(days=10)
        raw_left = await conn.fetchval(
            "SELECT count(*) FROM score_points WHERE seq >= 0 AND as_of < $1",
            NOW - timedelta(days=2) - STEP,
        )
        assert raw_left == 0
        # full updates (time travel) only within the raw period
        assert await conn.fetchval("SELECT min(as_of) FROM score_updates") >= NOW - timedelta(
            days=2, minutes=5
        )
        assert report.deleted["score_updates"] < written
        # resolved alerts past the history period go; open ones stay
        ids = {r["id"] for r in await conn.fetch("SELECT id FROM alerts")}
        assert ids == {"open", "recent"}

        again = await apply_retention(conn, settings(pg_dsn), NOW)
        assert sum(again.deleted.values()) == 0
        assert again.downsampled_points == 0
        assert await series(conn, start, end) == before
    finally:
        await conn.close()


async def test_time_travel_past_raw_retention_answers_from_downsampled_history(
    pg_dsn: str,
) -> None:
    """Each series' value is the newest kept point at or before the moment: the exact value,
    or the one the map showed at the start of the moment's rollup step — never a value from
    after the moment."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await seed(conn)
        rng = random.Random(9)
        moments = [NOW - timedelta(days=rng.uniform(2.5, 9.5)) for _ in range(60)]
        tick = timedelta(microseconds=1)

        async def exact_at(at: datetime) -> ScoreUpdate:
            answer = await history.scores_at(conn, series="live", at=at, codes=[CODE])
            return answer.districts[0]

        exact = {at: await exact_at(at) for at in moments}
        step_start = {at: ORIGIN + ((at - ORIGIN) // STEP) * STEP for at in moments}
        at_step_start = {at: await exact_at(step_start[at] - tick) for at in moments}
        await apply_retention(conn, settings(pg_dsn), NOW)

        outcomes = []
        for at in moments:
            answer = await history.scores_at(
                conn,
                series="live",
                at=at,
                codes=[CODE, "4157051500"],
                domains=["composite", "fire"],
            )
            assert answer.districts == []  # the full updates are gone
            assert answer.missing == ["4157051500"]  # nothing was ever stored there
            (kept,) = answer.downsampled
            assert kept.district == CODE
            assert kept.model_version == "test"
            for name in ("composite", "fire"):
                value = kept.series[name]
                assert value.as_of <= at
                shown = (value.as_of, value.value)
                now_exact = (
                    exact[at].as_of,
                    exact[at].composite.value,
                )  # factory: fire == composite
                then = (at_step_start[at].as_of, at_step_start[at].composite.value)
                assert shown in (now_exact, then)
                outcomes.append(shown == now_exact)
        assert any(outcomes)  # both cases occur
        assert not all(outcomes)

        recent = NOW - timedelta(hours=1)
        answer = await history.scores_at(
            conn, series="live", at=recent, codes=[CODE], domains=["composite"]
        )
        assert len(answer.districts) == 1
        assert answer.downsampled == []  # within the raw period: the full update
    finally:
        await conn.close()


async def test_event_retention_keeps_each_facilitys_newest_fact(pg_dsn: str) -> None:
    """Old incidents and superseded facts go; the newest fact of a facility or structure stays,
    whatever its age, because the live state still counts it."""
    old = NOW - timedelta(days=400)

    def located(n: int, at: datetime, fact: FacilityFact | InspectionFact | Incident) -> object:
        kind = "incident" if isinstance(fact, Incident) else "safety"
        return writes.StoredEvent(
            LocatedEvent(
                kind=kind,
                district=CODE,
                received_at=at,
                origin=f"x/0/{n}",
                incident=fact if isinstance(fact, Incident) else None,
                safety=None if isinstance(fact, Incident) else fact,
            ),
            partition=0,
            offset=n,
        )

    def hydrant(fid: str, action: str, at: datetime) -> FacilityFact:
        return FacilityFact(
            id=f"{fid}-{action}-{at.date()}",
            source="city",
            facility_id=fid,
            facility="hydrant",
            action=action,  # type: ignore[arg-type]
            effective_at=at,
            code=CODE,
        )

    bridge = InspectionFact(
        id="b1-2025", source="city", structure_id="bridge-1", grade="D", effective_at=old, code=CODE
    )
    fire = Incident(id="f1", source="fire", type="fire", severity=2, occurred_at=old, code=CODE)
    rows = [
        located(1, old, hydrant("h1", "added", old)),  # newest of h1: kept
        located(2, old, hydrant("h2", "added", old)),  # superseded by the removal below: goes
        located(3, NOW, hydrant("h2", "removed", NOW)),  # recent: kept
        located(4, old, bridge),  # newest inspection of bridge-1: kept
        located(5, old, fire),  # an old incident: goes
    ]
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await writes.write_events(conn, 1, rows)  # type: ignore[arg-type]
        dry = await apply_retention(conn, settings(pg_dsn), NOW, dry_run=True)
        report = await apply_retention(conn, settings(pg_dsn), NOW)
        left = await conn.fetch("SELECT event_id FROM events ORDER BY event_id")
    finally:
        await conn.close()
    assert [r["event_id"] for r in left] == [
        "b1-2025",
        f"h1-added-{old.date()}",
        f"h2-removed-{NOW.date()}",
    ]
    assert report.deleted["events"] == dry.deleted["events"] == 2
