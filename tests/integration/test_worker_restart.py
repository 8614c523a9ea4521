"""A worker killed with SIGKILL mid-stream and restarted ends with exactly the offline scores."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from indices import score_batch
from streams.cityconfig import load_city_config
from streams.contract import (
    DistrictScores,
    FacilityFact,
    Incident,
    InspectionFact,
    ScoreUpdate,
    SensorReading,
)
from streams.offline import score_lines
from streams.replay import ReplayPlan, run_replay
from streams.scoring import to_model_event
from streams.settings import Settings
from streams.sink import run_sink

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = load_city_config()
CITY, PARAMS = CONFIG.city, CONFIG.params
TOLERANCE = 1e-9


def generate(seed: int, now: datetime) -> list[tuple[str, BaseModel]]:
    """A realistic mix: incidents (with re-sent duplicates), readings and safety facts."""
    rng = random.Random(seed)
    codes = list(CITY.codes)
    types = ["fire", "traffic_accident", "theft", "assault", "fall", "gas_leak", "flood"]
    out: list[tuple[str, BaseModel]] = []
    for n in range(500):
        code = rng.choice(codes)
        incident = Incident(
            id=f"r-{n}",
            source=rng.choice(["gimpo-fire", "gimpo-police"]),
            type=rng.choice(types),
            severity=rng.choice([1, 1, 2, 2, 3, 4, 5]),
            occurred_at=now - timedelta(minutes=rng.uniform(0, 720)),
            casualties=rng.choice([0, 0, 0, 1, 2]),
            code=code,
        )
        out.append(("incidents", incident))
        if rng.random() < 0.1:
            out.append(("incidents", incident))  # an agency re-sends it
        if n % 5 == 0:
            out.append(
                (
                    "readings",
                    SensorReading(
                        sensor_id=f"rain-{code}",
                        kind="rainfall_mm_1h",
                        value=rng.uniform(0, 60),
                        observed_at=now - timedelta(minutes=rng.uniform(0, 180)),
                        code=code,
                    ),
                )
            )
        if n % 10 == 0:
            out.append(
                (
                    "safety",
                    FacilityFact(
                        id=f"fac-{n}",
                        source="gimpo-city",
                        facility_id=f"cctv-{n % 40}",
                        facility="cctv",
                        action=rng.choice(["added", "added", "removed"]),
                        effective_at=now - timedelta(days=rng.uniform(0, 30)),
                        code=code,
                    ),
                )
            )
        if n % 25 == 0:
            out.append(
                (
                    "safety",
                    InspectionFact(
                        id=f"insp-{n}",
                        source="gimpo-city",
                        structure_id=f"bridge-{n % 7}",
                        grade=rng.choice("ABCDE"),
                        effective_at=now - timedelta(days=rng.uniform(0, 90)),
                        code=code,
                    ),
                )
            )
    return out


def assert_equal_to_offline(update: ScoreUpdate, events: list[BaseModel]) -> None:
    district = CITY.model_districts()[update.district]
    oracle = score_batch(
        district,
        [to_model_event(e) for e in events],  # type: ignore[arg-type]
        PARAMS,
        update.as_of.timestamp(),
    )
    assert update.events == oracle.events
    assert update.composite.grade == oracle.grade
    pairs = [
        (update.composite.value, oracle.composite),
        (update.safety, oracle.safety),
        (update.coping_lack, oracle.coping_lack),
        (update.vulnerability, oracle.vulnerability),
    ]
    for name, domain in oracle.domains.items():
        got = update.domains[name]
        pairs += [
            (got.hazard, domain.hazard),
            (got.risk, domain.risk),
            (got.intensity, domain.intensity),
            (got.sensor_hazard, domain.sensor_hazard),
        ]
        assert got.grade == domain.grade
    for got_value, want in pairs:
        assert abs(got_value - want) <= TOLERANCE, (update.district, got_value, want)


def assert_same_scores(update: ScoreUpdate, offline: DistrictScores) -> None:
    """Every number of the offline scores equals the published update's (to 1e-9)."""
    assert update.as_of == offline.as_of
    assert update.events == offline.events
    assert update.composite.grade == offline.composite.grade
    published = update.model_dump(include=set(DistrictScores.model_fields) - {"contributors"})
    expected = offline.model_dump(include=set(DistrictScores.model_fields) - {"contributors"})
    got, want = _flatten(published), _flatten(expected)
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=TOLERANCE), key
        else:
            assert got[key] == value, key
    for domain, drivers in update.contributors.items():
        want_drivers = offline.contributors[domain]
        assert [d.event_id for d in drivers] == [d.event_id for d in want_drivers]
        for got_driver, want_driver in zip(drivers, want_drivers, strict=True):
            assert got_driver.contribution == pytest.approx(want_driver.contribution, abs=TOLERANCE)


