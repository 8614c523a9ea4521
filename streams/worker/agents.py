"""The worker's Faust agents: loops that read, call the stages, and write. No logic here.

ingest  (riskmon.incidents | readings | safety) -> :func:`streams.pipeline.ingest.ingest`
        -> riskmon.identity (incidents and safety facts, partitioned by (source, id)),
           riskmon.located (readings, explicit partition per district) or riskmon.deadletter
identity (riskmon.identity) -> :class:`streams.worker.identity_stage.IdentityStage` (one
        (source, id) in one district, city-wide) -> riskmon.located or riskmon.deadletter
score   (riskmon.located) -> :class:`streams.worker.scoring_stage.ScoringStage` -> riskmon.scores
alerts  (riskmon.alert-input | alert-acks) -> :class:`streams.worker.alert_stage.AlertStage`
tick    (timer) re-evaluates decaying indices and alert states and publishes what moved
checkpoint (timer) saves each changed partition's state with its next offset to PostgreSQL

Recovery does not use Faust tables or changelogs (the embedded broker under-reports end offsets,
so changelog recovery can skip the newest records): the stages restore their checkpoints when
their partitions are assigned and move the consumer to the checkpoints' offsets. Which partitions
are ours is the consumer's :class:`~streams.worker.ownership.Ownership`, read at each call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from faust.types import TP

from streams.city.config import CityConfig
from streams.contract import DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.deadletters import RawRecord, dead_letter
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore
from streams.pipeline.alerting import AlertingContext
from streams.pipeline.identity import identity_of, identity_partition
from streams.pipeline.ingest import Kind, ingest_many
from streams.settings import Settings
from streams.worker.alert_stage import AlertStage
from streams.worker.app import aiokafka_producer
from streams.worker.batch_send import batch_sends
from streams.worker.batches import take_batches
from streams.worker.cap_stage import CapStage
from streams.worker.complaints_stage import register_complaints
from streams.worker.delivery import Delivery, Outgoing, Placed
from streams.worker.handoff import Reads, ReadSwitch, by_partition
from streams.worker.identity_stage import IdentityStage
from streams.worker.lanes import Lane
from streams.worker.outage import utcnow
from streams.worker.ownership import Ownership
from streams.worker.scoring_stage import ScoringStage

log = logging.getLogger("riskmon.worker")

DRAIN_S = 5.0
"""Longest a rebalance or shutdown waits for the lanes' hand-offs."""

HANDED = frozenset({"identity", "located", "alert_input"})
"""The outputs a next stage of this worker may take by hand-off."""


def arrival_time(located: LocatedEvent) -> datetime | None:
    """When the input happened, for the arrival-delay metric: an incident's occurrence, a
    reading's observation; None for safety facts (their effective time may be long past)."""
    if located.incident is not None:
        return located.incident.occurred_at
    if located.reading is not None:
        return located.reading.observed_at
    return None


def raw_records(events: Sequence[Any]) -> list[RawRecord]:
    """The records of a batch of Faust events."""
    return [
        RawRecord(
            e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value
        )
        for e in events
    ]


