"""The worker's Faust agents: loops that read, call the pure steps, and write. No logic here.

ingest  (riskmon.incidents | readings | safety) -> :func:`streams.pipeline.ingest.ingest`
        -> riskmon.located (explicit partition per district) or riskmon.deadletter
score   (riskmon.located) -> :class:`streams.pipeline.scoring.PartitionScorer` -> riskmon.scores
tick    (timer) re-evaluates decaying indices and publishes what moved
checkpoint (timer) saves each partition's state with its next offset to PostgreSQL

Recovery does not use Faust tables or changelogs (the embedded broker under-reports end offsets,
so changelog recovery can skip the newest records). When a located partition is assigned, its
checkpoint is loaded and the consumer is moved to the checkpoint's offset; the records after it
are replayed into the state. A checkpoint that cannot be written delays nothing but recovery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence, Set
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.types import TP

from streams import metrics
from streams.city.config import CityConfig
from streams.contract import DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.deadletters import RawRecord, dead_letter
from streams.persistence.checkpoints import CheckpointStore
from streams.pipeline.alerting import AlertingContext
from streams.pipeline.ingest import Kind, ingest
from streams.pipeline.scoring import PartitionScorer, ScoringContext, model_fingerprint
from streams.settings import Settings
from streams.worker.alert_stage import AlertStage

log = logging.getLogger("riskmon.worker")


def utcnow() -> datetime:
    return datetime.now(UTC)


def arrival_time(located: LocatedEvent) -> datetime | None:
    """When the input happened, for the arrival-delay metric: an incident's occurrence, a
    reading's observation; None for safety facts (their effective time may be long past)."""
    if located.incident is not None:
        return located.incident.occurred_at
    if located.reading is not None:
        return located.reading.observed_at
    return None


