"""Batches of records straight from a Faust agent's channel: Faust's consumer, group, rebalances
and offset commits, without its per-event stream machinery.

``stream.take_events(n, within)`` runs every record through the stream's iterator: a sensor
call, a context variable, a processor that appends to the batch and signals an event, an ack.
The worker's stages work on whole batches, so :func:`take_batches` reads the channel's queue
(where Faust's conductor puts each fetched record) directly and keeps only what the stream does
for correctness:

* records of a superseded consumer generation, or read while Faust's flow control is off (a
  rebalance under way), are skipped and acknowledged, as the stream skips them;
* each record is tracked as unacknowledged when it is taken (Faust commits only offsets whose
  records are acknowledged) and acknowledged when the caller has finished its batch, that is
  when the ``async for`` body returns. A body that raises acknowledges nothing: the offsets of
  that batch stay uncommitted (Faust's ``take_events`` acknowledges them anyway);
* the iteration ends when Faust ends the channel's (it throws ``StopAsyncIteration`` into the
  queue at shutdown);
* a batch is returned as soon as the queue is empty (after :data:`LINGER_TURNS` turns of the
  event loop, so that records fetched meanwhile join it), ``max_records`` are there, or
  ``within_s`` after its first record, whichever comes first. A record never waits for others
  that are not there: under load the batches grow by themselves (records queue while the
  previous batch is processed), and a lone record goes through at once.

The records are Faust events; :func:`streams.worker.agents.raw_records` turns them into
:class:`~streams.contract.deadletters.RawRecord`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["LINGER_TURNS", "take_batches"]

LINGER_TURNS = 2
"""Event-loop turns a batch waits for one more record before it is returned."""


async def take_batches(
    stream: Any, max_records: int, within_s: float
) -> AsyncGenerator[list[Any], None]:
    """Yield lists of at most ``max_records`` Faust events from ``stream``'s channel."""
    app = stream.app
    channel = aiter(stream.channel)  # subscribes the topic (as iterating the stream does)
    queue = channel.queue
    consumer = app.consumer
    unacked = consumer.unacked
    acking_topics = app.topics.acking_topics
    flow_control = app.flow_control
    on_message_in = app.sensors.on_message_in
    on_message_out = app.sensors.on_message_out
    loop = asyncio.get_running_loop()
    while True:
        try:
            taken = await _take(queue, loop, max_records, within_s)
        except StopAsyncIteration:  # Faust ends a channel's iteration this way (shutdown)
            return
        batch: list[Any] = []
        skipped: list[Any] = []
        generation = app.consumer_generation_id
        active = flow_control.is_active()
        for event in taken:
            message = event.message
            if not active or message.generation_id != generation:
                skipped.append(event)
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                unacked.add(message)
                on_message_in(message.tp, message.offset, message)
            batch.append(event)
        for event in skipped:
            _ack(event, on_message_out)
        if not batch:
            continue
        yield batch
        for event in batch:
            _ack(event, on_message_out)


async def _take(
    queue: Any, loop: asyncio.AbstractEventLoop, max_records: int, within_s: float
) -> list[Any]:
    """The next batch's records: the first one waited for, then what arrives (see above)."""
    taken = [await queue.get()]
    deadline = loop.time() + within_s
    idle_turns = 0
    while len(taken) < max_records and loop.time() < deadline:
        if not queue.empty():
            taken.append(queue.get_nowait())
            idle_turns = 0
            continue
        if idle_turns >= LINGER_TURNS:
            break  # nothing more is arriving: do not make the records wait
        idle_turns += 1
        await asyncio.sleep(0)  # let the conductor hand over what was fetched meanwhile
    return taken


def _ack(event: Any, on_message_out: Any) -> None:
    """Acknowledge ``event`` (its offset becomes committable once every channel has)."""
    message = event.message
    if event.ack():
        on_message_out(message.tp, message.offset, message)
