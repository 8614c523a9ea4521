"""Two cities on one cluster: two riskmon deployments side by side on one Kafka broker and one
PostgreSQL server, each with its own topics (``RISKMON_TOPICS__*``), consumer group (app id),
alert-stage partition and database. Each city's events move only its own districts; an event of
the other city sent to the wrong deployment is dead-lettered there, never scored.

City A is Gimpo with its exact boundaries; city B is a synthesized city of made-up districts far
from Gimpo (``streams.city.synth.random_city``), so their district codes and points never meet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import shapely

from streams.city.config import CityConfig, load_city_config
from streams.city.synth import random_city
from streams.cli.city import write_city_folder
from streams.contract import DeadLetter, Incident, ScoreUpdate
from streams.ops.topics import create_topics
from streams.settings import Settings
from tests.cities import exact_gimpo_config
from tests.conftest import fresh_database

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

B_DISTRICTS = 40


@pytest.fixture
async def second_pg_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """City B's own database on the same PostgreSQL server (dropped at the end)."""
    async with fresh_database(pg_server_dsn, "riskmon_test_b") as dsn:
        yield dsn


def incidents_in(config: CityConfig, codes: list[str], prefix: str, source: str) -> list[Incident]:
    """Two incidents at a point inside each of ``codes`` (the worker places them)."""
    out = []
    for n, code in enumerate(codes):
        inside = shapely.point_on_surface(config.city.districts[code].geometry)
        for k in range(2):
            out.append(
                Incident(
                    id=f"{prefix}-{n}-{k}",
                    source=source,
                    type="fire" if k else "theft",
                    severity=3,
                    occurred_at=datetime.now(UTC),
                    lat=inside.y,
                    lon=inside.x,
                )
            )
    return out


class CityWatch:
    """A deployment's scores, alert-stage input and dead-letter topics, read from the start."""

    def __init__(self, settings: Settings) -> None:
        self.scores = TopicReader(settings, settings.topics.scores)
        self.alert_input = TopicReader(settings, settings.topics.alert_input)
        self.dead = TopicReader(settings, settings.topics.deadletter)
        self.latest: dict[str, ScoreUpdate] = {}
        self.alert_input_districts: set[str] = set()
        self.letters: list[DeadLetter] = []

    async def __aenter__(self) -> CityWatch:
        for reader in (self.scores, self.alert_input, self.dead):
            await reader.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for reader in (self.scores, self.alert_input, self.dead):
            await reader.__aexit__(*exc)

    async def poll(self) -> None:
        for value in await self.scores.poll(0.1):
            update = ScoreUpdate.model_validate_json(value)
            held = self.latest.get(update.district)
            if held is None or update.seq > held.seq:
                self.latest[update.district] = update
        for value in await self.alert_input.poll(0.1):
            self.alert_input_districts.add(str(json.loads(value)["district"]))
        self.letters.extend(DeadLetter.model_validate_json(v) for v in await self.dead.poll(0.1))

    def counted(self, want: Counter[str], districts: int) -> bool:
        """Every district published, and each holds exactly the incidents sent to it."""
        if len(self.latest) < districts:
            return False
        return all(self.latest[code].events == want.get(code, 0) for code in self.latest)


def checkpointed_districts(rows: list[asyncpg.Record]) -> set[str]:
    return {code for row in rows for code in json.loads(row["state"])["districts"]}


async def checkpoints(dsn: str, app_id: str, topic: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT app_id, topic, partition, next_offset, state FROM scorer_checkpoints "
                "WHERE app_id = $1 AND topic = $2",
                app_id,
                topic,
            )
        )
    finally:
        await conn.close()