def _flatten(value: object, path: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{path}.{key}"))
        return out
    return {path: value}


async def checkpointed(pg_dsn: str, settings: Settings) -> int:
    """Sum of the scoring checkpoints' next offsets (records of riskmon.located they cover)."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        total = await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM scorer_checkpoints"
            " WHERE app_id = $1 AND topic = $2",
            settings.app_id,
            settings.topics.located,
        )
    finally:
        await conn.close()
    return int(total)


async def committed(settings: Settings) -> int:
    """Sum of the worker group's committed offsets on riskmon.located."""
    # Manual assignment with the group's id reads its offsets without joining the group.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.located, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        offsets = [await consumer.committed(tp) for tp in tps]
    finally:
        await consumer.stop()
    return sum(offset for offset in offsets if offset)


async def test_sigkill_mid_stream_then_restart_matches_offline_scores(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    # Checkpoints rarer than Faust's offset commits (1 s), so Faust's committed offset runs ahead
    # of the checkpoint: a restart that trusted it would lose the records in between.
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, checkpoint_interval_s=8.0)
    topic = {
        "incidents": settings.topics.incidents,
        "readings": settings.topics.readings,
        "safety": settings.topics.safety,
    }
    stream = generate(11, datetime.now(UTC))
    phase_a, phase_b, phase_c = stream[:300], stream[300:400], stream[400:]
    worker = WorkerProcess(settings, tmp_path / "worker.log")

    async def send(chunk: list[tuple[str, BaseModel]]) -> None:
        for name in topic:
            messages = [m for t, m in chunk if t == name]
            if messages:
                await produce(settings, topic[name], messages)

    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            latest: dict[str, ScoreUpdate] = {}
            published: list[ScoreUpdate] = []

            async def drain() -> None:
                for value in await reader.poll(0.2):
                    update = ScoreUpdate.model_validate_json(value)
                    published.append(update)
                    if update.district not in latest or update.seq > latest[update.district].seq:
                        latest[update.district] = update

            async def all_districts() -> bool:
                await drain()
                return len(latest) == 14

            await eventually(all_districts, within=90, watch=[worker])
            # Phase A is processed and checkpointed; phase B is processed and committed by
            # Faust but not checkpointed when the worker is killed.
            await send(phase_a)
            await eventually(
                lambda: _equals(checkpointed(pg_dsn, settings), len(phase_a)),
                within=30,
                watch=[worker],
            )
            # Send phase B in small chunks until Faust has committed records past the newest
            # checkpoint (a checkpoint may land meanwhile on a loaded machine), then SIGKILL.
            sent = len(phase_a)
            for chunk_start in range(0, len(phase_b), 25):
                chunk = phase_b[chunk_start : chunk_start + 25]
                await send(chunk)
                sent += len(chunk)
                await eventually(
                    lambda n=sent: _equals(committed(settings), n),
                    within=30,
                    interval=0.1,
                    watch=[worker],
                )
                if await checkpointed(pg_dsn, settings) < sent:
                    break
            rest = phase_b[chunk_start + 25 :] + phase_c
            worker.kill()
            saved = await checkpointed(pg_dsn, settings)
            assert saved < sent, "no records between checkpoint and kill: the test lost its point"
            worker.start()
            for start in range(0, len(rest), 50):
                await send(rest[start : start + 50])

            by_district: dict[str, list[BaseModel]] = {code: [] for code in CITY.codes}
            for _, message in stream:
                by_district[message.code].append(message)  # type: ignore[attr-defined]
            expected_events = {
                code: len({(e.source, e.id) for e in events if isinstance(e, Incident)})
                for code, events in by_district.items()
            }

            async def caught_up() -> bool:
                await drain()
                return all(latest[c].events == n for c, n in expected_events.items())

            await eventually(caught_up, within=120, interval=0.5, watch=[worker])
            quiet_since = asyncio.get_running_loop().time()
            while asyncio.get_running_loop().time() - quiet_since < 4:
                before = {c: u.seq for c, u in latest.items()}
                await drain()
                if any(
                    latest[c].seq != s and latest[c].reason != "tick" for c, s in before.items()
                ):
                    quiet_since = asyncio.get_running_loop().time()

        assert worker.alive, worker.log_tail()
        assert "from=checkpoint" in worker.log_path.read_text()
        for code, update in latest.items():
            assert_equal_to_offline(update, by_district[code])
        # ... and equal to `riskmon score` on the same events at the same times.
        events_file = tmp_path / "events.jsonl"
        events_file.write_text("\n".join(m.model_dump_json() for _, m in stream))
        for code, update in latest.items():
            offline = score_lines(events_file.read_bytes().splitlines(), CONFIG, update.as_of)
            assert_same_scores(update, next(d for d in offline.districts if d.district == code))
        janggi = latest["4157056000"]
        printed = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "streams.cli",
                "score",
                "--events",
                str(events_file),
                "--at",
                janggi.as_of.isoformat(),
                "--json",
            ],
            capture_output=True,
            check=True,
            timeout=120,
        )
        document = json.loads(printed.stdout)
        cli = next(d for d in document["districts"] if d["district"] == "4157056000")
        assert_same_scores(janggi, DistrictScores.model_validate(cli))

        # Replay from the stored events reproduces every published update, including those the
        # restarted worker republished from its older checkpoint.
        keys = [(u.district, u.seq) for u in published]

        async def stored() -> bool:
            conn = await asyncpg.connect(pg_dsn)
            try:
                rows = await conn.fetch("SELECT district, seq FROM score_updates")
            finally:
                await conn.close()
            return set(keys) <= {(r["district"], r["seq"]) for r in rows}

        await eventually(stored, within=60)
        conn = await asyncpg.connect(pg_dsn)
        try:
            plan = ReplayPlan(
                series="replay:restart",
                model_version=published[0].model_version,
                start=min(u.as_of for u in published),
                end=max(u.as_of for u in published) + timedelta(seconds=1),
                every=None,
            )
            await run_replay(conn, CITY.model_districts(), PARAMS, plan)
            rows = await conn.fetch(
                "SELECT payload FROM score_updates WHERE series = 'replay:restart'"
            )
        finally:
            await conn.close()
        replayed = {
            (u.district, u.seq): u for u in (ScoreUpdate.model_validate_json(r[0]) for r in rows)
        }
        assert {u.reason for u in published} >= {"recovered", "events"}
        for update in published:
            again = replayed[update.district, update.seq]
            assert (again.composite, again.domains, again.groups, again.safety) == (
                update.composite,
                update.domains,
                update.groups,
                update.safety,
            ), (update.district, update.seq, update.reason)
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.wait_for(sink, 30)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
