"""The scoring stage: riskmon.located -> per-partition :class:`PartitionScorer` -> score updates.

The twin of :mod:`streams.worker.alert_stage`. The decisions are pure and take their state
explicitly: which partitions are ours (:class:`~streams.worker.ownership.Ownership`), whether a
checkpoint may be restored (:func:`checkpoint_usable`), where each held partition resumes
(:func:`resume_positions`), when a failing checkpoint save is logged (:class:`SaveOutage`). The
I/O is in the thin async methods of :class:`ScoringStage`: the :class:`CheckpointStore` calls, and
the sends and seeks it is handed (Faust's, from :mod:`streams.worker.agents`; a list in tests).

Restore on assignment: a located partition's checkpoint is loaded (waiting while PostgreSQL cannot
be reached: "cannot tell" is never "no checkpoint"), the consumer is moved to its ``next_offset``,
and the records after it are replayed into the state. A checkpoint saved under another model is
ignored (the partition is rebuilt from the beginning of its log). A checkpoint that cannot be saved
delays nothing but recovery: it is retried on the next interval.

Outputs before progress: a batch (or tick) publishes its updates and dead letters through the
``send``/``dead`` it is handed, which return once the broker confirmed them
(:mod:`streams.worker.delivery`), and a checkpoint is only taken between batches; so a checkpoint
never covers an output that could still be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence, Set
from datetime import datetime
from typing import Any, Literal

from faust.types import TP

from indices import StateLimits
from streams.city.config import CityConfig
from streams.contract import DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.base import read_internal
from streams.contract.deadletters import RawRecord, dead_letter
from streams.errors import RiskmonError
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore, CheckpointUnavailable
from streams.pipeline.scoring import (
    PartitionScorer,
    ScoringContext,
    city_fingerprint,
    model_fingerprint,
)
from streams.settings import Settings
from streams.worker.checkpointing import CheckpointWriter, conflict_letters
from streams.worker.handoff import Reads, below, hand_over
from streams.worker.outage import SaveOutage, utcnow
from streams.worker.ownership import Ownership

log = logging.getLogger("riskmon.worker")

SendUpdates = Callable[[Sequence[ScoreUpdate]], Awaitable[None]]
SendDead = Callable[[Sequence[DeadLetter]], Awaitable[None]]
Seek = Callable[[TP, int], Awaitable[None]]

Unusable = Literal["none", "model_changed", "city_changed"]
"""Why a partition starts without its checkpoint: there is none, or it was saved under another
model or for other districts."""


class CheckpointMismatch(RiskmonError):
    """A partition's checkpoint was saved under another model or for other districts, and the
    worker is set to refuse (``RISKMON_CHECKPOINT_MISMATCH=refuse``, the default) rather than
    rebuild the partition from the beginning of its log, which loses whatever the log's retention
    has dropped (old safety facts on Apache Kafka). The checkpoint is left as it is."""

    retriable = False


# --- the decisions ----------------------------------------------------------------------------
def checkpoint_usable(
    data: Mapping[str, Any] | None, fingerprint: str, codes: Iterable[str]
) -> PartitionScorer | Unusable:
    """The scorer ``data`` (a loaded checkpoint, None if there is none) restores, or why the
    partition must be rebuilt instead. The districts must be the partition's ``codes``: by
    their fingerprint, or for a checkpoint older than fingerprints, by its districts' codes."""
    if data is None:
        return "none"
    if data.get("model_fingerprint") != fingerprint:
        return "model_changed"
    codes = list(codes)
    saved_city = data.get("city_fingerprint")
    if saved_city is None:
        if set(data.get("districts", {})) != set(codes):
            return "city_changed"
    elif saved_city != city_fingerprint(codes):
        return "city_changed"
    return PartitionScorer.from_checkpoint(data, codes)


def mismatch_message(partition: int, why: Unusable, data: Mapping[str, Any]) -> str:
    """What the operator reads when a checkpoint does not fit, with the ways out."""
    what = {
        "model_changed": f"the model (saved under {data.get('model_version')}, fingerprint "
        f"{data.get('model_fingerprint')})",
        "city_changed": "the districts of this partition (the city's district list or "
        "RISKMON_PARTITIONS changed)",
    }.get(why, why)
    return (
        f"partition {partition}'s checkpoint does not fit {what}. Kept as it is. Either run "
        "`riskmon db rebuild-checkpoints` (recomputes every partition's state from the stored "
        "history under this configuration, archiving the old checkpoints), or set "
        "RISKMON_CHECKPOINT_MISMATCH=rebuild to rebuild from the beginning of the Kafka log "
        "(exact only while the log still holds every event: on Apache Kafka, old safety facts "
        "are gone after the retention period)"
    )


