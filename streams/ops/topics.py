"""Kafka administration: create riskmon's topics (idempotent)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.errors import RiskmonError
from streams.settings import Settings

log = logging.getLogger(__name__)


class TopicMismatch(RiskmonError, ValueError):
    """A topic exists with a partition count riskmon cannot work with."""

    retriable = False


def required_partitions(settings: Settings) -> dict[str, int]:
    """Topics whose partition count is part of riskmon's design, and that count.

    ``riskmon.located`` must have exactly ``RISKMON_PARTITIONS``: districts are placed on its
    partitions by position (``CityMap.partition_of``) and checkpoints hold a partition's
    districts, so another count would mix states; ``riskmon.identity`` too (identities are
    placed by a hash modulo the count and checkpointed per partition). The alert stage needs one
    partition to see the whole city. The other topics work with any count.
    """
    return {
        settings.topics.located: settings.partitions,
        settings.topics.identity: settings.partitions,
        **{name: 1 for name in settings.topics.single_partition()},
    }


async def create_topics(
    settings: Settings, *, timeout_s: float = 30.0, only: Collection[str] | None = None
) -> list[str]:
    """Create every topic in ``settings.topics`` (or the ``only`` ones) that does not exist;
    returns those created.

    Raises :class:`TopicMismatch` when an existing topic of :func:`required_partitions` has
    another partition count (a broker that auto-creates topics makes them with its default).
    """
    admin = await _connected_admin(settings, timeout_s)
    try:
        existing = set(await admin.list_topics())
        required = required_partitions(settings)
        names = [n for n in settings.topics.all() if only is None or n in only]
        check = sorted(name for name in required if name in existing and name in names)
        if check:
            described = await admin.describe_topics(check)
            for topic in described:
                have, want = len(topic["partitions"]), required[topic["topic"]]
                if have != want:
                    raise TopicMismatch(
                        f"topic {topic['topic']} has {have} partition(s), riskmon needs {want} "
                        f"(RISKMON_PARTITIONS={settings.partitions}); if the broker auto-created "
                        "it, set auto.create.topics.enable=false, delete the topic and run "
                        "`riskmon topics`; if RISKMON_PARTITIONS changed, set it back"
                    )
        wanted = [name for name in names if name not in existing]
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


class DropConnectErrors(logging.Filter):
    """aiokafka logs an error per failed connection attempt; while we wait we say it once (or
    the caller reports the failure its own way)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable connect to")


async def _connected_admin(settings: Settings, timeout_s: float) -> AIOKafkaAdminClient:
    """An admin client connected to the cluster, waiting up to ``timeout_s`` for it (a broker
    that is still starting), with backoff and one progress line per attempt."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = 0.5
    quiet = DropConnectErrors()
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
