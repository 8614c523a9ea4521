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
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from datetime import datetime

from faust.types import TP

from indices import ModelParams
from streams.contract import DeadLetter, LocatedEvent
from streams.contract.deadletters import RawRecord
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore
from streams.pipeline.identity import IdentityLedger
from streams.settings import Settings
from streams.worker.checkpointing import CheckpointWriter, conflict_letters
from streams.worker.handoff import Reads, below, hand_over
from streams.worker.ownership import Ownership
from streams.worker.scoring_stage import located_batches, owned

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
        self.writer = CheckpointWriter(
            checkpoints, metrics, "identity", settings.checkpoint_interval_s
        )
        self._restoring = asyncio.Lock()
        self._progress = asyncio.Lock()  # held while outputs are unconfirmed: no checkpoint

    async def batch(
        self, records: Sequence[RawRecord], now: datetime, ownership: Ownership, dead: SendDead
    ) -> None:
        """Decide a batch; forward and dead-letter, confirmed, before returning. Records already
        decided (handed off in-process, see :meth:`handoff`) are skipped undecoded."""
        held = {partition: ledger.next_offset for partition, ledger in self.ledgers.items()}
        unread = [raw for raw in records if not below(raw.offset, raw.partition, held)]
        if len(unread) < len(records):
            self.metrics.handoff.labels("identity", "read_again").inc(len(records) - len(unread))
        by_partition, bad = located_batches(unread, now)
        async with self._progress:
            await self._decide(by_partition, list(bad), now, ownership, dead)

    def next_offset(self, partition: int) -> int | None:
        """The next offset of ``partition`` its state held here stands at (None: not held)."""
        held = self.ledgers.get(partition)
        return None if held is None else held.next_offset

    async def handoff(
        self,
        placed: Mapping[int, Sequence[tuple[int, LocatedEvent]]],
        now: datetime,
        dead: SendDead,
    ) -> Reads:
        """Decide events the broker confirmed on riskmon.identity (by partition, as (offset,
        event)) without reading them back, where a ledger held here continues at their offset
        (:func:`~streams.worker.handoff.contiguous`); the rest is left to the topic.
        Returns what that means for reading each partition held here (see
        :data:`~streams.worker.handoff.Reads`)."""
        async with self._progress:
            return await hand_over(
                self.ledgers,
                placed,
                self.metrics.handoff_counter("identity"),
                lambda taken: self._decide(taken, [], now, None, dead),
            )

    async def _decide(
        self,
        by_partition: Mapping[int, Sequence[tuple[int, LocatedEvent]]],
        letters: list[DeadLetter],
        now: datetime,
        ownership: Ownership | None,
        dead: SendDead,
    ) -> None:
        """Apply ``by_partition`` to the ledgers (``ownership`` None: handed off, the ledgers
        are held); forward and dead-letter, confirmed. Called with the progress lock held."""
        forward: list[LocatedEvent] = []
        for partition, batch in by_partition.items():
            if ownership is not None and not owned(
                partition, self.ledgers.keys(), ownership, self.topic
            ):
                self.metrics.not_owned.labels(self.topic).inc(len(batch))
                continue
            ledger = self.ledgers.get(partition) or await self.restore(partition)
            outcome = ledger.process(batch, self.params, self.settings.state_max_identities)
            self.dirty.add(partition)
            for what, n in outcome.counts.items():
                self.metrics.identities.labels(what).inc(n)
            forward.extend(located for _, located in outcome.forward)
            letters += conflict_letters(self.topic, partition, outcome.conflicts, now)
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
        if not await self.writer.save(partition, state):
            self.dirty.add(partition)
            return False
        return True

    async def save_dirty(self) -> None:
        held = sum(len(ledger.seen) for ledger in self.ledgers.values())
        self.metrics.state_entries.labels("identities").set(held)
        saved = [await self.save(partition) for partition in sorted(self.dirty)]
        if saved and all(saved):
            self.writer.recovered(len(saved))
