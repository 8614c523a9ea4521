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
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.require_bootstrap(), **settings.kafka_client_options()
        )
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
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
