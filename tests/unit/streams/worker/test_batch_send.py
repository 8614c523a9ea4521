"""The batch sender's fallback for a batch the broker refuses for its size (Kafka's
``message.max.bytes``; the embedded broker has no such limit, so the integration test cannot
reach it): its records are sent again one by one, and only a record too large on its own is
reported too large. The producer here keeps a log per partition and refuses batches over a size,
as a broker does; the real producer path is tests/integration/test_batch_send.py."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from streams.metrics import WorkerMetrics
from streams.worker import delivery as delivery_module
from streams.worker.batch_send import send_in_batches
from streams.worker.delivery import Delivery, Outgoing


@dataclass(frozen=True)
class Named:
    name: str

    def get_topic_name(self) -> str:
        return self.name


class Broker:
    """One topic's partitions as lists; batches over ``limit`` bytes refused."""

    def __init__(self, limit: int, away: int = 0) -> None:
        self.limit = limit
        self.away = away  # metadata requests that time out first (the broker away)
        self.logs: dict[int, list[bytes]] = defaultdict(list)
        self.client = SimpleNamespace(_wait_on_metadata=self._metadata)
        self._message_accumulator = SimpleNamespace(_compression_type=0)

    async def _metadata(self, topic: str) -> None:
        if self.away:
            self.away -= 1
            raise KafkaTimeoutError()

    def _partition(self, topic: str, partition: int | None, *_: Any) -> int:
        assert partition is not None
        return partition

    def _done(self, partition: int, values: list[bytes]) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        if sum(map(len, values)) > self.limit:
            future.set_exception(MessageSizeTooLargeError())
        else:
            base = len(self.logs[partition])
            self.logs[partition] += values
            future.set_result(SimpleNamespace(partition=partition, offset=base))
        return future

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        return self._done(partition, batch.values)

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, partition: int
    ) -> asyncio.Future[Any]:
        return self._done(partition, [value])


class Recording:
    """aiokafka's BatchBuilder's contract, keeping the values."""

    def __init__(self, *_: Any) -> None:
        self.values: list[bytes] = []

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes) -> object:
        self.values.append(value)
        return object()

    def close(self) -> None:
        return None


async def test_a_batch_refused_for_its_size_is_sent_again_record_by_record(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("streams.worker.batch_send.BatchBuilder", Recording)
    broker = Broker(limit=25_000)
    topic = Named("t")
    values = [bytes([65 + i]) * 10_000 for i in range(4)] + [b"z" * 30_000, b"tail"]
    records = [Outgoing(topic, None, v, "located", partition=0) for v in values]
    records.append(Outgoing(topic, None, b"other", "located", partition=1))

    results = await send_in_batches(broker, records)

    assert isinstance(results[4], MessageSizeTooLargeError)  # too large on its own
    landed = {i: r for i, r in enumerate(results) if isinstance(r, tuple)}
    assert sorted(landed) == [0, 1, 2, 3, 5, 6]
    for i, (partition, offset) in landed.items():
        assert broker.logs[partition][offset] == records[i].value
    assert broker.logs[1] == [b"other"]  # the other partition's batch was not refused


async def test_a_broker_away_fails_the_records_and_delivery_sends_them_again(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("streams.worker.batch_send.BatchBuilder", Recording)
    monkeypatch.setattr(delivery_module, "BACKOFF_FIRST_S", 0.001)
    broker = Broker(limit=10**9, away=3)
    records = [Outgoing(Named("t"), None, b"r%d" % i, "located", partition=0) for i in range(3)]

    first = await send_in_batches(broker, records)
    assert [type(r) for r in first] == [KafkaTimeoutError] * 3  # not raised: each record failed

    broker.away = 2
    metrics = WorkerMetrics(process=False)
    placed = await Delivery(metrics, lambda o, e: None, partial(send_in_batches, broker)).confirm(
        records
    )
    assert placed == [(0, 0), (0, 1), (0, 2)]
    assert broker.logs[0] == [b"r0", b"r1", b"r2"]