def resume_positions(
    granted: Set[TP], topic: str, next_offsets: Mapping[int, int]
) -> dict[TP, int]:
    """Where each held partition of ``topic`` in ``granted`` must be read from: its state's next
    offset (``next_offsets`` by partition); partitions without a state are Faust's to place."""
    return {
        tp: next_offsets[tp.partition]
        for tp in granted
        if tp.topic == topic and tp.partition in next_offsets
    }


def owned(partition: int, held: Collection[int], ownership: Ownership, topic: str) -> bool:
    """Whether a batch of ``partition`` may be scored here: its state is held, or the partition
    is granted (and restored on first use). A partition revoked while its batch waited is
    neither: its checkpoint was saved at the revocation and the new owner reads the records from
    it; scoring them here would start a second, stale scorer (its ticks would overwrite the
    owner's)."""
    return partition in held or ownership.holds(topic, partition)


def located_batches(
    records: Sequence[RawRecord], now: datetime
) -> tuple[dict[int, list[tuple[int, LocatedEvent]]], list[DeadLetter]]:
    """``records`` of riskmon.located decoded and grouped by partition (in order), and a dead
    letter for each that is not a located event (only a foreign producer gets there)."""
    by_partition: dict[int, list[tuple[int, LocatedEvent]]] = {}
    dead: list[DeadLetter] = []
    for raw in records:
        try:
            located = read_internal(LocatedEvent, raw.value or b"")
        except ValueError as exc:
            dead.append(dead_letter(raw, "schema", f"bad located event: {exc}", now))
            continue
        by_partition.setdefault(raw.partition, []).append((raw.offset, located))
    return by_partition, dead


