"""The Kafka side of the gateway: read every partition of the scores and alerts topics into the hub.

Every gateway reads ALL partitions of ``topics.scores`` and ``topics.alerts`` from the beginning,
with no consumer group: gateways do not share work, each one rebuilds the latest score of every
district and the open alerts by itself, and the hub drops what it already has (an older or equal
``seq``). There is nothing to commit. The worker's decisions on acknowledgements
(``topics.ack_results``) are read the same way and handed to ``on_ack_result``, which ignores the
ones no client of this gateway waits for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from dashboard_ws.hub import ClientId, Hub, Outcome
from dashboard_ws.logfmt import logfmt
from dashboard_ws.metrics import ShellStats
from streams.settings import Settings

__all__ = ["ScoreFeed", "min_stale_after_s"]

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
POLL_TIMEOUT_MS = 250  # fetch progress is looked at after every poll, so at least this often
POLL_MAX_RECORDS = 5000


def min_stale_after_s(settings: Settings) -> float:
    """The shortest silence that may count as "broker gone": four polls or four fetch waits."""
    return 4 * max(POLL_TIMEOUT_MS, settings.fetch_max_wait_ms) / 1000


class ScoreFeed:
    """Consume ``settings.topics.scores`` into ``hub`` until cancelled.

    Run :meth:`run` as a task and cancel it to stop. After each batch, ``wake`` is called with the
    clients whose queue just became non-empty. ``shell.consumer_running`` is True while a consumer
    is started, and ``shell.last_fetch_at`` moves on with every fetch response from the broker.
    A failure is logged, and after a backoff (0.5 s doubling to 10 s) a new consumer reads from
    the beginning again. Bad records are logged and counted by the hub, never raised.
    """

    def __init__(
        self,
        settings: Settings,
        hub: Hub,
        shell: ShellStats,
        wake: Callable[[Iterable[ClientId]], None],
        on_ack_result: Callable[[bytes | None], Iterable[ClientId]] = lambda raw: (),
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._shell = shell
        self._wake = wake
        self._on_ack_result = on_ack_result
        self._newest_fetch_ms: int | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        settings = self._settings
        return AIOKafkaConsumer(
            settings.topics.scores,
            settings.topics.alerts,
            settings.topics.ack_results,
            bootstrap_servers=settings.require_bootstrap(),
            client_id="riskmon-gateway",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **settings.kafka_client_options(),
        )

    async def run(self) -> None:
        """Consume forever; returns only by cancellation."""
        topic = self._settings.topics.scores
        backoff = RETRY_FIRST_S
        while True:
            consumer = self._make_consumer()
            try:
                await consumer.start()
                self._shell.consumer_running = True
                self._shell.last_fetch_at = time.monotonic()  # grace until the first fetch
                backoff = RETRY_FIRST_S
                log.info(logfmt("consumer_started", topic=topic))
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Deliberate last-resort boundary: broker gone, auth refused, or a bug. The
                # gateway stays up serving what it has (websocket snapshots, the history API);
                # the failure becomes data (/healthz answers 503 while no consumer runs) and a
                # bug's traceback is logged on every attempt.
                log.warning(
                    logfmt(
                        "consumer_failed",
                        topic=topic,
                        error=type(exc).__name__,
                        detail=str(exc),
                        retry_in_s=backoff,
                    ),
                    exc_info=not isinstance(exc, KafkaError | OSError),  # a bug: show where
                )
            finally:
                self._shell.consumer_running = False
                await consumer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_MAX_RECORDS
            )
            wake: set[ClientId] = set()
            topics = self._settings.topics
            for records in batches.values():
                for record in records:
                    if record.topic == topics.ack_results:
                        wake.update(self._on_ack_result(record.value))
                        continue
                    if record.topic == topics.alerts:
                        offer = self._hub.ingest_alert(record.value)
                    else:
                        # A seq is microseconds of the worker's clock: one far ahead of ours
                        # is forged or corrupt, and would freeze its district (see the hub).
                        horizon = time.time() + self._settings.max_future_s
                        offer = self._hub.ingest(record.value, max_seq=int(horizon * 1e6))
                    if offer.outcome in (Outcome.INVALID, Outcome.FUTURE):
                        log.warning(
                            logfmt(
                                "bad_score_record",
                                topic=record.topic,
                                partition=record.partition,
                                offset=record.offset,
                                reason=offer.reason,
                            )
                        )
                    wake.update(offer.wake)
            if wake:
                self._wake(wake)
            await self._watch_partitions(consumer)

    async def _watch_partitions(self, consumer: AIOKafkaConsumer) -> None:
        newest: int | None = None
        behind = False
        for tp in consumer.assignment():
            # aiokafka stamps a partition at every fetch response, records or not; while the
            # broker is unreachable the stamps stop, though the consumer retries by itself.
            stamp = consumer.last_poll_timestamp(tp)
            if stamp is None:
                continue
            newest = max(newest or 0, stamp)
            # A log end below our position means the broker lost the log (the embedded broker
            # keeps it in memory and restarts empty; it answers such fetches with nothing rather
            # than OFFSET_OUT_OF_RANGE). Read it again from the start; the hub drops old seqs.
            highwater, position = consumer.highwater(tp), await consumer.position(tp)
            if highwater is None or position < highwater:
                behind = True
            if highwater is not None and highwater < position:
                log.warning(
                    logfmt(
                        "log_truncated",
                        topic=tp.topic,
                        partition=tp.partition,
                        position=position,
                        highwater=highwater,
                    )
                )
                await consumer.seek_to_beginning(tp)
        if not behind and newest is not None and not self._shell.caught_up:
            self._shell.caught_up = True
            log.info(logfmt("consumer_caught_up", districts=self._hub.district_count))
        if newest is not None and newest != self._newest_fetch_ms:
            self._newest_fetch_ms = newest
            self._shell.last_fetch_at = time.monotonic()
