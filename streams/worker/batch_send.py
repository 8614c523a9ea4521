"""Sending a batch of records the way the broker takes them: one record batch per partition.

Faust's ``topic.send`` costs, per record, a Faust message, a future, callbacks, sensors and an
entry in aiokafka's accumulator (about half the worker's producing time in a profile of the
pipeline bench). The worker never needs any of that per record: :class:`~streams.worker.delivery.
Delivery` waits for a whole batch anyway. :func:`batch_sends` builds one aiokafka
``BatchBuilder`` per (topic, partition) holding that partition's records in their order, submits
each with ``send_batch`` (one future per batch) and derives each record's offset from the batch's
base offset (records of a batch take consecutive offsets: Kafka's record-batch format, which the
hand-off already relies on).

The records go to the same partitions as through Faust: an explicit partition stays, a keyed
record goes where the producer's own partitioner puts it. Records larger than
:data:`SINGLE_ABOVE` are sent one by one through aiokafka's ``send`` (which refuses a record too
large for a request at once, so :class:`Delivery` replaces it by its dead letter as before); a
batch the broker refuses for its size is sent again record by record, so only a record that is
too large on its own is ever called too large.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

from streams.worker.delivery import Outgoing, Placed, Result, Sends, faust_sends, placed_of

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

BATCH_BYTES = 256 * 1024
"""Largest record batch built (Kafka's default ``message.max.bytes`` is about 1 MB)."""

SINGLE_ABOVE = 64 * 1024
"""Records larger than this (key + value) are sent on their own."""


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


async def _one(producer: AIOKafkaProducer, topic: str, out: Outgoing, partition: int) -> Any:
    """aiokafka's own send of one record, as a future that fails instead of raising."""
    try:
        return await producer.send(topic, out.value, key=out.key, partition=partition)
    except KafkaError as exc:
        return _failed(exc)


class _Open:
    """A batch being filled for one (topic, partition): its builder and the records' positions
    (in the caller's sequence) in append order."""

    __slots__ = ("builder", "positions")

    def __init__(self, producer: AIOKafkaProducer) -> None:
        # The producer's compression (its accumulator holds the codec's number).
        compression = producer._message_accumulator._compression_type
        self.builder = BatchBuilder(BATCH_BYTES, compression)
        self.positions: list[int] = []


async def send_in_batches(producer: AIOKafkaProducer, outgoing: Sequence[Outgoing]) -> list[Result]:
    """Send ``outgoing`` (in order per partition) and wait for the broker: each record's
    (partition, offset), or the error its batch (or itself) met."""
    # Where each (future, index in its batch or None for a record sent alone) stands.
    sends: list[tuple[asyncio.Future[Any], int | None] | None] = []
    batches: list[tuple[asyncio.Future[Any], list[int], str, int]] = []
    opened: dict[tuple[str, int], _Open] = {}
    known: set[str] = set()
    unknown: dict[str, KafkaError] = {}

    async def submit(topic: str, partition: int) -> None:
        batch = opened.pop((topic, partition))
        batch.builder.close()  # nothing else joins it (aiokafka appends sends to an open one)
        try:
            future = await producer.send_batch(batch.builder, topic, partition=partition)
        except KafkaError as exc:
            future = _failed(exc)
        batches.append((future, batch.positions, topic, partition))
        for index, position in enumerate(batch.positions):
            sends[position] = (future, index)

    for position, out in enumerate(outgoing):
        topic: str = out.topic.get_topic_name()
        sends.append(None)
        if topic in unknown:
            sends[position] = (_failed(unknown[topic]), None)
            continue
        if topic not in known:
            # As in aiokafka's send, the broker away fails the record (Delivery sends it again),
            # and with it every later record of its topic, so their order holds on the retry.
            try:
                await producer.client._wait_on_metadata(topic)
            except KafkaError as exc:
                unknown[topic] = exc
                sends[position] = (_failed(exc), None)
                continue
            known.add(topic)
        partition = producer._partition(
            topic, out.partition, out.key, out.value, out.key, out.value
        )
        at = (topic, partition)
        if len(out.value) + len(out.key or b"") > SINGLE_ABOVE:
            if at in opened:  # what came before it in this partition goes first
                await submit(topic, partition)
            sends[position] = (await _one(producer, topic, out, partition), None)
            continue
        batch = opened.get(at)
        if batch is None:
            batch = opened[at] = _Open(producer)
        if batch.builder.append(timestamp=None, key=out.key, value=out.value) is None:
            await submit(topic, partition)  # full: send it, start the next one
            batch = opened[at] = _Open(producer)
            batch.builder.append(timestamp=None, key=out.key, value=out.value)
        batch.positions.append(position)
    for topic, partition in list(opened):
        await submit(topic, partition)

    sent = [at for at in sends if at is not None]
    assert len(sent) == len(sends), "every record is in a batch or sent alone"
    unique = list({id(future): future for future, _ in sent}.values())
    done = await asyncio.gather(*unique, return_exceptions=True)
    # Each future's outcome once: its error, or where its batch (or lone record) landed.
    outcome: dict[int, BaseException | Placed | None] = {
        id(future): result if isinstance(result, BaseException) else placed_of(result)
        for future, result in zip(unique, done, strict=True)
    }
    results: list[Result] = []
    for future, index in sent:
        result = outcome[id(future)]
        if result is None or index is None or isinstance(result, BaseException):
            results.append(result)
        else:
            results.append((result[0], result[1] + index))
    # A batch refused for its size: its records again one by one (only a record too large on
    # its own is then reported too large).
    for future, positions, topic, partition in batches:
        if len(positions) > 1 and isinstance(outcome[id(future)], MessageSizeTooLargeError):
            singles = [await _one(producer, topic, outgoing[p], partition) for p in positions]
            again = await asyncio.gather(*singles, return_exceptions=True)
            for p, result in zip(positions, again, strict=True):
                results[p] = result if isinstance(result, BaseException) else placed_of(result)
    return results


def batch_sends(producer_of: Callable[[], AIOKafkaProducer | None]) -> Sends:
    """The sends of :class:`~streams.worker.delivery.Delivery` in record batches, through the
    aiokafka producer ``producer_of()`` returns (Faust's); Faust's per-record send while it has
    none (not started yet)."""

    async def sends(outgoing: Sequence[Outgoing]) -> list[Result]:
        producer = producer_of()
        if producer is None:
            return await faust_sends(outgoing)
        return await send_in_batches(producer, outgoing)

    return sends