class Worker:
    """Everything the agents share: settings, city, model, owned scorers, topics."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        config: CityConfig,
        checkpoints: CheckpointStore,
        alert_checkpoints: CheckpointStore,
    ) -> None:
        city, params = config.city, config.params
        self.app = app
        self.settings = settings
        self.city = city
        self.max_future = timedelta(seconds=settings.max_future_s)
        self.ctx = ScoringContext(city.model_districts(), params)
        self.fingerprint = model_fingerprint(params)
        self.checkpoints = checkpoints
        alert_ctx = AlertingContext.for_city(config)
        self.alert_stage = AlertStage(app, settings, alert_ctx, alert_checkpoints)
        self.scorers: dict[int, PartitionScorer] = {}
        self.dirty: set[int] = set()
        self.checkpoints_failing = False
        self._restoring = asyncio.Lock()
        topics = settings.topics
        raw = {
            "value_serializer": "raw",
            "key_serializer": "raw",
            "partitions": settings.partitions,
        }
        self.inputs = app.topic(*topics.inputs(), **raw)
        self.located = app.topic(topics.located, **raw)
        self.scores = app.topic(topics.scores, **raw)
        self.deadletter = app.topic(topics.deadletter, **raw)
        self.alert_input = app.topic(topics.alert_input, **{**raw, "partitions": 1})
        self.kind_of: dict[str, Kind] = {
            topics.incidents: "incident",
            topics.readings: "reading",
            topics.safety: "safety",
        }

    # --- sending ------------------------------------------------------------------------------
    async def send_dead(self, letter: DeadLetter) -> None:
        metrics.DEAD_LETTERS.labels(letter.error).inc()
        log.warning(
            "dead letter error=%s origin=%s/%s/%s reason=%s",
            letter.error,
            letter.topic,
            letter.partition,
            letter.offset,
            letter.reason,
        )
        await self.deadletter.send(
            key=f"{letter.topic}/{letter.partition}".encode(),
            value=letter.model_dump_json().encode(),
        )

    async def send_updates(self, updates: Sequence[ScoreUpdate]) -> None:
        for update in updates:
            metrics.SCORE_UPDATES.labels(update.reason).inc()
            value = update.model_dump_json().encode()
            await self.scores.send(key=update.district.encode(), value=value)
            # The alert stage sees every district on one partition (clusters span districts).
            await self.alert_input.send(key=update.district.encode(), value=value, partition=0)

    # --- ingest -------------------------------------------------------------------------------
    async def ingest_batch(self, events: Sequence[Any]) -> None:
        now = utcnow()
        for event in events:
            msg = event.message
            raw = RawRecord(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
            out = ingest(
                raw, self.kind_of[msg.topic], self.city, self.ctx.params, now, self.max_future
            )
            if isinstance(out, DeadLetter):
                await self.send_dead(out)
                continue
            metrics.INGESTED.labels(out.kind).inc()
            happened = arrival_time(out)
            if happened is not None:
                delay = max(0.0, (out.received_at - happened).total_seconds())
                metrics.ARRIVAL_DELAY.labels(out.kind).observe(delay)
            partition = self.city.partition_of(out.district, self.settings.partitions)
            await self.located.send(
                key=out.district.encode(), value=out.model_dump_json().encode(), partition=partition
            )

    # --- scoring ------------------------------------------------------------------------------
    async def score_batch(self, events: Sequence[Any]) -> None:
        now = utcnow()
        by_partition: dict[int, list[tuple[int, LocatedEvent]]] = {}
        for event in events:
            msg = event.message
            try:
                located = LocatedEvent.model_validate_json(msg.value)
            except ValueError as exc:  # only a foreign producer on our internal topic gets here
                raw = RawRecord(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
                await self.send_dead(dead_letter(raw, "schema", f"bad located event: {exc}", now))
                continue
            by_partition.setdefault(msg.partition, []).append((msg.offset, located))
        assigned = self.assigned(self.settings.topics.located)
        for partition, batch in by_partition.items():
            scorer = self.scorers.get(partition)
            if scorer is None and partition not in assigned:
                # Revoked while the batch waited: its checkpoint was saved at the revocation and
                # the new owner reads these records from it. Scoring them here would start a
                # second, stale scorer of the partition (its ticks would overwrite the owner's).
                metrics.NOT_OWNED.labels(self.settings.topics.located).inc(len(batch))
                log.info(
                    "records of a revoked partition left to its new owner partition=%s records=%s",
                    partition,
                    len(batch),
                )
                continue
            scorer = scorer or await self.restore(partition)
            log.debug(
                "score batch partition=%s offsets=%s..%s records=%s next_offset=%s",
                partition,
                batch[0][0],
                batch[-1][0],
                len(batch),
                scorer.next_offset,
            )
            with metrics.BATCH_SECONDS.time():
                outcome = scorer.process(batch, self.ctx, now)
            self.dirty.add(partition)
            for outcome_name, count in outcome.counts.items():
                metrics.EVENTS.labels(outcome_name).inc(count)
            await self.send_updates(outcome.updates)
            sent = utcnow()
            for _, located in batch:
                metrics.SCORE_DELAY.observe(max(0.0, (sent - located.received_at).total_seconds()))
            for conflict in outcome.conflicts:
                raw = RawRecord(
                    self.settings.topics.located,
                    partition,
                    conflict.offset,
                    conflict.event.district.encode(),
                    conflict.event.model_dump_json().encode(),
                )
                await self.send_dead(dead_letter(raw, "conflict", conflict.reason, now))

    async def tick(self) -> None:
        now = utcnow()
        for partition, scorer in list(self.scorers.items()):
            updates = scorer.tick(self.ctx, now, self.settings.tick_min_change)
            if updates:
                self.dirty.add(partition)
            await self.send_updates(updates)

    # --- state --------------------------------------------------------------------------------
    async def restore(self, partition: int) -> PartitionScorer:
        """Load ``partition``'s checkpoint (or start empty) and read on from its offset; once
        per assignment (the assignment handler and a first batch may both ask)."""
        async with self._restoring:
            held = self.scorers.get(partition)
            return held if held is not None else await self._restore(partition)

    async def _restore(self, partition: int) -> PartitionScorer:
        codes = self.city.codes_of_partition(partition, self.settings.partitions)
        state = await self.checkpoints.load(partition)
        if state is not None and state.get("model_fingerprint") != self.fingerprint:
            log.warning(
                "checkpoint ignored partition=%s reason=model_changed saved=%s now=%s: "
                "rebuilding the partition from the beginning of its log",
                partition,
                state.get("model_fingerprint"),
                self.fingerprint,
            )
            state = None
        if state is None:
            scorer = PartitionScorer(partition, codes)
        else:
            scorer = PartitionScorer.from_checkpoint(state, codes)
        self.scorers[partition] = scorer
        tp = TP(self.settings.topics.located, partition)
        await self.app.consumer.seek(tp, scorer.next_offset)
        log.info(
            "partition restored partition=%s next_offset=%s districts=%s from=%s",
            partition,
            scorer.next_offset,
            len(scorer.slots),
            "checkpoint" if state else "beginning",
        )
        await self.send_updates(scorer.publish_all(self.ctx, utcnow(), "recovered"))
        return scorer

    def assigned(self, topic: str) -> set[int]:
        """Partitions of ``topic`` this worker's consumer holds now."""
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic}

    async def resume_positions(self, granted: Set[TP]) -> dict[TP, int]:
        """Where each stateful partition of ``granted`` must be read from: its state's next
        offset. Restores the states not restored yet (Faust asks while the assignment signal
        may still be restoring; :meth:`restore` does each once)."""
        await self.on_assigned(granted)
        located = self.settings.topics.located
        positions = {
            tp: self.scorers[tp.partition].next_offset
            for tp in granted
            if tp.topic == located and tp.partition in self.scorers
        }
        return positions | self.alert_stage.resume_positions(granted)

    async def on_assigned(self, assigned: Set[TP]) -> None:
        for tp in sorted(assigned):
            if tp.topic == self.settings.topics.located:
                await self.restore(tp.partition)
        if any(tp.topic == self.settings.topics.alert_input for tp in assigned):
            await self.alert_stage.restore()

    async def on_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            if tp.topic == self.settings.topics.located and tp.partition in self.scorers:
                saved = await self.save(tp.partition)
                scorer = self.scorers.pop(tp.partition)
                log.info(
                    "partition released partition=%s next_offset=%s checkpoint=%s",
                    tp.partition,
                    scorer.next_offset,
                    "saved" if saved else "failed",
                )
        if any(tp.topic == self.settings.topics.alert_input for tp in revoked):
            await self.alert_stage.release()

    async def save(self, partition: int) -> bool:
        scorer = self.scorers.get(partition)
        if scorer is None:
            return True
        state = scorer.to_checkpoint(self.fingerprint)  # synchronous: consistent with next_offset
        self.dirty.discard(partition)
        try:
            await self.checkpoints.save(partition, state, utcnow())
        except Exception as exc:  # PostgreSQL down: keep scoring, retry on the next timer
            self.dirty.add(partition)
            metrics.CHECKPOINT_FAILURES.inc()
            if not self.checkpoints_failing:  # once per outage; the metric counts every attempt
                log.warning(
                    "checkpoint failed partition=%s error=%r: scoring goes on, "
                    "retrying every %.1f s",
                    partition,
                    exc,
                    self.settings.checkpoint_interval_s,
                )
            self.checkpoints_failing = True
            return False
        metrics.CHECKPOINTS.inc()
        return True

    async def save_dirty(self) -> None:
        saved = [await self.save(partition) for partition in sorted(self.dirty)]
        if self.checkpoints_failing and saved and all(saved):
            self.checkpoints_failing = False
            log.info("checkpoints saved again partitions=%s", len(saved))
        await self.alert_stage.save()


