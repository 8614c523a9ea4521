"""The gateway's reader of ``riskmon.cap``: every CAP alert in effect over the city, for the map.

Like the score feed, every gateway reads the whole topic (one partition, a few messages a minute)
from the beginning without a consumer group and keeps a :class:`~streams.cap.board.CapBoard`, so
a restarted gateway knows every alert still in effect. The worker reads the same records to move
the indices; this reader only shows them, mapped to an index or not. A failure is logged and the
reader starts again after a backoff, from the beginning, with a fresh board.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from dashboard_ws.logfmt import logfmt
from streams.cap.board import CapBoard
from streams.city.map import CityMap
from streams.settings import Settings

__all__ = ["CapFeed"]

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
POLL_TIMEOUT_MS = 500
TOPIC_WAIT_S = 2.0
MAX_RECORD = 1 << 20  # the CAP parser's own cap; larger records are not even parsed


class CapFeed:
    """Consume ``settings.topics.cap`` into a :class:`CapBoard` until cancelled."""

    def __init__(self, settings: Settings, city: CityMap) -> None:
        self._settings = settings
        self._city = city
        self.board = CapBoard(city)
        self.ready = False  # True once the topic was read up to its end at least once

    def active(self) -> dict[str, Any]:
        """The alerts in effect now, as GeoJSON."""
        return self.board.feature_collection(datetime.now(UTC))

    async def run(self) -> None:
        backoff = RETRY_FIRST_S
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.require_bootstrap(),
                client_id="riskmon-gateway-cap",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **self._settings.kafka_client_options(),
            )
            try:
                await consumer.start()
                await self._await_topic(consumer)
                consumer.subscribe([self._settings.topics.cap])
                self.board = CapBoard(self._city)
                backoff = RETRY_FIRST_S
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning(logfmt("cap_feed_failed", error=repr(exc), retry_in_s=backoff))
            finally:
                await consumer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)

    async def _await_topic(self, consumer: AIOKafkaConsumer) -> None:
        """Wait until the worker's start-up step created the topic: subscribing to a missing one
        would make a broker that auto-creates topics create it with the wrong partition count.
        (Listing every topic creates none.)"""
        while self._settings.topics.cap not in await consumer.topics():  # noqa: ASYNC110
            await asyncio.sleep(TOPIC_WAIT_S)  # polling the broker: no event to wait on

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=500)
            now = datetime.now(UTC)
            for records in batches.values():
                for record in records:
                    value = record.value or b""
                    if len(value) > MAX_RECORD:
                        self.board.counts["refused"] = self.board.counts.get("refused", 0) + 1
                        continue
                    self.board.take(value, now)
            if not batches:
                self.ready = True
