"""Any city folder, not only Gimpo: a synthesized city of 300 random districts runs through the real
worker — points placed in its districts, partitions by its codes, checkpoints of its districts
restored after SIGKILL — and every touched district ends with exactly ``indices.score_batch``."""

from __future__ import annotations

import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shapely
from pydantic import BaseModel

from indices import score_batch
from streams.city.config import CityConfig, load_city_config
from streams.city.synth import random_city
from streams.cli.city import write_city_folder
from streams.contract import Incident, InspectionFact, ScoreUpdate
from streams.pipeline.scoring import to_model_event

from .harness import (
    TopicReader,
    WorkerProcess,
    checkpointed,
    eventually,
    isolated_settings,
    produce,
)
from .oracle import TOLERANCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DISTRICTS = 300


def write_city(folder: Path) -> CityConfig:
    write_city_folder(random_city(DISTRICTS, seed=5), folder)
    return load_city_config(folder)


def events_in(config: CityConfig, now: datetime, chosen: list[str], start: int) -> list[BaseModel]:
    """Incidents at a point inside each chosen district (placed by the worker, not given a code)
    and an inspection fact by code for every third one."""
    out: list[BaseModel] = []
    for n, code in enumerate(chosen, start=start):
        inside = shapely.point_on_surface(config.city.districts[code].geometry)
        out.append(
            Incident(
                id=f"any-{n}",
                source="synth-police",
                type="theft" if n % 2 else "fire",
                severity=1 + n % 5,
                occurred_at=now - timedelta(minutes=n % 90),
                lat=inside.y,
                lon=inside.x,
            )
        )
        if n % 3 == 0:
            out.append(
                InspectionFact(
                    id=f"insp-{n}",
                    source="synth-city",
                    structure_id=f"bridge-{code}",
                    grade="ABCDE"[n % 5],
                    effective_at=now - timedelta(days=n % 40),
                    code=code,
                )
            )
    return out


def assert_exact(update: ScoreUpdate, config: CityConfig, events: list[BaseModel]) -> None:
    oracle = score_batch(
        config.city.model_districts()[update.district],
        [to_model_event(e) for e in events],  # type: ignore[arg-type]
        config.params,
        update.as_of.timestamp(),
    )
    assert update.events == oracle.events
    assert abs(update.composite.value - oracle.composite) <= TOLERANCE
    assert abs(update.safety - oracle.safety) <= TOLERANCE


async def test_a_synthesized_city_of_300_districts_scores_exactly_across_a_restart(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    config = write_city(tmp_path / "city")
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, city=tmp_path / "city")
    rng = random.Random(3)
    now = datetime.now(UTC)
    first = rng.sample(list(config.city.codes), 40)
    second = rng.sample(first, 10) + rng.sample(sorted(set(config.city.codes) - set(first)), 10)
    sent: dict[str, list[BaseModel]] = {}
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    latest: dict[str, ScoreUpdate] = {}

    async def send(events: list[BaseModel]) -> None:
        incidents = [e for e in events if isinstance(e, Incident)]
        facts = [e for e in events if not isinstance(e, Incident)]
        for incident in incidents:
            code = config.city.locate(incident.lat or 0.0, incident.lon or 0.0)
            assert code is not None
            sent.setdefault(code, []).append(incident)
        for fact in facts:
            sent.setdefault(fact.code, []).append(fact)  # type: ignore[attr-defined]
        await produce(settings, settings.topics.incidents, incidents)
        await produce(settings, settings.topics.safety, facts)

    async def caught_up(reader: TopicReader) -> bool:
        for value in await reader.poll(0.2):
            update = ScoreUpdate.model_validate_json(value)
            held = latest.get(update.district)
            if held is None or update.seq > held.seq:
                latest[update.district] = update
        want = {c: sum(isinstance(e, Incident) for e in es) for c, es in sent.items()}
        return len(latest) == DISTRICTS and all(latest[c].events == n for c, n in want.items())

    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            await eventually(lambda: caught_up(reader), within=120, watch=[worker])
            first_events = events_in(config, now, first, start=0)
            await send(first_events)
            await eventually(lambda: caught_up(reader), within=60, watch=[worker])
            # Killed once checkpoints cover the first events, so the restart restores them
            # (a fast worker can be caught up before its first checkpoint lands).
            await eventually(
                lambda: _covered(checkpointed(pg_dsn, settings), len(first_events)),
                within=30,
                watch=[worker],
            )
            worker.kill()
            worker.start()
            await send(events_in(config, now, second, start=100))
            await eventually(lambda: caught_up(reader), within=120, watch=[worker])

        log = worker.log_path.read_text()
        assert "from=checkpoint" in log, worker.log_tail()
        for code, update in latest.items():
            # Each district on the partition its position in the city's sorted codes names.
            assert update.basis is not None
            assert update.basis.partition == config.city.partition_of(code, settings.partitions)
        for code, events in sent.items():
            assert_exact(latest[code], config, events)
        # The test's own placement agrees with the districts it drew points in (the worker's
        # agrees with the test's: each district's update counts exactly the incidents sent to it).
        assert set(sent) == set(first) | set(second)
    finally:
        worker.stop()


async def _covered(saved: Awaitable[int], want: int) -> bool:
    return await saved >= want
