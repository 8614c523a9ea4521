"""Stock clients of another stack: librdkafka (through confluent-kafka) publishes incidents with
its own default partitioner and keys, and reads riskmon.scores in a consumer group of its own, as
an agency's system and an integrator would (docs/agencies.md)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from streams.contract import Incident, ScoreUpdate

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings
from .oracle import CITY, LatestScores

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def incident(n: int, code: str) -> Incident:
    return Incident(
        id=f"librdkafka-{n}",
        source="gimpo-police",
        type="theft",
        severity=2,
        occurred_at=datetime.now(UTC),
        code=code,
    )


def consume_until(consumer: Consumer, wanted: set[str], within_s: float) -> set[str]:
    """Poll ``consumer`` (blocking: run in a thread) until every driver id of ``wanted`` was seen
    in a score update, or ``within_s`` passed; the ids seen."""
    seen: set[str] = set()
    deadline = time.monotonic() + within_s
    while not wanted <= seen and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        update = ScoreUpdate.model_validate_json(message.value() or b"")
        seen.update(d.event_id for d in update.drivers)
    consumer.commit(asynchronous=False)
    return seen


async def test_librdkafka_publishes_and_a_consumer_group_reads_the_scores(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)

            async def every_district() -> bool:
                await scores.drain()
                return len(scores.latest) == len(CITY.codes)

            await eventually(every_district, within=90, watch=[worker])

        # An agency's system: librdkafka's default partitioner (consistent_random) and keys of
        # its own choosing (here the incident id), records spread over the input partitions.
        codes = list(CITY.codes)
        sent = [incident(n, codes[n % len(codes)]) for n in range(28)]
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
        for event in sent:
            producer.produce(
                settings.topics.incidents, event.model_dump_json().encode(), key=event.id.encode()
            )
        assert producer.flush(15) == 0
        # A duplicate from a retrying producer, with another key: counted once.
        producer.produce(settings.topics.incidents, sent[0].model_dump_json().encode(), key=b"x")
        assert producer.flush(15) == 0

        # An integrator: a consumer group of its own on riskmon.scores, from the beginning.
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"{settings.app_id}-integrator",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 10_000,
            }
        )
        consumer.subscribe([settings.topics.scores])
        try:
            wanted = {f"gimpo-police:{e.id}" for e in sent}
            seen = await asyncio.to_thread(consume_until, consumer, wanted, 120.0)
        finally:
            consumer.close()
        assert wanted <= seen, sorted(wanted - seen)[:5]

        # Two incidents per district, the duplicate counted once.
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)

            async def counted() -> bool:
                await scores.drain()
                return all(scores.latest[c].events >= 2 for c in codes)

            await eventually(counted, within=30, watch=[worker])
            await asyncio.sleep(2)
            await scores.drain()
        assert {c: scores.latest[c].events for c in codes} == dict.fromkeys(codes, 2)
        assert worker.alive, worker.log_tail()
    finally:
        worker.stop()
