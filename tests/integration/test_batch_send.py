"""The worker's record-batch sends against the broker: every record lands where the broker says
(read back at its reported partition and offset), keyed records in the partition aiokafka's own
send picks, each partition in the order sent, large records alone, and a record too large for a
request refused on its own while its neighbours land."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError

from streams.metrics import WorkerMetrics
from streams.worker.batch_send import BATCH_BYTES, SINGLE_ABOVE, send_in_batches
from streams.worker.delivery import Delivery, Outgoing, Placed

from .harness import create_topic

pytestmark = pytest.mark.integration

PARTITIONS = 4


@dataclass(frozen=True)
class Named:
    """What the worker's Faust topics give the batch sender: their name."""

    name: str

    def get_topic_name(self) -> str:
        return self.name


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = f"riskmon.batchsend.test-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, name, PARTITIONS)
    return name


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def read_back(kafka_bootstrap: str, topic: str, want: int) -> dict[Placed, bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[Placed, bytes] = {}
        for _ in range(200):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    found[record.partition, record.offset] = record.value
            if len(found) >= want:
                break
        return found
    finally:
        await consumer.stop()


async def test_every_record_lands_where_reported_in_order_in_its_keys_partition(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer
) -> None:
    named = Named(topic)
    records: list[Outgoing] = []
    for i in range(3_000):  # ~1.5 MB: several batches of BATCH_BYTES per partition
        if i % 500 == 7:
            value = f"large-{i}-".encode() + b"x" * (SINGLE_ABOVE + 1)
        else:
            value = f"record-{i}-".encode() + b"." * 480
        key = None if i % 10 == 3 else f"district-{i % 37}".encode()
        partition = i % PARTITIONS if i % 10 == 5 else None
        records.append(Outgoing(named, key, value, "located", partition))
    assert sum(len(r.value) for r in records) > 4 * BATCH_BYTES

    results = await send_in_batches(producer, records)

    assert not [r for r in results if isinstance(r, BaseException) or r is None]
    placed = [r for r in results if isinstance(r, tuple)]
    assert len(set(placed)) == len(records)  # no two records at one offset
    stored = await read_back(kafka_bootstrap, topic, len(records))
    assert {at: stored.get(at) for at in placed} == {
        at: record.value for at, record in zip(placed, records, strict=True)
    }
    assert len(stored) == len(records)  # nothing else was written
    # Keyed records went where aiokafka's own partitioner (Faust's send) puts them.
    partitions = list(range(PARTITIONS))
    for record, (partition, _) in zip(records, placed, strict=True):
        if record.partition is not None:
            assert partition == record.partition
        elif record.key is not None:
            assert partition == producer._partitioner(record.key, partitions, partitions)
    # Each partition holds its records in the order they were given.
    offsets: dict[int, list[int]] = defaultdict(list)
    for partition, offset in placed:
        offsets[partition].append(offset)
    assert all(seq == sorted(seq) for seq in offsets.values())


async def test_a_record_too_large_is_refused_alone_and_delivery_replaces_it(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer
) -> None:
    named = Named(topic)
    huge = b"h" * 2_000_000  # over the producer's 1 MB request limit
    records = [Outgoing(named, b"k", f"before-{i}".encode(), "located") for i in range(5)]
    records.append(Outgoing(named, b"k", huge, "located"))
    records += [Outgoing(named, b"k", f"after-{i}".encode(), "located") for i in range(5)]

    results = await send_in_batches(producer, records)
    assert isinstance(results[5], MessageSizeTooLargeError)
    assert all(isinstance(r, tuple) for i, r in enumerate(results) if i != 5)

    # Through Delivery: the refused record is replaced (here by a short stand-in) and placed
    # nowhere; the rest are placed.
    replaced: list[int] = []

    def too_large(out: Outgoing, exc: Exception) -> Outgoing:
        replaced.append(len(out.value))
        return Outgoing(named, None, b"stand-in", "dead_letter")

    deliver = Delivery(WorkerMetrics(process=False), too_large, partial(send_in_batches, producer))
    placed = await deliver.confirm(records)
    assert replaced == [len(huge)]
    assert placed[5] is None
    assert all(p is not None for i, p in enumerate(placed) if i != 5)
    stored = await read_back(kafka_bootstrap, topic, 21)
    assert b"stand-in" in stored.values()
    assert huge not in stored.values()
