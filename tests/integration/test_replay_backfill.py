"""Backfill (`riskmon replay --every`) on a real PostgreSQL: each grid instant is scored with the
events received by then, the series is replaced on a re-run, and the command reports in JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from indices import DistrictState
from streams.contract import Incident, LocatedEvent, ScoreUpdate
from streams.persistence import db, writes
from streams.pipeline.scoring import to_model_event
from streams.replay.recompute import ReplayPlan, run_replay
from tests.cities import exact_gimpo_config

pytestmark = pytest.mark.integration

CONFIG = exact_gimpo_config()
T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
CODES = ["4157056000", "4157025000"]
STEP = timedelta(minutes=10)


def located(n: int) -> LocatedEvent:
    received = T0 + timedelta(minutes=7 * n)
    incident = Incident(
        id=f"b-{n}",
        source="gimpo-119",
        type=["fire", "theft", "traffic_accident"][n % 3],
        severity=1 + n % 5,
        occurred_at=received - timedelta(minutes=n % 4),  # some arrive late
        code=CODES[n % 2],
    )
    return LocatedEvent(
        kind="incident",
        district=incident.code or "",
        received_at=received,
        origin=f"riskmon.located/0/{n}",
        incident=incident,
    )


async def test_backfill_scores_each_instant_with_the_events_received_by_then(pg_dsn: str) -> None:
    events = [located(n) for n in range(20)]
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await writes.write_events(
            conn, 1, [writes.StoredEvent(e, 0, n) for n, e in enumerate(events)]
        )
        plan = ReplayPlan("replay:backfill", "test", T0, T0 + timedelta(hours=2), STEP)
        districts = CONFIG.city.model_districts()
        first = await run_replay(conn, districts, CONFIG.params, plan)
        again = await run_replay(conn, districts, CONFIG.params, plan)
        rows = await conn.fetch(
            "SELECT payload FROM score_updates WHERE series = 'replay:backfill'"
        )
        with pytest.raises(ValueError, match="live"):
            await run_replay(
                conn, districts, CONFIG.params, ReplayPlan("live", "x", T0, T0 + STEP, STEP)
            )
    finally:
        await conn.close()

    assert first.updates == again.updates == 14 * 12  # every district, every 10 minutes
    assert len(rows) == first.updates  # the re-run replaced the series, not added to it
    replayed = {
        (u.district, u.as_of): u for u in (ScoreUpdate.model_validate_json(r[0]) for r in rows)
    }
    for code in CODES:
        district = districts[code]
        for k in range(12):
            at = T0 + k * STEP
            state = DistrictState.new()
            for event in events:
                if event.district == code and event.received_at <= at:
                    state.apply(to_model_event(event.event), CONFIG.params)
            expected = state.evaluate(district, CONFIG.params, at.timestamp())
            got = replayed[code, at]
            assert got.composite.value == expected.composite
            assert {n: d.risk for n, d in got.domains.items()} == {
                n: d.risk for n, d in expected.domains.items()
            }
    assert replayed[CODES[0], T0 + 11 * STEP].domains["fire"].risk > 0


async def test_replay_command_prints_a_report(pg_dsn: str) -> None:
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await writes.write_events(conn, 1, [writes.StoredEvent(located(0), 0, 0)])
    finally:
        await conn.close()
    env = dict(os.environ, RISKMON_PG_DSN=pg_dsn)
    argv = [sys.executable, "-m", "streams.cli", "replay", "--from", T0.isoformat(), "--to"]
    done = await asyncio.to_thread(
        subprocess.run,
        [
            *argv,
            (T0 + timedelta(hours=1)).isoformat(),
            "--every",
            "600",
            "--quiet",
            "--compare-alerts",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["updates"] == 14 * 6
    assert report["series"].startswith("replay:riskmon-index/")
    assert report["alerts"] == []  # no live series in this range, and one severity-1 fire
    assert "alerts:" in done.stderr
    bad = await asyncio.to_thread(
        subprocess.run,
        [*argv, T0.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "--from" in bad.stderr
    # A range without live updates (older than their retention, say) replays nothing: exit 1 and
    # the way out, not a silent success.
    empty = await asyncio.to_thread(
        subprocess.run,
        [*argv, (T0 + timedelta(hours=1)).isoformat(), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 1, empty.stderr
    assert json.loads(empty.stdout.strip().splitlines()[-1])["updates"] == 0
    assert "nothing replayed" in empty.stderr
    assert "--every" in empty.stderr