async def test_two_cities_run_side_by_side_on_one_broker_and_never_touch_each_other(
    kafka_bootstrap: str, pg_dsn: str, second_pg_dsn: str, tmp_path: Path
) -> None:
    gimpo = exact_gimpo_config()
    folder = tmp_path / "city-b"
    write_city_folder(random_city(B_DISTRICTS, seed=21, lat=35.16, lon=129.06), folder)
    other = load_city_config(folder)
    assert not set(gimpo.city.codes) & set(other.city.codes)

    a = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path / "a")
    b = isolated_settings(kafka_bootstrap, second_pg_dsn, tmp_path / "b", city=folder)
    # Two deployments: nothing of their Kafka or PostgreSQL names is shared.
    assert not set(a.topics.all()) & set(b.topics.all())
    assert a.app_id != b.app_id

    a_codes = sorted(gimpo.city.codes)[:5]
    b_codes = sorted(other.city.codes)[::5]
    to_a = incidents_in(gimpo, a_codes, "a", "gimpo-fire")
    to_b = incidents_in(other, b_codes, "b", "b-fire")
    want_a = Counter(gimpo.city.locate(i.lat or 0.0, i.lon or 0.0) or "" for i in to_a)
    want_b = Counter(other.city.locate(i.lat or 0.0, i.lon or 0.0) or "" for i in to_b)
    assert set(want_a) == set(a_codes)
    assert set(want_b) == set(b_codes)
    # Sent to the wrong deployment: a point of city B to A (outside every district of A) and
    # an incident with a code of A to B (not one of B's districts).
    stray_point = incidents_in(other, b_codes[:1], "stray-point", "b-fire")[0]
    stray_code = Incident(
        id="stray-code",
        source="gimpo-fire",
        type="fire",
        severity=5,
        occurred_at=datetime.now(UTC),
        code=a_codes[0],
    )

    # Each deployment's topics, as `riskmon topics` makes them (the alert stage's input of one
    # partition), before anything reads them (a read would let the broker auto-create them).
    await create_topics(a)
    await create_topics(b)
    worker_a = WorkerProcess(a, tmp_path / "worker-a.log")
    worker_b = WorkerProcess(b, tmp_path / "worker-b.log")
    worker_a.start()
    worker_b.start()
    workers = [worker_a, worker_b]
    try:
        async with CityWatch(a) as watch_a, CityWatch(b) as watch_b:

            async def both(want_a: Counter[str], want_b: Counter[str]) -> bool:
                await watch_a.poll()
                await watch_b.poll()
                return watch_a.counted(want_a, len(gimpo.city.codes)) and watch_b.counted(
                    want_b, B_DISTRICTS
                )

            # Both cities start on the one broker: every district of each publishes, at zero.
            await eventually(lambda: both(Counter(), Counter()), within=180, watch=workers)

            await produce(a, a.topics.incidents, [*to_a, stray_point])
            await produce(b, b.topics.incidents, [*to_b, stray_code])
            await eventually(lambda: both(want_a, want_b), within=90, watch=workers)

            async def stray_letters() -> bool:
                await watch_a.poll()
                await watch_b.poll()
                return bool(watch_a.letters) and bool(watch_b.letters)

            await eventually(stray_letters, within=30, watch=workers)
            assert await both(want_a, want_b)  # the strays moved nothing

        # Each deployment's outputs name its own districts only.
        assert set(watch_a.latest) == set(gimpo.city.codes)
        assert set(watch_b.latest) == set(other.city.codes)
        assert watch_a.alert_input_districts == set(gimpo.city.codes)
        assert watch_b.alert_input_districts == set(other.city.codes)
        for code in a_codes:
            assert {d.event_id for d in watch_a.latest[code].drivers} <= {
                f"gimpo-fire:{i.id}" for i in to_a
            }
        (letter_a,) = watch_a.letters
        (letter_b,) = watch_b.letters
        assert (letter_a.topic, letter_a.error) == (a.topics.incidents, "outside_city")
        assert letter_b.topic == b.topics.incidents
        assert a_codes[0] in letter_b.reason

        # Each keeps its checkpoints under its own app id, in its own database, of its districts.
        async def saved() -> bool:
            rows_a = await checkpoints(pg_dsn, a.app_id, a.topics.located)
            rows_b = await checkpoints(second_pg_dsn, b.app_id, b.topics.located)
            return (
                len(rows_a) == a.partitions
                and len(rows_b) == b.partitions
                and sum(r["next_offset"] for r in rows_a) == len(to_a)
                and sum(r["next_offset"] for r in rows_b) == len(to_b)
            )

        await eventually(saved, within=30, watch=workers)
        rows_a = await checkpoints(pg_dsn, a.app_id, a.topics.located)
        rows_b = await checkpoints(second_pg_dsn, b.app_id, b.topics.located)
        assert checkpointed_districts(rows_a) == set(gimpo.city.codes)
        assert checkpointed_districts(rows_b) == set(other.city.codes)
        assert not await checkpoints(pg_dsn, b.app_id, b.topics.located)
        assert not await checkpoints(second_pg_dsn, a.app_id, a.topics.located)
    finally:
        worker_a.stop()
        worker_b.stop()
