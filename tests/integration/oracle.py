"""The offline oracle of the worker tests: a realistic event stream and checks that published
scores equal ``indices.score_batch`` / ``riskmon score`` on the same events at the same time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel

from indices import score_batch
from streams.contract import (
    DistrictScores,
    FacilityFact,
    Incident,
    InspectionFact,
    ScoreUpdate,
    SensorReading,
)
from streams.pipeline.scoring import to_model_event
from streams.settings import Settings
from tests.cities import exact_gimpo_config

from .harness import TopicReader, WorkerProcess, produce

CONFIG = exact_gimpo_config()
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
        want_drivers = offline.contributors.get(domain)
        if want_drivers is None:
            # The offline scores explain the domains with a hazard; a live update also explains
            # the domains its batch touched (a reading that left its domain at no hazard).
            assert offline.domains[domain].hazard == 0, (domain, drivers)
            assert all(d.contribution == 0 for d in drivers), (domain, drivers)
            continue
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


def by_district(stream: list[tuple[str, BaseModel]]) -> dict[str, list[BaseModel]]:
    """The stream's messages per district code (every message of ``generate`` has a code)."""
    out: dict[str, list[BaseModel]] = {code: [] for code in CITY.codes}
    for _, message in stream:
        out[message.code].append(message)  # type: ignore[attr-defined]
    return out


def expected_incidents(stream: list[tuple[str, BaseModel]]) -> dict[str, int]:
    """Distinct incidents (source + id) per district: what ``ScoreUpdate.events`` must reach."""
    return {
        code: len({(e.source, e.id) for e in events if isinstance(e, Incident)})
        for code, events in by_district(stream).items()
    }


async def send_stream(settings: Settings, chunk: list[tuple[str, BaseModel]]) -> None:
    """Publish a slice of :func:`generate`'s stream, each message to its input topic."""
    for name in ("incidents", "readings", "safety"):
        messages = [m for t, m in chunk if t == name]
        if messages:
            await produce(settings, getattr(settings.topics, name), messages)


class LatestScores:
    """Every update read from the scores topic, and the newest one per district (highest seq)."""

    def __init__(self, reader: TopicReader) -> None:
        self.reader = reader
        self.latest: dict[str, ScoreUpdate] = {}
        self.published: list[ScoreUpdate] = []

    async def drain(self) -> None:
        for value in await self.reader.poll(0.2):
            update = ScoreUpdate.model_validate_json(value)
            self.published.append(update)
            held = self.latest.get(update.district)
            if held is None or update.seq > held.seq:
                self.latest[update.district] = update

    async def caught_up(self, sent: list[tuple[str, BaseModel]]) -> bool:
        """Every district scored, each with the incidents ``sent`` holds for it."""
        await self.drain()
        want = expected_incidents(sent)
        latest = self.latest
        return len(latest) == len(want) and all(latest[c].events == n for c, n in want.items())

    async def settle(self, workers: Sequence[WorkerProcess] = (), quiet_s: float = 4.0) -> None:
        """Read until ``quiet_s`` pass without an update other than a tick."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while loop.time() - quiet_since < quiet_s:
            for worker in workers:
                assert worker.alive, worker.log_tail()
            before = {c: u.seq for c, u in self.latest.items()}
            await self.drain()
            latest = self.latest
            if any(latest[c].seq != s and latest[c].reason != "tick" for c, s in before.items()):
                quiet_since = loop.time()
