"""What the scenarios send: a realistic mixed stream from the simulator, and how to publish it.

The simulator (:mod:`streams.simulator`) makes incidents (about 5 % re-sent unchanged), readings of
the city's own sensors (river gauges with flood stages) and safety facts of its registry; its
facility inventory is thinned so that a stream of ``n`` records keeps every kind.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from streams.city.config import CityConfig
from streams.contract import FacilityFact, Incident, SensorReading
from streams.settings import Settings
from streams.simulator.base import SimConfig
from streams.simulator.core import Simulator
from streams.simulator.districts import districts_from_city, river_gauges_of

INPUTS = ("incidents", "readings", "safety")


@dataclass(frozen=True)
class Record:
    """One record to publish: the input it goes to (``incidents``, ``readings``, ``safety``),
    its bytes, its key, and what it is (``valid`` or the fuzz category)."""

    input: str
    value: bytes
    key: bytes | None = None
    category: str = "valid"


@dataclass(frozen=True)
class Sent:
    """A record as the broker acknowledged it."""

    record: Record
    topic: str
    partition: int
    offset: int

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def mixed_stream(config: CityConfig, n: int, seed: int, now: datetime) -> list[Record]:
    """``n`` valid records of the last two hours before ``now`` (all in the past), in send order."""
    scale = n / 20_000
    sim = Simulator(
        districts_from_city(config.city),
        seed=seed,
        start=now - timedelta(hours=2),
        config=SimConfig(
            rate_multiplier=3000 * scale,
            reading_interval=timedelta(seconds=max(5.0, 20 / scale)),
            river_gauges=river_gauges_of(config),
        ),
    )
    events = sim.advance(now - timedelta(minutes=5))
    facilities = [e for e in events if isinstance(e, FacilityFact)]
    others = len(events) - len(facilities)
    keep = max(0.0, min(1.0, (n - others) / max(1, len(facilities))))
    rng = random.Random(seed)
    chosen = [e for e in events if not isinstance(e, FacilityFact) or rng.random() < keep]
    out: list[Record] = []
    for event in chosen[:n]:
        name = (
            "incidents"
            if isinstance(event, Incident)
            else "readings"
            if isinstance(event, SensorReading)
            else "safety"
        )
        out.append(Record(name, event.model_dump_json(exclude_none=True).encode()))
    return out


class Publisher:
    """An aiokafka producer (acks=all) that returns where each record was written."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.require_bootstrap(),
            acks="all",
            linger_ms=5,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=20_000,
        )

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, records: Sequence[Record]) -> list[Sent]:
        """Publish ``records`` and wait for every acknowledgement."""
        futures = []
        try:
            for record in records:
                topic = getattr(self.settings.topics, record.input)
                futures.append(await self.producer.send(topic, record.value, key=record.key))
        finally:
            metas = await asyncio.gather(*futures, return_exceptions=True)
        out: list[Sent] = []
        for record, meta in zip(records, metas, strict=True):
            if isinstance(meta, BaseException):
                raise meta
            out.append(Sent(record, meta.topic, meta.partition, meta.offset))
        return out
