"""Faust's fetch loop without three tasks per record.

Faust's consumer hands every fetched record to its conductor (which puts it in the queues of the
agents' channels) with ``await self.wait_first(callback(message), self.suspend_flow.wait())``: so
that a rebalance can abandon a delivery stuck on a full or paused queue, each record becomes a
task for the callback, tasks waiting on the suspend, stop and crash events, an ``asyncio.wait``,
and three cancellations. With four topic hops per incident that was the largest single cost of a
busy worker, and because one record's delivery spans several turns of the event loop, an agent
looking for more records found its queue empty between two deliveries of the same fetch: under a
backlog of thousands, batches stayed at 6–10 records (``riskmon_worker_batch_records``).

:func:`drain_messages` is that loop (``faust.transport.consumer.Consumer._drain_messages``,
faust-streaming 0.11) with one change: while the flow is not suspended, the callback is awaited
directly. It does not wait unless a channel's queue is full (the agent drains it) or the flow is
suspended meanwhile (the put then waits for the flow to resume, and the agent skips the record:
its consumer generation is gone, as the stream skips it). While the flow is suspended, the
delivery goes through ``wait_first`` as in Faust. Everything else is Faust's: read offsets (a
record below the one delivered last is dropped), gaps in acked topics, ``commit_every``, the
loop yielding every 100 records, and how it ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["YIELD_EVERY", "drain_messages"]

YIELD_EVERY = 100  # records delivered between two yields to the event loop (Faust's value)
CONSUMER_FETCHING = "FETCHING"  # faust.transport.consumer.CONSUMER_FETCHING


async def drain_messages(consumer: Any, fetcher: Any) -> None:
    """Deliver fetched records to ``consumer.callback`` until the consumer or ``fetcher`` stops
    (run by Faust's Fetcher service, as ``Consumer._drain_messages``)."""
    callback = consumer.callback
    consumer_stopping = consumer._stopped.is_set
    fetcher_stopping = fetcher._stopped.is_set
    read_offset = consumer._read_offset
    suspended = consumer.suspend_flow.is_set
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    commit_every = consumer._commit_every
    diag = consumer.diag
    since_yield = 0
    try:
        while not (consumer_stopping() or fetcher_stopping()):
            diag.set_flag(CONSUMER_FETCHING)
            records = consumer.getmany(timeout=1.0)
            await consumer.sleep(0)  # getmany may be called in a loop that never yields
            if consumer.should_stop:
                continue
            async for tp, message in records:
                since_yield += 1
                if since_yield > YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = 0
                offset = message.offset
                last = read_offset[tp]
                if last is not None and offset < last:
                    continue  # delivered already (Faust drops it the same way)
                if last and offset - last > 1 and acks_enabled_for(message.topic):
                    await consumer._add_gap(tp, last + 1, offset)
                if commit_every is not None and consumer._n_acked >= commit_every:
                    consumer._n_acked = 0
                    await consumer.commit()
                if suspended():
                    await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
                else:
                    await callback(message)
                read_offset[tp] = offset
            diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        diag.unset_flag(CONSUMER_FETCHING)
