"""Where the worker's per-partition scoring state is kept between runs.

:class:`CheckpointStore` is the small protocol the agents use; :class:`PgCheckpointStore` keeps
checkpoints in PostgreSQL (shared by every worker host, so a partition can move between hosts), and
:class:`MemoryCheckpointStore` is the in-process twin for tests of the pure parts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from . import store

log = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    async def load(self, partition: int) -> dict[str, Any] | None: ...

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None: ...


class MemoryCheckpointStore:
    """Checkpoints in a dict (tests)."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, Any]] = {}

    async def load(self, partition: int) -> dict[str, Any] | None:
        return self.states.get(partition)

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None:
        self.states[partition] = dict(state)


class PgCheckpointStore:
    """Checkpoints in the ``scorer_checkpoints`` table, one row per (app, topic, partition).

    ``load`` retries for ``load_timeout_s`` while PostgreSQL is unreachable and then returns None,
    so the partition is replayed from the beginning of the retained log: slower, still exact.
    """

    def __init__(self, dsn: str, app_id: str, topic: str, load_timeout_s: float = 30.0) -> None:
        self.dsn = dsn
        self.app_id = app_id
        self.topic = topic
        self.load_timeout_s = load_timeout_s
        self._conn: Any = None

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await store.connect(self.dsn)
        return self._conn

    async def load(self, partition: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.load_timeout_s
        delay = 0.2
        while True:
            try:
                conn = await self._connection()
                return await store.load_checkpoint(conn, self.app_id, self.topic, partition)
            except store.TRANSIENT_ERRORS as exc:
                self._conn = None
                if time.monotonic() > deadline:
                    log.error(
                        "checkpoint unavailable partition=%s error=%r: replaying the "
                        "partition from its beginning",
                        partition,
                        exc,
                    )
                    return None
                log.warning("checkpoint load retry partition=%s error=%r", partition, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None:
        try:
            conn = await self._connection()
            await store.save_checkpoint(conn, self.app_id, self.topic, partition, state, saved_at)
        except BaseException:
            self._conn = None
            raise

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