def register(
    app: Any,
    settings: Settings,
    config: CityConfig,
    checkpoints: CheckpointStore,
    alert_checkpoints: CheckpointStore,
) -> Worker:
    """Add riskmon's agents and timers to ``app``; returns the shared :class:`Worker`."""
    worker = Worker(app, settings, config, checkpoints, alert_checkpoints)
    app.resume_positions = worker.resume_positions
    take = (settings.batch_max, settings.batch_within_s)

    @app.agent(worker.inputs, name="riskmon.ingest")  # type: ignore[untyped-decorator]
    async def ingest_agent(stream: Any) -> None:
        async for events in stream.take_events(*take):
            await worker.ingest_batch(events)

    @app.agent(worker.located, name="riskmon.score")  # type: ignore[untyped-decorator]
    async def score_agent(stream: Any) -> None:
        async for events in stream.take_events(*take):
            await worker.score_batch(events)

    @app.agent(worker.alert_stage.stream, name="riskmon.alerts")  # type: ignore[untyped-decorator]
    async def alert_agent(stream: Any) -> None:
        async for events in stream.take_events(*take):
            if worker.alert_stage.state is None and not worker.assigned(
                settings.topics.alert_input
            ):
                # Revoked while the batch waited (see Worker.score_batch): the new owner has it.
                metrics.NOT_OWNED.labels(settings.topics.alert_input).inc(len(events))
                continue
            await worker.alert_stage.batch(events, utcnow(), worker.send_dead)

    @app.timer(interval=settings.tick_interval_s)  # type: ignore[untyped-decorator]
    async def tick_timer() -> None:
        await worker.tick()
        await worker.alert_stage.tick(utcnow())

    @app.timer(interval=settings.checkpoint_interval_s)  # type: ignore[untyped-decorator]
    async def checkpoint_timer() -> None:
        await worker.save_dirty()

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def on_assigned(sender: Any, assigned: set[TP], **_: Any) -> None:
        await worker.on_assigned(assigned)

    @app.on_partitions_revoked.connect  # type: ignore[untyped-decorator]
    async def on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        await worker.on_revoked(revoked)

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator]
    async def on_shutdown(sender: Any, **_: Any) -> None:
        await worker.save_dirty()

    return worker
