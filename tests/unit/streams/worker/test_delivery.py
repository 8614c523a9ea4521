"""Delivery: a batch returns only once the broker confirmed every record; failures are sent
again, a record too large is replaced, a bug is not swallowed. The topic here is a stand-in with
Faust's send contract (``await topic.send(...)`` returns a future of the delivery); the real
producer path is covered by the integration and fault suites."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from streams.metrics import WorkerMetrics
from streams.worker import delivery as delivery_module
from streams.worker.delivery import Delivery, Outgoing


class Topic:
    """Faust's send contract: a future per record; ``failures[value]`` failures first."""

    def __init__(self, failures: dict[bytes, list[BaseException]] | None = None) -> None:
        self.failures = failures or {}
        self.attempts: list[bytes] = []
        self.delivered: list[bytes] = []

    def get_topic_name(self) -> str:
        return "t"

    async def send(self, *, key: bytes | None, value: bytes, partition: int | None) -> Any:
        self.attempts.append(value)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        queued = self.failures.get(value)
        if queued:
            error = queued.pop(0)
            if isinstance(error, MessageSizeTooLargeError):
                raise error  # the producer refuses it before sending
            future.set_exception(error)
        else:
            self.delivered.append(value)
            future.set_result("metadata")
        return future


def count(metrics: WorkerMetrics, name: str, what: str) -> float:
    return metrics.registry.get_sample_value(name, {"what": what}) or 0.0


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "BACKOFF_FIRST_S", 0.001)


async def test_returns_once_every_record_is_confirmed_resending_the_failed_ones() -> None:
    topic = Topic({b"b": [KafkaTimeoutError(), KafkaTimeoutError()]})
    metrics = WorkerMetrics(process=False)
    out = [Outgoing(topic, b"k", v, "score") for v in (b"a", b"b", b"c")]
    await Delivery(metrics, lambda o, e: None).confirm(out)
    assert sorted(topic.delivered) == [b"a", b"b", b"c"]
    assert topic.attempts == [b"a", b"b", b"c", b"b", b"b"]  # only the failed one again
    assert count(metrics, "riskmon_output_retries_total", "score") == 2


async def test_a_record_too_large_is_replaced_and_a_refused_replacement_counted_lost() -> None:
    topic = Topic({b"huge": [MessageSizeTooLargeError()], b"dl": [MessageSizeTooLargeError()]})
    metrics = WorkerMetrics(process=False)
    replaced: list[bytes] = []

    def too_large(out: Outgoing, exc: Exception) -> Outgoing | None:
        replaced.append(out.value)
        return None if out.what == "dead_letter" else Outgoing(topic, None, b"small", "dl2")

    deliver = Delivery(metrics, too_large)
    await deliver.confirm([Outgoing(topic, None, b"huge", "located")])
    assert topic.delivered == [b"small"]
    await deliver.confirm([Outgoing(topic, None, b"dl", "dead_letter")])
    assert replaced == [b"huge", b"dl"]
    assert count(metrics, "riskmon_outputs_lost_total", "dead_letter") == 1
    assert count(metrics, "riskmon_outputs_lost_total", "located") == 0


async def test_an_error_that_is_not_the_brokers_propagates() -> None:
    topic = Topic({b"a": [ValueError("a bug")]})
    with pytest.raises(ValueError, match="a bug"):
        await Delivery(WorkerMetrics(process=False), lambda o, e: None).confirm(
            [Outgoing(topic, None, b"a", "score")]
        )


async def test_a_broker_away_holds_the_batch_until_it_is_back() -> None:
    topic = Topic({b"a": [KafkaTimeoutError()] * 6})
    task = asyncio.create_task(
        Delivery(WorkerMetrics(process=False), lambda o, e: None).confirm(
            [Outgoing(topic, None, b"a", "located")]
        )
    )
    await asyncio.wait_for(task, 5)
    assert topic.delivered == [b"a"]
    assert len(topic.attempts) == 7