# --- the stage --------------------------------------------------------------------------------
class ScoringStage:
    """Owns a :class:`PartitionScorer` per located partition assigned here."""

    def __init__(
        self,
        settings: Settings,
        config: CityConfig,
        checkpoints: CheckpointStore,
        metrics: WorkerMetrics,
        *,
        send: SendUpdates,
        seek: Seek,
    ) -> None:
        self.settings = settings
        self.topic = settings.topics.located
        self.city = config.city
        limits = StateLimits(
            settings.state_max_incidents, settings.state_max_sensors, settings.state_max_facts
        )
        self.ctx = ScoringContext(config.city.model_districts(), config.params, limits)
        self.fingerprint = model_fingerprint(config.params)
        self.checkpoints = checkpoints
        self.metrics = metrics
        self.send = send
        self.seek = seek
        self.scorers: dict[int, PartitionScorer] = {}
        # States of partitions revoked from this worker, kept in case they come back (a
        # rebalance while PostgreSQL is down must not stop their districts).
        self.released: dict[int, PartitionScorer] = {}
        self.dirty: set[int] = set()
        self.writer = CheckpointWriter(checkpoints, metrics, "", settings.checkpoint_interval_s)
        self._restoring = asyncio.Lock()
        # Held while a batch or tick has changed state whose outputs the broker has not
        # confirmed yet; a checkpoint is taken only without it.
        self._progress = asyncio.Lock()

    # --- records ------------------------------------------------------------------------------
    async def batch(
        self, records: Sequence[RawRecord], now: datetime, ownership: Ownership, dead: SendDead
    ) -> None:
        """Score a batch of riskmon.located records; publish the updates and dead letters and
        return once the broker confirmed them. A checkpoint is never taken in between: it would
        cover outputs that might still be lost. Records already scored (handed off in-process,
        see :meth:`handoff`) are skipped undecoded."""
        held = {partition: scorer.next_offset for partition, scorer in self.scorers.items()}
        unread = [raw for raw in records if not below(raw.offset, raw.partition, held)]
        if len(unread) < len(records):
            self.metrics.handoff.labels("score", "read_again").inc(len(records) - len(unread))
        by_partition, bad = located_batches(unread, now)
        async with self._progress:
            await self._score(by_partition, list(bad), now, ownership, dead)
        self._delays(by_partition)

    def next_offset(self, partition: int) -> int | None:
        """The next offset of ``partition`` its state held here stands at (None: not held)."""
        held = self.scorers.get(partition)
        return None if held is None else held.next_offset

    async def handoff(
        self,
        placed: Mapping[int, Sequence[tuple[int, LocatedEvent]]],
        now: datetime,
        dead: SendDead,
    ) -> Reads:
        """Score events the broker confirmed on riskmon.located (by partition, as (offset,
        event)) without reading them back, where a scorer held here continues at their offset
        (:func:`~streams.worker.handoff.contiguous`); the rest is left to the topic.
        Returns what that means for reading each partition held here (see
        :data:`~streams.worker.handoff.Reads`)."""
        scored: list[dict[int, list[tuple[int, LocatedEvent]]]] = []

        async def score(taken: dict[int, list[tuple[int, LocatedEvent]]]) -> None:
            scored.append(taken)
            await self._score(taken, [], now, None, dead)

        async with self._progress:
            reads = await hand_over(
                self.scorers, placed, self.metrics.handoff_counter("score"), score
            )
        for taken in scored:
            self._delays(taken)
        return reads

    async def _score(
        self,
        by_partition: Mapping[int, Sequence[tuple[int, LocatedEvent]]],
        letters: list[DeadLetter],
        now: datetime,
        ownership: Ownership | None,
        dead: SendDead,
    ) -> None:
        """Apply ``by_partition`` to the scorers (``ownership`` None: handed off, the scorers
        are held); publish the updates and dead letters, confirmed. Called with the progress
        lock held."""
        updates: list[ScoreUpdate] = []
        for partition, batch in by_partition.items():
            if ownership is not None and not owned(
                partition, self.scorers.keys(), ownership, self.topic
            ):
                self.metrics.not_owned.labels(self.topic).inc(len(batch))
                log.info(
                    "records of a revoked partition left to its new owner partition=%s records=%s",
                    partition,
                    len(batch),
                )
                continue
            scorer = self.scorers.get(partition) or await self.restore(partition)
            log.debug(
                "score batch partition=%s offsets=%s..%s records=%s next_offset=%s",
                partition,
                batch[0][0],
                batch[-1][0],
                len(batch),
                scorer.next_offset,
            )
            with self.metrics.batch_seconds.time():
                outcome = scorer.process(batch, self.ctx, now)
            self.dirty.add(partition)
            for outcome_name, count in outcome.counts.items():
                self.metrics.events.labels(outcome_name).inc(count)
            updates.extend(outcome.updates)
            letters += conflict_letters(self.topic, partition, outcome.conflicts, now)
            for gap in outcome.gaps:
                log.warning(
                    "located log gap partition=%s missing_offsets=%s-%s count=%s",
                    partition,
                    gap.start,
                    gap.end - 1,
                    gap.end - gap.start,
                )
        await self.send(updates)
        if letters:
            await dead(letters)

    def _delays(self, by_partition: Mapping[int, Sequence[tuple[int, LocatedEvent]]]) -> None:
        """Observe each scored event's time from its arrival to its update's confirmation."""
        sent = utcnow()
        for batch in by_partition.values():
            for _, located in batch:
                self.metrics.score_delay.observe(
                    max(0.0, (sent - located.received_at).total_seconds())
                )

    async def tick(self, now: datetime) -> None:
        """Re-evaluate the decaying indices of every held partition; publish what moved."""
        async with self._progress:
            updates: list[ScoreUpdate] = []
            for partition, scorer in list(self.scorers.items()):
                moved = scorer.tick(self.ctx, now, self.settings.tick_min_change)
                if moved:
                    self.dirty.add(partition)
                updates.extend(moved)
            await self.send(updates)

    # --- ownership ----------------------------------------------------------------------------
    async def restore(self, partition: int) -> PartitionScorer:
        """Load ``partition``'s checkpoint (or start empty) and read on from its offset; once
        per assignment (the assignment handler, Faust's seek and a first batch may all ask)."""
        async with self._restoring:
            held = self.scorers.get(partition)
            return held if held is not None else await self._restore(partition)

    async def _restore(self, partition: int) -> PartitionScorer:
        kept = self.released.pop(partition, None)
        if kept is not None:
            resumed = await self._resume_kept(partition, kept)
            if resumed is not None:
                return resumed
        codes = self.city.codes_of_partition(partition, self.settings.partitions)
        data = await self.checkpoints.load(partition)  # waits while PostgreSQL is unreachable
        usable = checkpoint_usable(data, self.fingerprint, codes)
        if data is not None and not isinstance(usable, PartitionScorer):
            if self.settings.checkpoint_mismatch == "refuse":
                message = mismatch_message(partition, usable, data)
                log.critical(
                    "checkpoint refused partition=%s reason=%s: %s", partition, usable, message
                )
                raise CheckpointMismatch(message)
            log.warning(
                "checkpoint ignored partition=%s reason=%s saved=%s now=%s: rebuilding the "
                "partition from the beginning of its log (RISKMON_CHECKPOINT_MISMATCH=rebuild); "
                "the old checkpoint is archived at the first save",
                partition,
                usable,
                data.get("model_fingerprint"),
                self.fingerprint,
            )
        scorer = (
            usable if isinstance(usable, PartitionScorer) else PartitionScorer(partition, codes)
        )
        self.scorers[partition] = scorer
        await self.seek(TP(self.topic, partition), scorer.next_offset)
        log.info(
            "partition restored partition=%s next_offset=%s districts=%s from=%s",
            partition,
            scorer.next_offset,
            len(scorer.slots),
            "checkpoint" if isinstance(usable, PartitionScorer) else "beginning",
        )
        await self.send(scorer.publish_all(self.ctx, utcnow(), "recovered"))
        return scorer

    async def _resume_kept(self, partition: int, kept: PartitionScorer) -> PartitionScorer | None:
        """A partition this worker held before a rebalance comes back: resume from the state it
        kept, unless the store has a newer checkpoint (another worker scored it meanwhile).
        While PostgreSQL cannot be reached the kept state is used at once instead of waiting:
        it is this worker's own, exact up to its next offset, and the log is read on from there
        (anything another worker published meanwhile is published again with newer seqs). None:
        the store has a newer one, restore it as usual."""
        try:
            data = await self.checkpoints.load_now(partition)
        except CheckpointUnavailable:
            why = "checkpoint store unreachable"
        else:
            newer = data is not None and int(data.get("next_offset", 0)) > kept.next_offset
            if newer:
                return None
            why = "no newer checkpoint"
        self.scorers[partition] = kept
        await self.seek(TP(self.topic, partition), kept.next_offset)
        log.info(
            "partition resumed from the state kept at release partition=%s next_offset=%s why=%s",
            partition,
            kept.next_offset,
            why,
        )
        await self.send(kept.publish_all(self.ctx, utcnow(), "recovered"))
        return kept

    def positions(self, granted: Set[TP]) -> dict[TP, int]:
        """Where each located partition of ``granted`` whose state is held resumes (see
        :func:`resume_positions`); call :meth:`on_assigned` first."""
        offsets = {partition: s.next_offset for partition, s in self.scorers.items()}
        return resume_positions(granted, self.topic, offsets)

    async def on_assigned(self, assigned: Set[TP]) -> None:
        """Restore each assigned located partition not restored yet (in partition order); the
        kept states of partitions that went elsewhere are dropped."""
        ours = {tp.partition for tp in assigned if tp.topic == self.topic}
        for partition in [p for p in self.released if p not in ours]:
            del self.released[partition]
        for tp in sorted(assigned):
            if tp.topic == self.topic:
                await self.restore(tp.partition)

    async def on_revoked(self, revoked: Set[TP]) -> None:
        """Save each revoked partition's state and let it go (the new owner restores it)."""
        for tp in revoked:
            if tp.topic == self.topic and tp.partition in self.scorers:
                saved = await self.save(tp.partition)
                scorer = self.scorers.pop(tp.partition)
                self.released[tp.partition] = scorer  # resumed from if it comes back here
                log.info(
                    "partition released partition=%s next_offset=%s checkpoint=%s",
                    tp.partition,
                    scorer.next_offset,
                    "saved" if saved else "failed",
                )

    def count_state(self) -> None:
        """The state held here, by kind and in checkpoint bytes, for the state-size metrics."""
        totals = {"incidents": 0, "sensors": 0, "facts": 0}
        for scorer in self.scorers.values():
            for slot in scorer.slots.values():
                for kind, n in slot.state.sizes().items():
                    totals[kind] += n
        for kind, n in totals.items():
            self.metrics.state_entries.labels(kind).set(n)

    # --- checkpoints --------------------------------------------------------------------------
    async def save(self, partition: int) -> bool:
        """Save ``partition``'s state with its next offset; False (and still dirty) if the store
        failed: scoring goes on, the next interval retries."""
        scorer = self.scorers.get(partition)
        if scorer is None:
            return True
        async with self._progress:  # no batch half-published: its outputs are all confirmed
            state = scorer.to_checkpoint(self.fingerprint)  # consistent with next_offset
            self.dirty.discard(partition)
        if not await self.writer.save(partition, state):
            self.dirty.add(partition)
            return False
        return True

    @property
    def outage(self) -> SaveOutage:
        return self.writer.outage

    async def save_dirty(self) -> None:
        """Save every partition changed since its last save (the checkpoint timer)."""
        if self.dirty:
            self.count_state()
        saved = [await self.save(partition) for partition in sorted(self.dirty)]
        if saved and all(saved):
            self.writer.recovered(len(saved))
