"""Kafka administration: create riskmon's topics (idempotent)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from .settings import Settings

log = logging.getLogger(__name__)


async def create_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create every topic in ``settings.topics`` that does not exist; returns those created."""
    admin = await _connected_admin(settings, timeout_s)
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in settings.topics.all() if name not in existing]
        created = []
        for name in wanted:
            try:
                partitions = (
                    1 if name in settings.topics.single_partition() else settings.partitions
                )
                await admin.create_topics([NewTopic(name, partitions, settings.replication_factor)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics created names=%s partitions=%s", created, settings.partitions)
        return created
    finally:
        await admin.close()


class _DropConnectErrors(logging.Filter):
    """aiokafka logs an error per failed connection attempt; while we wait we say it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable connect to")


async def _connected_admin(settings: Settings, timeout_s: float) -> AIOKafkaAdminClient:
    """An admin client connected to the cluster, waiting up to ``timeout_s`` for it (a broker
    that is still starting), with backoff and one progress line per attempt."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = 0.5
    quiet = _DropConnectErrors()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addFilter(quiet)
    try:
        while True:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.require_bootstrap(), **settings.kafka_client_options()
            )
            try:
                await admin.start()
                return admin
            except KafkaConnectionError:
                await admin.close()
                waited = loop.time() - started
                if waited + delay > timeout_s:
                    raise
                log.warning(
                    "waiting for kafka bootstrap=%s waited_s=%.1f timeout_s=%.0f",
                    settings.kafka_bootstrap,
                    waited,
                    timeout_s,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
    finally:
        aiokafka_log.removeFilter(quiet)