class Worker:
    """The I/O shell the agents share: the topics, the sends, and the two stages."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        config: CityConfig,
        checkpoints: CheckpointStore,
        alert_checkpoints: CheckpointStore,
        identity_checkpoints: CheckpointStore,
        metrics: WorkerMetrics,
        cap_checkpoints: CheckpointStore,
    ) -> None:
        self.app = app
        self.settings = settings
        self.city = config.city
        self.params = config.params
        self.max_future = timedelta(seconds=settings.max_future_s)
        self.metrics = metrics
        topics = settings.topics
        raw = {
            "value_serializer": "raw",
            "key_serializer": "raw",
            "partitions": settings.partitions,
        }
        self.inputs = app.topic(*topics.inputs(), **raw)
        self.identity = app.topic(topics.identity, **raw)
        self.located = app.topic(topics.located, **raw)
        self.scores = app.topic(topics.scores, **raw)
        self.deadletter = app.topic(topics.deadletter, **raw)
        self.alert_input = app.topic(topics.alert_input, **{**raw, "partitions": 1})
        self.cap = app.topic(topics.cap, **{**raw, "partitions": 1})
        self.kind_of: dict[str, Kind] = {
            topics.incidents: "incident",
            topics.readings: "reading",
            topics.safety: "safety",
        }
        self.scoring = ScoringStage(
            settings, config, checkpoints, metrics, send=self.send_updates, seek=self.seek
        )
        alert_ctx = AlertingContext.for_city(config)
        self.delivery = Delivery(
            metrics,
            self.too_large,
            batch_sends(lambda: aiokafka_producer(app)) if settings.produce_batches else None,
        )
        self.identity_stage = IdentityStage(
            settings,
            config.params,
            identity_checkpoints,
            metrics,
            forward=self.send_located,
            seek=self.seek,
        )
        self.alert_stage = AlertStage(
            app, settings, alert_ctx, alert_checkpoints, metrics, self.delivery
        )
        self.reads = ReadSwitch()
        # The alert stage takes its hand-offs beside scoring, not inside its batches.
        failures = metrics.handoff_failures
        self.alert_lane: Lane[list[tuple[int, ScoreUpdate]]] = Lane(
            "alerts", self.hand_alerts, failed=lambda: failures.labels("alerts").inc()
        )
        # The JSON of events sent to riskmon.identity while they may be forwarded by hand-off
        # (same object, same bytes on riskmon.located): id -> (event, bytes), see reusing_json.
        self._json: dict[int, tuple[LocatedEvent, bytes]] = {}
        self.cap_stage = CapStage(
            settings,
            config.city,
            cap_checkpoints,
            metrics,
            forward=self.send_identity,
            seek=self.seek,
        )

    @property
    def ownership(self) -> Ownership:
        """The partitions the group granted this worker (kept by the consumer, see app.py)."""
        ownership: Ownership = self.app.consumer.ownership
        return ownership

    # --- sending ------------------------------------------------------------------------------
    async def seek(self, tp: TP, offset: int) -> None:
        await self.app.consumer.seek(tp, offset)

    def dead_out(self, letter: DeadLetter) -> Outgoing:
        """The record of ``letter`` on the dead-letter topic (counted and logged here)."""
        self.metrics.dead_letters.labels(letter.error).inc()
        log.warning(
            "dead letter error=%s origin=%s/%s/%s reason=%s",
            letter.error,
            letter.topic,
            letter.partition,
            letter.offset,
            letter.reason,
        )
        return Outgoing(
            self.deadletter,
            f"{letter.topic}/{letter.partition}".encode(),
            letter.model_dump_json().encode(),
            "dead_letter",
        )

    def too_large(self, out: Outgoing, exc: KafkaError) -> Outgoing | None:
        """A record the broker refuses for its size becomes a dead letter holding its first
        bytes (bounded: a dead letter always fits); a refused dead letter has no replacement."""
        if out.what == "dead_letter":
            return None
        raw = RawRecord(
            str(out.topic.get_topic_name()), out.partition or -1, -1, out.key, out.value
        )
        reason = f"the {out.what} record made of this input is too large to publish: {exc!r}"
        return self.dead_out(dead_letter(raw, "output_too_large", reason, utcnow()))

    async def send_dead(self, letters: Sequence[DeadLetter]) -> None:
        """Publish ``letters`` and wait until the broker has them."""
        await self.delivery.confirm([self.dead_out(letter) for letter in letters])

    async def send_updates(self, updates: Sequence[ScoreUpdate]) -> None:
        """Publish ``updates`` to the scores topic and the alert stage's input, confirmed; then
        hand the alert input's records to the alert stage (see :mod:`streams.worker.handoff`)."""
        out: list[Outgoing] = []
        for update in updates:
            self.metrics.score_updates.labels(update.reason).inc()
            value = update.model_dump_json().encode()
            key = update.district.encode()
            out.append(Outgoing(self.scores, key, value, "score"))
            # The alert stage sees every district on one partition (clusters span districts).
            out.append(Outgoing(self.alert_input, key, value, "alert_input", partition=0))
        flying = ExitStack()
        flying.enter_context(self.flying(out))
        try:
            placed = await self.delivery.confirm(out)
            if self.settings.handoff and updates:
                alert_input = by_partition(placed[1::2], updates).get(0, [])
                if alert_input:
                    # Released (no longer in flight) once the alert stage has had them.
                    release = flying.pop_all()
                    try:
                        await self.alert_lane.submit(alert_input, release.close)
                    except BaseException:
                        release.close()
                        raise
        finally:
            flying.close()

    async def hand_alerts(self, handed: list[list[tuple[int, ScoreUpdate]]]) -> None:
        """The alert stage's side of :meth:`send_updates`, in its lane (every hand-off waiting
        there at once, in the order they were sent)."""
        placed = [record for records in handed for record in records]
        reads = await self.alert_stage.handoff(placed, utcnow())
        await self.switch_reads(self.settings.topics.alert_input, reads)

    def located_out(self, located: LocatedEvent) -> Outgoing:
        """``located`` on riskmon.located, on its district's partition."""
        held = self._json.get(id(located))
        value = held[1] if held is not None and held[0] is located else None
        return Outgoing(
            self.located,
            located.district.encode(),
            located.model_dump_json().encode() if value is None else value,
            "located",
            partition=self.city.partition_of(located.district, self.settings.partitions),
        )

    async def send_located(self, events: Sequence[LocatedEvent]) -> None:
        """Publish ``events`` to riskmon.located, confirmed; then hand them to the scoring
        stage (see :mod:`streams.worker.handoff`)."""
        out = [self.located_out(e) for e in events]
        with self.flying(out):
            await self.hand_located(await self.delivery.confirm(out), events)

    async def hand_located(
        self, placed: Sequence[Placed | None], events: Sequence[LocatedEvent]
    ) -> None:
        """Let the scoring stage apply confirmed riskmon.located records it can continue with."""
        if self.settings.handoff and events:
            placed_by = by_partition(placed, events)
            reads = await self.scoring.handoff(placed_by, utcnow(), self.send_dead)
            await self.switch_reads(self.settings.topics.located, reads)

    async def hand_identity(
        self, placed: Sequence[Placed | None], events: Sequence[LocatedEvent]
    ) -> None:
        """Let the identity stage decide confirmed riskmon.identity records it can continue
        with."""
        if self.settings.handoff and events:
            placed_by = by_partition(placed, events)
            reads = await self.identity_stage.handoff(placed_by, utcnow(), self.send_dead)
            await self.switch_reads(self.settings.topics.identity, reads)

    # --- reading what the hand-off did not bring -------------------------------------------------
    def flying(self, out: Sequence[Outgoing]) -> AbstractContextManager[None]:
        """While ``out`` is sent and handed off: its records on the internal topics count as
        this worker's own at the paused partitions' recheck (see :meth:`ReadSwitch.flying`)."""
        return self.reads.flying(
            TP(str(o.topic.get_topic_name()), o.partition)
            for o in out
            if o.what in HANDED and o.partition is not None
        )

    async def switch_reads(self, topic: str, reads: Reads) -> None:
        """Stop reading the partitions of ``topic`` a hand-off brought whole; read again, from
        where the stage stands, those it left something of (see :class:`ReadSwitch`)."""
        pause, resume = self.reads.settle(topic, reads)
        if pause:
            self.app.consumer.pause_partitions(pause)
        for tp, offset in resume.items():
            await self.seek(tp, offset)
        if resume:
            self.app.consumer.resume_partitions(set(resume))

    async def recheck_reads(self) -> None:
        """Read again the paused partitions whose log goes on past where their stage stands
        (a timer): records that did not come by hand-off (another worker's, a retried send's)
        are read now. Asks the broker for the ends; without an answer, reads them all again.
        Then commits where the stages stand (:meth:`commit_handed`)."""
        if self.reads.paused:
            paused = set(self.reads.paused)
            ends: Mapping[TP, int] | None
            try:
                ends = await self.app.consumer.highwaters(*paused)
            except (KafkaError, OSError, RuntimeError) as exc:
                log.warning("end offsets unknown, reading paused partitions again error=%r", exc)
                ends = None
            stale = self.reads.recheck(ends, {tp: self.next_offset(tp) for tp in paused})
            for tp, offset in sorted(stale.items()):
                if offset is not None:
                    await self.seek(tp, offset)
            if stale:
                assigned = set(self.app.consumer.assignment())
                self.app.consumer.resume_partitions(set(stale) & assigned)
        await self.commit_handed()

    async def commit_handed(self) -> None:
        """Commit, for the group, where each stage reading an internal topic stands. Records
        applied by hand-off are never read through Faust (or read only to be skipped, or never
        again after a seek past them), so Faust alone would leave the group's committed offsets
        behind and its lag (what operators and lag exporters watch) growing. Recovery does not
        use these commits: the stages' checkpoints hold their offsets."""
        consumer = self.app.consumer
        assigned = set(consumer.assignment())
        offsets = {}
        for tp in assigned:
            offset = self.next_offset(tp)
            if offset is not None and consumer._should_commit(tp, offset):
                offsets[tp] = offset
        if not offsets:
            return
        try:
            await consumer._commit_offsets(offsets)
        except (KafkaError, OSError, RuntimeError) as exc:  # the next recheck tries again
            log.warning("hand-off offsets not committed error=%r", exc)

    def next_offset(self, tp: TP) -> int | None:
        """The next offset of ``tp`` the stage reading it holds a state for, if any."""
        topics = self.settings.topics
        if tp.topic == topics.identity:
            return self.identity_stage.next_offset(tp.partition)
        if tp.topic == topics.located:
            return self.scoring.next_offset(tp.partition)
        if tp.topic == topics.alert_input:
            return self.alert_stage.next_offset()
        return None

    def identity_out(self, located: LocatedEvent, identity: str) -> Outgoing:
        """``located`` on riskmon.identity, on the partition of its identity."""
        return Outgoing(
            self.identity,
            identity.encode(),
            located.model_dump_json().encode(),
            "identity",
            partition=identity_partition(identity, self.settings.partitions),
        )

    @contextmanager
    def reusing_json(self, sent: Sequence[tuple[LocatedEvent, Outgoing]]) -> Iterator[None]:
        """While ``sent`` (events and their records) is sent and handed off, the events sent
        to riskmon.identity go on to riskmon.located (the identity stage forwards the same
        objects) with the bytes they were sent with (:meth:`located_out`) instead of being
        encoded again. Held by id, with the event itself: while held, no other object can
        have its id."""
        held = self._json
        mine = [(located, out) for located, out in sent if out.what == "identity"]
        for located, out in mine:
            held[id(located)] = (located, out.value)
        try:
            yield
        finally:
            for located, _ in mine:
                entry = held.get(id(located))
                if entry is not None and entry[0] is located:
                    del held[id(located)]

    async def send_identity(self, events: Sequence[LocatedEvent]) -> None:
        """Publish ``events`` (incidents, withdrawals) to riskmon.identity, confirmed."""
        out = []
        for located in events:
            identity = identity_of(located)
            assert identity is not None  # not a reading
            out.append(self.identity_out(located, identity))
        with self.flying(out), self.reusing_json(list(zip(events, out, strict=True))):
            await self.hand_identity(await self.delivery.confirm(out), events)

    # --- ingest -------------------------------------------------------------------------------
    async def ingest_batch(self, events: Sequence[Any]) -> None:
        """Validate and locate a batch; return once every output and dead letter of it is
        confirmed by the broker (Faust acks the batch's offsets when this returns). Incidents
        and safety facts go to the identity stage, readings straight to scoring."""
        now = utcnow()
        out: list[Outgoing] = []
        carried: list[tuple[int, LocatedEvent]] = []  # (index in ``out``, the event it carries)
        records = [(raw, self.kind_of[raw.topic]) for raw in raw_records(events)]
        kinds: Counter[str] = Counter()
        delays: dict[str, list[float]] = {}
        for located in ingest_many(records, self.city, self.params, now, self.max_future):
            if isinstance(located, DeadLetter):
                out.append(self.dead_out(located))
                continue
            kinds[located.kind] += 1
            happened = arrival_time(located)
            if happened is not None:
                delay = max(0.0, (located.received_at - happened).total_seconds())
                delays.setdefault(located.kind, []).append(delay)
            identity = identity_of(located)
            carried.append((len(out), located))
            out.append(
                self.located_out(located)
                if identity is None
                else self.identity_out(located, identity)
            )
        for kind, n in kinds.items():  # per kind, not per record: a label lookup is not free
            self.metrics.ingested.labels(kind).inc(n)
        for kind, values in delays.items():
            observe = self.metrics.arrival_delay.labels(kind).observe
            for delay in values:
                observe(delay)
        with self.flying(out), self.reusing_json([(located, out[i]) for i, located in carried]):
            placed = await self.delivery.confirm(out)
            # Readings go straight to scoring, the others through the identity stage. Hand the
            # readings over first: they are in riskmon.located already, before anything the
            # identity stage forwards there from this batch.
            picked: dict[str, tuple[list[Placed | None], list[LocatedEvent]]] = {
                "located": ([], []),
                "identity": ([], []),
            }
            for i, located in carried:
                where, which = picked[out[i].what]
                where.append(placed[i])
                which.append(located)
            for what, hand in (("located", self.hand_located), ("identity", self.hand_identity)):
                await hand(*picked[what])

    # --- the stages ---------------------------------------------------------------------------
    async def resume_positions(self, granted: Set[TP]) -> dict[TP, int]:
        """Where each stateful partition of ``granted`` must be read from (restoring the states
        not restored yet: Faust asks while the assignment signal may still be restoring)."""
        await self.on_assigned(granted)
        return (
            self.identity_stage.positions(granted)
            | self.cap_stage.positions(granted)
            | self.scoring.positions(granted)
            | self.alert_stage.resume_positions(granted)
        )

    async def on_assigned(self, assigned: Set[TP]) -> None:
        # Faust keeps its paused partitions across a rebalance: read them all again (each
        # stage's restore puts the consumer where the stage stands).
        paused = self.reads.release()
        if paused:
            held = set(assigned) | set(self.app.consumer.assignment())
            self.app.consumer.resume_partitions(paused & held)
        await self.cap_stage.on_assigned(assigned)
        await self.identity_stage.on_assigned(assigned)
        await self.scoring.on_assigned(assigned)
        await self.alert_stage.on_assigned(assigned)

    async def drain_lanes(self) -> None:
        """Let the stages' lanes apply what they were handed (before a rebalance or shutdown
        saves or drops states), waiting at most :data:`DRAIN_S`. A hand-off still running after
        that applies only where its stage still holds the state at those offsets (under the
        stage's lock, as always); whatever it does not apply is read from the topic."""
        try:
            await asyncio.wait_for(self.alert_lane.drain(), DRAIN_S)
        except TimeoutError:
            log.warning("hand-offs not applied within drain_s=%s: left to the topics", DRAIN_S)

    async def on_revoked(self, revoked: Set[TP]) -> None:
        await self.drain_lanes()
        self.reads.forget(revoked)
        await self.cap_stage.on_revoked(revoked)
        await self.identity_stage.on_revoked(revoked)
        await self.scoring.on_revoked(revoked)
        await self.alert_stage.on_revoked(revoked)

    async def save_dirty(self) -> None:
        await self.cap_stage.save_dirty()
        await self.identity_stage.save_dirty()
        await self.scoring.save_dirty()
        await self.alert_stage.save()


