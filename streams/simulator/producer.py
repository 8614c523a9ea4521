"""Publish the simulated city to Kafka: the I/O shell around
:class:`streams.simulator.core.Simulator`.

Run it next to the worker (``await run_simulator(settings, speed=60)``); set ``stop`` to end it. The
simulated clock starts at the wall-clock time of the call and runs ``speed`` times faster. Messages
are the contract models as JSON, keyed by their source id so that one incident, sensor, facility or
structure always lands in the same partition.

Delivery is at-least-once: the producer is not idempotent (the embedded Tansu broker rejects
idempotent producers) and the simulator deliberately resends ~5 % of incidents; the worker
deduplicates by (source, id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from streams.city.config import load_city_config
from streams.contract import FacilityFact, Incident, InputEvent, InspectionFact, SensorReading
from streams.settings import Settings, Topics
from streams.simulator.base import KST, SimConfig
from streams.simulator.core import Simulator
from streams.simulator.districts import districts_from_city, river_gauges_of

__all__ = ["route", "run_simulator"]

log = logging.getLogger(__name__)

STEP_S = 0.2  # real seconds between simulator steps
LOG_EVERY_S = 10.0
LINGER_MS = 5
# Demos want to see a storm: the first one starts 15 simulated minutes in (then ~1 per 4 days).
FIRST_STORM_AFTER = timedelta(minutes=15)


def route(event: InputEvent, topics: Topics) -> tuple[str, bytes]:
    """The topic and the key of an event: incidents by id, readings by sensor id, safety facts by
    facility or structure id.

    >>> from streams.contract import SensorReading
    >>> reading = SensorReading(sensor_id="river-gimpo-1", kind="river_level_m", value=2.5,
    ...                         observed_at="2026-11-24T21:05:00+09:00", lat=37.6, lon=126.7)
    >>> route(reading, Topics())
    ('riskmon.readings', b'river-gimpo-1')
    """
    if isinstance(event, Incident):
        return topics.incidents, event.id.encode()
    if isinstance(event, SensorReading):
        return topics.readings, event.sensor_id.encode()
    if isinstance(event, FacilityFact):
        return topics.safety, event.facility_id.encode()
    if isinstance(event, InspectionFact):
        return topics.safety, event.structure_id.encode()
    raise TypeError(f"not a simulator event: {type(event).__name__}")


async def _publish(
    producer: AIOKafkaProducer, topics: Topics, events: list[InputEvent], counts: Counter[str]
) -> None:
    """Send ``events`` in order and wait until the broker has acknowledged all of them."""
    deliveries = []
    for event in events:
        topic, key = route(event, topics)
        deliveries.append(
            await producer.send(topic, value=event.model_dump_json().encode(), key=key)
        )
        counts[topic] += 1
    if deliveries:
        await asyncio.gather(*deliveries)


async def run_simulator(
    settings: Settings,
    *,
    speed: float = 1.0,
    rate_multiplier: float = 30.0,
    seed: int = 7,
    stop: asyncio.Event | None = None,
) -> None:
    """Publish simulated events of the configured city (``settings.city``) until ``stop`` is set
    (or the task is cancelled).

    ``speed`` is simulated seconds per real second; ``rate_multiplier`` scales incident rates (30:
    about one incident every 90 simulated seconds city-wide); ``seed`` fixes the city's randomness.
    The first call publishes the safety register (~13,500 facts) before anything else.
    Needs ``settings.kafka_bootstrap``; the topics must exist or be auto-created.
    """
    if speed <= 0:
        raise ValueError("speed must be positive (simulated seconds per real second)")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    start = datetime.now(KST)
    city = load_city_config(settings.city)
    config = SimConfig(
        rate_multiplier=rate_multiplier,
        first_storm_after=FIRST_STORM_AFTER,
        river_gauges=river_gauges_of(city),
    )
    simulator = Simulator(districts_from_city(city.city), seed=seed, start=start, config=config)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_bootstrap(),
        client_id="riskmon-simulator",
        acks="all",
        enable_idempotence=False,
        linger_ms=LINGER_MS,
        **settings.kafka_client_options(),
    )
    await producer.start()
    counts: Counter[str] = Counter()
    began = loop.time()
    next_log = began + LOG_EVERY_S
    log.info(
        "event=sim_started city=%r seed=%d speed=%g rate_multiplier=%g start=%s",
        city.city.name,
        seed,
        speed,
        rate_multiplier,
        start.isoformat(),
    )
    try:
        while not stop.is_set():
            now = start + timedelta(seconds=(loop.time() - began) * speed)
            await _publish(producer, settings.topics, simulator.advance(now), counts)
            if loop.time() >= next_log:
                next_log = loop.time() + LOG_EVERY_S
                _log_progress(simulator, settings.topics, counts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STEP_S)
    finally:
        await producer.stop()
        _log_progress(simulator, settings.topics, counts, event="sim_stopped")


def _log_progress(
    simulator: Simulator, topics: Topics, counts: Counter[str], event: str = "sim_progress"
) -> None:
    log.info(
        "event=%s sim_time=%s incidents=%d readings=%d safety=%d storms=%d",
        event,
        simulator.now.isoformat(timespec="seconds"),
        counts[topics.incidents],
        counts[topics.readings],
        counts[topics.safety],
        len(simulator.storms),
    )
