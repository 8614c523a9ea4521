"""The identity stage (I/O shell): riskmon.identity -> per-partition :class:`IdentityLedger` ->
riskmon.located (by district) or a dead letter.

The twin of :mod:`streams.worker.scoring_stage`, smaller: a ledger per partition assigned here,
restored from its checkpoint on assignment (the consumer moved to its next offset), saved when
changed, released on revocation; outputs confirmed by the broker before a checkpoint can cover
them. A checkpoint it cannot read (another format) is replaced by a ledger rebuilt from the
beginning of the partition's log: re-forwarded events are only duplicates to the scorer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence, Set
from datetime import datetime

from faust.types import TP

from indices import ModelParams
from streams.contract import DeadLetter, LocatedEvent
from streams.contract.deadletters import RawRecord, dead_letter
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore, CheckpointUnavailable
from streams.pipeline.identity import IdentityLedger
from streams.settings import Settings
from streams.worker.ownership import Ownership
from streams.worker.scoring_stage import SaveOutage, located_batches, owned, utcnow

log = logging.getLogger("riskmon.worker")

Forward = Callable[[Sequence[LocatedEvent]], Awaitable[None]]
SendDead = Callable[[Sequence[DeadLetter]], Awaitable[None]]
Seek = Callable[[TP, int], Awaitable[None]]


class IdentityStage:
    """Owns an :class:`IdentityLedger` per riskmon.identity partition assigned here."""

    def __init__(
        self,
        settings: Settings,
        params: ModelParams,
        checkpoints: CheckpointStore,
        metrics: WorkerMetrics,
        *,
        forward: Forward,
        seek: Seek,
    ) -> None:
        self.settings = settings
        self.topic = settings.topics.identity
        self.params = params
        self.checkpoints = checkpoints
        self.metrics = metrics
        self.forward = forward
        self.seek = seek
        self.ledgers: dict[int, IdentityLedger] = {}
        self.dirty: set[int] = set()
        self.outage = SaveOutage()
        self._restoring = asyncio.Lock()
        self._progress = asyncio.Lock()  # held while outputs are unconfirmed: no checkpoint

    async def batch(
        self, records: Sequence[RawRecord], now: datetime, ownership: Ownership, dead: SendDead
    ) -> None:
        """Decide a batch; forward and dead-letter, confirmed, before returning."""
        by_partition, bad = located_batches(records, now)
        letters = list(bad)
        forward: list[LocatedEvent] = []
        async with self._progress:
            for partition, batch in by_partition.items():
                if not owned(partition, self.ledgers.keys(), ownership, self.topic):
                    self.metrics.not_owned.labels(self.topic).inc(len(batch))
                    continue
                ledger = self.ledgers.get(partition) or await self.restore(partition)
                outcome = ledger.process(batch, self.params, self.settings.state_max_identities)
                self.dirty.add(partition)
                for what, n in outcome.counts.items():
                    self.metrics.identities.labels(what).inc(n)
                forward.extend(located for _, located in outcome.forward)
                for conflict in outcome.conflicts:
                    raw = RawRecord(
                        self.topic,
                        partition,
                        conflict.offset,
                        conflict.event.district.encode(),
                        conflict.event.model_dump_json().encode(),
                    )
                    letters.append(dead_letter(raw, conflict.error, conflict.reason, now))
                for gap in outcome.gaps:
                    log.warning(
                        "identity log gap partition=%s missing_offsets=%s-%s",
                        partition,
                        gap.start,
                        gap.end - 1,
                    )
            await self.forward(forward)
            if letters:
                await dead(letters)

    async def tick(self, now: datetime) -> None:
        """Forget identities that no longer matter."""
        at = now.timestamp()
        async with self._progress:
            for partition, ledger in self.ledgers.items():
                if ledger.prune(at):
                    self.dirty.add(partition)

    # --- ownership ----------------------------------------------------------------------------
    async def restore(self, partition: int) -> IdentityLedger:
        async with self._restoring:
            held = self.ledgers.get(partition)
            return held if held is not None else await self._restore(partition)

    async def _restore(self, partition: int) -> IdentityLedger:
        data = await self.checkpoints.load(partition)  # waits while PostgreSQL is unreachable
        ledger = IdentityLedger(partition)
        if data is not None:
            try:
                ledger = IdentityLedger.from_checkpoint(data)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "identity checkpoint unreadable partition=%s error=%r: rebuilding the "
                    "ledger from the beginning of its log (re-forwarded events are duplicates "
                    "to the scorer)",
                    partition,
                    exc,
                )
        self.ledgers[partition] = ledger
        await self.seek(TP(self.topic, partition), ledger.next_offset)
        log.info(
            "identity partition restored partition=%s next_offset=%s identities=%s",
            partition,
            ledger.next_offset,
            len(ledger.seen),
        )
        return ledger

    def positions(self, granted: Set[TP]) -> dict[TP, int]:
        return {
            tp: self.ledgers[tp.partition].next_offset
            for tp in granted
            if tp.topic == self.topic and tp.partition in self.ledgers
        }

    async def on_assigned(self, assigned: Set[TP]) -> None:
        for tp in sorted(assigned):
            if tp.topic == self.topic:
                await self.restore(tp.partition)

    async def on_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            if tp.topic == self.topic and tp.partition in self.ledgers:
                await self.save(tp.partition)
                self.ledgers.pop(tp.partition)

    # --- checkpoints --------------------------------------------------------------------------
    async def save(self, partition: int) -> bool:
        ledger = self.ledgers.get(partition)
        if ledger is None:
            return True
        async with self._progress:
            state = ledger.to_checkpoint()
            self.dirty.discard(partition)
        try:
            await self.checkpoints.save(partition, state, utcnow())
        except CheckpointUnavailable as exc:
            self.dirty.add(partition)
            self.metrics.checkpoint_failures.inc()
            self.outage = self.outage.failed(utcnow())
            if self.outage.log_failure:
                log.warning("identity checkpoint failed partition=%s error=%r", partition, exc)
            return False
        self.metrics.checkpoints.inc()
        if self.outage.failing:
            log.info("identity checkpoints saved again failures=%s", self.outage.failures)
            self.outage = SaveOutage()
        return True

    async def save_dirty(self) -> None:
        held = sum(len(ledger.seen) for ledger in self.ledgers.values())
        self.metrics.state_entries.labels("identities").set(held)
        for partition in sorted(self.dirty):
            await self.save(partition)
