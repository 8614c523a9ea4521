"""A stage's hand-off run beside the stage that sends to it, instead of inside its batch.

The hand-off (:mod:`streams.worker.handoff`) chains the stages: ingest awaits the identity
stage, which awaits scoring, which awaited the alert stage, so an ingest batch was not done, and
the next one not taken, until the last stage had worked through it. Under load every incident
waited for the whole chain of the batch before it: at 1,000 incidents/s about half of an ingest
cycle was the alert stage observing score updates that were already published.

A :class:`Lane` runs one stage's hand-offs in a task of its own: the sending stage submits what
the broker confirmed and goes on with its next batch. Nothing about correctness moves: the
records are on their topic before they are submitted (the topics stay the record of truth), the
receiving stage applies a hand-off under its progress lock only where its state continues at the
records' offsets (else they are left to the topic, where its agent reads them), and a failed
hand-off is logged, counted and left to the topic the same way. What the lane keeps:

* order: items run in the order submitted, by one task;
* batching: every item waiting when the task comes round runs in one call, so a stage that is
  slower than the one feeding it takes bigger batches (as the agents' batches grow under load)
  instead of paying its per-batch cost more often;
* bounds: at most ``depth`` items wait; :meth:`Lane.submit` waits for room, so a slow stage
  slows the stage before it instead of growing memory;
* release: each item's ``release`` runs once its call ended, whatever the outcome (the sender's
  records in flight, :meth:`~streams.worker.handoff.ReadSwitch.flying`, are released then).

:meth:`Lane.drain` waits until everything submitted has run (a rebalance and shutdown call it
before the stages save or drop their states).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Lane"]

log = logging.getLogger("riskmon.worker")

T = TypeVar("T")


class Lane(Generic[T]):
    """Runs ``run(items)`` in a task of its own for items submitted in order (see the module)."""

    def __init__(
        self,
        name: str,
        run: Callable[[list[T]], Awaitable[None]],
        *,
        depth: int = 64,
        failed: Callable[[], None] | None = None,
    ) -> None:
        if depth < 1:
            raise ValueError("a lane holds at least one item")
        self.name = name
        self._run = run
        self._failed = failed
        self._room = asyncio.Semaphore(depth)
        self._items: list[tuple[T, Callable[[], None] | None]] = []
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Items submitted and not taken yet."""
        return len(self._items)

    async def submit(self, item: T, release: Callable[[], None] | None = None) -> None:
        """Queue ``item`` (waiting while ``depth`` items wait); ``release`` runs after its call."""
        await self._room.acquire()
        self._items.append((item, release))
        self._idle.clear()
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name=f"riskmon.lane.{self.name}"
            )

    async def drain(self) -> None:
        """Return once every item submitted so far has run."""
        await self._idle.wait()

    async def close(self) -> None:
        """Run what is waiting, then stop the task."""
        await self.drain()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await self._arrived.wait()
            taken, self._items = self._items, []
            self._arrived.clear()
            for _ in taken:
                self._room.release()
            try:
                await self._run([item for item, _ in taken])
            except Exception:
                # The records are on their topic: the stage's agent reads what was not applied.
                log.exception(
                    "hand-off failed lane=%s items=%s: left to the topic", self.name, len(taken)
                )
                if self._failed is not None:
                    self._failed()
            finally:
                for _, release in taken:
                    if release is not None:
                        release()
                if not self._items:
                    self._idle.set()
