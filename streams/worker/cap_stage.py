"""The CAP stage (I/O shell): riskmon.cap -> per-partition :class:`CapIntake` -> incidents and
withdrawals on riskmon.identity, or dead letters.

Shaped like :mod:`streams.worker.identity_stage`: an intake per partition assigned here, restored
from its checkpoint on assignment (the consumer moved to its next offset), saved when changed,
released on revocation; outputs confirmed by the broker before a checkpoint can cover them. An
unreadable checkpoint is replaced by an intake that re-reads the partition from its start: the
ledger rebuilds itself, and what it re-sends the identity stage and the scorer see as duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence, Set
from datetime import datetime

from faust.types import TP

from streams.city.map import CityMap
from streams.contract import DeadLetter, LocatedEvent
from streams.contract.deadletters import RawRecord
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore
from streams.pipeline.cap_intake import CapIntake, CapOutcome
from streams.settings import Settings
from streams.worker.checkpointing import CheckpointWriter
from streams.worker.ownership import Ownership
from streams.worker.scoring_stage import owned

log = logging.getLogger("riskmon.worker")

Forward = Callable[[Sequence[LocatedEvent]], Awaitable[None]]
SendDead = Callable[[Sequence[DeadLetter]], Awaitable[None]]
Seek = Callable[[TP, int], Awaitable[None]]
MAX_NOTES_LOGGED = 20  # per batch: a sender's every leniency is counted, not all logged


class CapStage:
    """Owns a :class:`CapIntake` per riskmon.cap partition assigned here."""

    def __init__(
        self,
        settings: Settings,
        city: CityMap,
        checkpoints: CheckpointStore,
        metrics: WorkerMetrics,
        *,
        forward: Forward,
        seek: Seek,
    ) -> None:
        self.topic = settings.topics.cap
        self.city = city
        self.checkpoints = checkpoints
        self.metrics = metrics
        self.forward = forward
        self.seek = seek
        self.intakes: dict[int, CapIntake] = {}
        self.dirty: set[int] = set()
        self.writer = CheckpointWriter(checkpoints, metrics, "cap", settings.checkpoint_interval_s)
        self._restoring = asyncio.Lock()
        self._progress = asyncio.Lock()  # held while outputs are unconfirmed: no checkpoint

    async def batch(
        self, records: Sequence[RawRecord], now: datetime, ownership: Ownership, dead: SendDead
    ) -> None:
        """Read a batch of CAP messages; forward and dead-letter, confirmed, before returning."""
        by_partition: dict[int, list[tuple[int, RawRecord]]] = {}
        for raw in records:
            by_partition.setdefault(raw.partition, []).append((raw.offset, raw))
        forward: list[LocatedEvent] = []
        letters: list[DeadLetter] = []
        async with self._progress:
            for partition, batch in sorted(by_partition.items()):
                if not owned(partition, self.intakes.keys(), ownership, self.topic):
                    self.metrics.not_owned.labels(self.topic).inc(len(batch))
                    continue
                intake = self.intakes.get(partition) or await self.restore(partition)
                outcome = intake.process(sorted(batch, key=lambda b: b[0]), self.city, now)
                self.dirty.add(partition)
                self._report(partition, outcome)
                forward += outcome.located
                letters += outcome.dead
            await self.forward(forward)
            if letters:
                await dead(letters)

    async def tick(self, now: datetime) -> None:
        """End the alerts whose time is up, withdrawing their incidents (confirmed)."""
        forward: list[LocatedEvent] = []
        async with self._progress:
            for partition, intake in sorted(self.intakes.items()):
                outcome = intake.tick(now)
                if outcome.located or outcome.counts:
                    self.dirty.add(partition)
                self._report(partition, outcome)
                forward += outcome.located
            if forward:
                await self.forward(forward)

    def _report(self, partition: int, outcome: CapOutcome) -> None:
        for what, n in outcome.counts.items():
            self.metrics.cap.labels(what).inc(n)
        for note in outcome.notes[:MAX_NOTES_LOGGED]:
            log.info("cap note partition=%s %s", partition, note)
        for gap in outcome.gaps:
            log.warning(
                "cap log gap partition=%s missing_offsets=%s-%s", partition, gap.start, gap.end - 1
            )

    # --- ownership ----------------------------------------------------------------------------
    async def restore(self, partition: int) -> CapIntake:
        async with self._restoring:
            held = self.intakes.get(partition)
            return held if held is not None else await self._restore(partition)

    async def _restore(self, partition: int) -> CapIntake:
        data = await self.checkpoints.load(partition)  # waits while PostgreSQL is unreachable
        intake = CapIntake(partition)
        if data is not None:
            try:
                intake = CapIntake.from_checkpoint(data)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "cap checkpoint unreadable partition=%s error=%r: re-reading the partition "
                    "from its start (what is re-sent is a duplicate downstream)",
                    partition,
                    exc,
                )
        self.intakes[partition] = intake
        await self.seek(TP(self.topic, partition), intake.next_offset)
        log.info(
            "cap partition restored partition=%s next_offset=%s alerts=%s",
            partition,
            intake.next_offset,
            len(intake.ledger.entries),
        )
        return intake

    def positions(self, granted: Set[TP]) -> dict[TP, int]:
        return {
            tp: self.intakes[tp.partition].next_offset
            for tp in granted
            if tp.topic == self.topic and tp.partition in self.intakes
        }

    async def on_assigned(self, assigned: Set[TP]) -> None:
        for tp in sorted(assigned):
            if tp.topic == self.topic:
                await self.restore(tp.partition)

    async def on_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            if tp.topic == self.topic and tp.partition in self.intakes:
                await self.save(tp.partition)
                self.intakes.pop(tp.partition)

    # --- checkpoints --------------------------------------------------------------------------
    async def save(self, partition: int) -> bool:
        intake = self.intakes.get(partition)
        if intake is None:
            return True
        async with self._progress:
            state = intake.to_checkpoint()
            self.dirty.discard(partition)
        if not await self.writer.save(partition, state):
            self.dirty.add(partition)
            return False
        return True

    async def save_dirty(self) -> None:
        saved = [await self.save(partition) for partition in sorted(self.dirty)]
        if saved and all(saved):
            self.writer.recovered(len(saved))
