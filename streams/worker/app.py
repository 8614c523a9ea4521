"""The Faust app, kept small: configuration from :class:`Settings` and one transport override.

Faust hard-codes the worker consumer's ``fetch_max_wait_ms=1500``. The embedded broker (Tansu)
answers a fetch only when that wait elapses, so every event would sit for 1.5 s; the override
applies ``settings.fetch_max_wait_ms`` instead (harmless on Apache Kafka, which answers as soon as
data arrives). Its fetch loop delivers records without Faust's three tasks per record
(:mod:`streams.worker.fetch_loop`). It also resumes checkpointed partitions at the app's offsets
after each rebalance, and makes every seek on aiokafka's consumer thread (aiokafka is not
thread-safe; Faust seeks from the app's thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Set
from typing import Any, cast

import faust
from aiokafka import AIOKafkaProducer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.settings import Settings
from streams.worker.fetch_loop import drain_messages
from streams.worker.ownership import Ownership

log = logging.getLogger("riskmon.consumer")

BUFFERED_POLL_S = 0.01
"""Longest a fetch waits while an agent's buffer is full (see ``_wait_next_records``)."""


class _ShortFetchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Private attribute of aiokafka.AIOKafkaConsumer, read when the consumer starts (the
        # fetcher is created in start()); tests/unit/streams/worker/test_app.py checks that it
        # takes effect.
        consumer._fetch_max_wait_ms = cast(RiskmonApp, self.app).fetch_max_wait_ms
        return consumer

    async def seek_many(self, positions: Mapping[Any, int]) -> None:
        """Seek each partition of ``positions`` to its offset, on the consumer's thread.

        aiokafka is not thread-safe: a seek made from the app's thread (Faust's ``_seek``) can
        pop a partition's fetched records while this thread drains them, and ``getmany`` fails
        with a KeyError in ``Fetcher.fetched_records``. Faust runs ``seek_to_committed`` here;
        the app's own positions, which follow it, go the same way.
        """
        await self.call_thread(self._seek_many, positions)

    async def _seek_many(self, positions: Mapping[Any, int]) -> None:
        consumer = self._ensure_consumer()
        for tp, offset in positions.items():
            consumer.seek(tp, offset)


class _ShortFetchConsumer(faust_aiokafka.Consumer):
    #: Partitions the group gave this consumer in its newest assignment, minus those revoked
    #: since. Faust's ``assignment()`` still lists revoked partitions until the next assignment
    #: lands, and Faust seeks (``seek_to_committed``) in between. Replaced at each signal, before
    #: Faust's handlers run; the stages decide ownership by it.
    ownership: Ownership = Ownership()

    def __post_init__(self) -> None:
        super().__post_init__()
        self._activated = asyncio.Event()

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's)
        """Faust's, without its two waits that outlast a full buffer. An input partition whose
        agent's buffer is full is not fetched; once the agent drains it, nothing wakes a fetch
        already waiting (up to ``timeout``, 1 s) on the other, idle partitions, and with no
        partition active at all (the hand-off pauses the internal ones) Faust sleeps a whole
        second. Under a backlog that was every buffer's worth: the ingest agent idled ~650 ms
        each ~4,800 records in the pipeline bench. Here, while a buffer is full the fetch waits
        at most :data:`BUFFERED_POLL_S`, and with nothing active the wait ends as soon as a
        partition is active again (a buffer drained, a partition resumed or assigned)."""
        if self._buffered_partitions:
            timeout = min(timeout, BUFFERED_POLL_S)
        if self.flow_active and not self.app.client_only and not self._get_active_partitions():
            self._activated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activated.wait(), timeout)
            if not self._get_active_partitions():
                return {}, set()
        return await super()._wait_next_records(timeout)

    def on_buffer_drop(self, tp: Any) -> None:
        super().on_buffer_drop(tp)
        self._activated.set()

    def resume_partitions(self, tps: Any) -> None:
        super().resume_partitions(tps)
        self._activated.set()

    def _new_consumer_thread(self) -> _ShortFetchConsumerThread:
        return _ShortFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        await drain_messages(self, fetcher)  # Faust's loop without three tasks per record

    async def on_partitions_revoked(self, revoked: Set[Any]) -> None:
        self.ownership = self.ownership.revoke(revoked)
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Set[Any], generation_id: int = 0) -> None:
        self.ownership = self.ownership.assign(assigned)
        await super().on_partitions_assigned(assigned, generation_id)
        self._activated.set()

    async def _seek(self, partition: Any, offset: int) -> None:
        """Seek on the consumer's thread (see :meth:`_ShortFetchConsumerThread.seek_many`).

        Not through ``call_thread``: a seek from the partitions-assigned signal would queue
        behind the thread's ``getmany``, which waits for the rebalance that waits for the signal.
        A callback on the thread's loop runs between that loop's steps, so never in the middle of
        ``fetched_records``; any ``seek_to_committed`` after it re-applies the app's positions.
        """
        log.debug("seek partition=%s offset=%s", partition, offset)
        thread = cast(_ShortFetchConsumerThread, self._thread)
        loop = thread.thread_loop
        if loop.is_running():
            loop.call_soon_threadsafe(thread.seek, partition, offset)
        else:  # not started (or stopping): nothing reads concurrently
            thread.seek(partition, offset)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Seek to committed offsets, except where the app keeps its own position.

        Faust calls this after every rebalance from its recovery task, concurrently with the
        partitions-assigned signal (and while a rebalance is under way, whenever it fetches with
        the flow stopped), and sets its read offsets, below which it drops records, from what
        this returns. Partitions whose state riskmon checkpoints resume at the checkpoint's
        offset instead: the app first restores each granted one (once per assignment; the
        signal's restore and this one share it), so the positions returned cover all of them. A
        partition restored after this returned would keep Faust's committed offset as its read
        offset, and the records between checkpoint and commit would be dropped.
        """
        own = await cast(RiskmonApp, self.app).resume_positions(self.ownership.granted)
        committed = dict(await super().seek_to_committed())
        await cast(_ShortFetchConsumerThread, self._thread).seek_many(own)
        log.debug("seek to committed committed=%s own=%s", committed, own)
        committed.update(own)  # Faust's TP and aiokafka's TopicPartition compare equal
        return committed


class _Transport(faust_aiokafka.Transport):
    Consumer = _ShortFetchConsumer


class RiskmonApp(faust.App):
    """faust.App whose worker consumer uses riskmon's fetch wait."""

    fetch_max_wait_ms: int = 10

    async def resume_positions(self, granted: Set[Any]) -> Mapping[Any, int]:
        """Offsets (by TP) to resume at instead of the committed ones, after restoring the
        state of each ``granted`` partition that has one; set by the agents."""
        return {}

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self, loop=self.loop)

    def on_init_dependencies(self) -> Iterable[Any]:
        """Faust's, without its Monitor among the sensors: the Monitor's statistics (per message
        in and out, per stream event, per send) feed Faust's web views, which riskmon does not
        run (its own Prometheus metrics say what operators need), and they cost a few calls per
        record on every topic. The consumer still reaches ``app.monitor`` directly for end
        offsets and commits."""
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials for the configured security protocol (None for PLAINTEXT)."""
    options = settings.kafka_client_options()
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=options.get("ssl_context"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer | None:
    """The aiokafka producer under Faust's (None until Faust started it): the worker sends its
    batches through it in record batches (:mod:`streams.worker.batch_send`)."""
    producer = getattr(app.producer, "_producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


def create_app(settings: Settings) -> RiskmonApp:
    """A Faust app for ``settings`` (agents are added by :func:`streams.worker.agents.register`)."""
    brokers = [
        f"kafka://{hostport.strip()}" for hostport in settings.require_bootstrap().split(",")
    ]
    app = RiskmonApp(
        settings.app_id,
        broker=brokers,
        broker_credentials=broker_credentials(settings),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_interval=settings.commit_interval_s,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000.0,
        web_enabled=False,
        store="memory://",
        autodiscover=False,
        datadir=str(settings.data_dir / "faust"),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app