def register(
    app: Any,
    settings: Settings,
    config: CityConfig,
    checkpoints: CheckpointStore,
    alert_checkpoints: CheckpointStore,
    identity_checkpoints: CheckpointStore,
    metrics: WorkerMetrics,
    cap_checkpoints: CheckpointStore,
) -> Worker:
    """Add riskmon's agents and timers to ``app``; returns the shared :class:`Worker`."""
    worker = Worker(
        app,
        settings,
        config,
        checkpoints,
        alert_checkpoints,
        identity_checkpoints,
        metrics,
        cap_checkpoints,
    )
    app.resume_positions = worker.resume_positions
    register_complaints(app, worker, settings)  # riskmon.complaints (stateless)
    take = (settings.batch_max, settings.batch_within_s)
    sizes = metrics.batch_records

    @app.agent(worker.inputs, name="riskmon.ingest")  # type: ignore[untyped-decorator]
    async def ingest_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            sizes.labels("ingest").observe(len(events))
            await worker.ingest_batch(events)

    @app.agent(worker.identity, name="riskmon.identity")  # type: ignore[untyped-decorator]
    async def identity_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            sizes.labels("identity").observe(len(events))
            records = raw_records(events)
            await worker.identity_stage.batch(records, utcnow(), worker.ownership, worker.send_dead)

    @app.agent(worker.cap, name="riskmon.cap")  # type: ignore[untyped-decorator]
    async def cap_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            sizes.labels("cap").observe(len(events))
            records = raw_records(events)
            await worker.cap_stage.batch(records, utcnow(), worker.ownership, worker.send_dead)

    @app.agent(worker.located, name="riskmon.score")  # type: ignore[untyped-decorator]
    async def score_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            sizes.labels("score").observe(len(events))
            records = raw_records(events)
            await worker.scoring.batch(records, utcnow(), worker.ownership, worker.send_dead)

    @app.agent(worker.alert_stage.stream, name="riskmon.alerts")  # type: ignore[untyped-decorator]
    async def alert_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            sizes.labels("alerts").observe(len(events))
            await worker.alert_stage.batch(events, utcnow(), worker.ownership, worker.send_dead)

    @app.timer(interval=settings.tick_interval_s)  # type: ignore[untyped-decorator]
    async def tick_timer() -> None:
        await worker.cap_stage.tick(utcnow())
        await worker.identity_stage.tick(utcnow())
        await worker.scoring.tick(utcnow())
        await worker.alert_stage.tick(utcnow())

    if settings.handoff:

        @app.timer(interval=settings.handoff_recheck_s)  # type: ignore[untyped-decorator]
        async def recheck_timer() -> None:
            await worker.recheck_reads()

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
        await worker.drain_lanes()
        await worker.save_dirty()
        await worker.alert_lane.close()

    return worker
