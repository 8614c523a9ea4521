"""The alert stage (I/O shell): riskmon.alert-input + riskmon.alert-acks -> riskmon.alerts and
riskmon.alert-ack-results (the decision on every acknowledgement).

Both inputs have one partition, so one worker holds the whole city's alert state
(:class:`streams.pipeline.alerting.CityAlerts`), checkpointed like scoring: state and the next
offset of each input together, restored on assignment, resumed at the checkpoint's offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence, Set
from datetime import datetime
from typing import Any

from faust.types import TP
from pydantic import ValidationError

from streams.contract import AckResult, Alert, AlertAck, DeadLetter, ScoreUpdate
from streams.contract.base import read_internal
from streams.contract.deadletters import RawRecord, dead_letter
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore, CheckpointUnavailable
from streams.pipeline.alerting import AlertingContext, CityAlerts
from streams.settings import Settings
from streams.worker.delivery import Delivery, Outgoing
from streams.worker.handoff import Reads, take
from streams.worker.outage import SaveOutage
from streams.worker.ownership import Ownership

log = logging.getLogger("riskmon.alerts")


class AlertStage:
    """Owns :class:`CityAlerts` while partition 0 of the alert inputs is assigned here."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        ctx: AlertingContext,
        checkpoints: CheckpointStore,
        metrics: WorkerMetrics,
        delivery: Delivery,
    ) -> None:
        topics = settings.topics
        raw = {"value_serializer": "raw", "key_serializer": "raw"}
        self.stream = app.topic(topics.alert_input, topics.alert_acks, partitions=1, **raw)
        self.alerts = app.topic(topics.alerts, partitions=settings.partitions, **raw)
        self.ack_results = app.topic(topics.ack_results, partitions=settings.partitions, **raw)
        self.app = app
        self.topics = topics
        self.ctx = ctx
        self.checkpoints = checkpoints
        self.metrics = metrics
        self.state: CityAlerts | None = None
        self.dirty = False
        self.outage = SaveOutage()
        self.delivery = delivery
        self._restoring = asyncio.Lock()
        # Held while the state changed and its outputs are not confirmed: no checkpoint then.
        self._progress = asyncio.Lock()

    def owns(self, tp: TP) -> bool:
        return tp.topic in (self.topics.alert_input, self.topics.alert_acks)

    def owned(self, ownership: Ownership) -> bool:
        """Whether a batch may be applied here: the state is held, or the alert input is granted
        (and restored on first use). Revoked while the batch waited, it is neither: the new owner
        reads the records from the checkpoint saved at the revocation."""
        return self.state is not None or ownership.holds(self.topics.alert_input, 0)

    def resume_positions(self, assignment: Set[TP]) -> dict[TP, int]:
        if self.state is None:
            return {}
        return {tp: self.state.next_offsets.get(tp.topic, 0) for tp in assignment if self.owns(tp)}

    async def restore(self) -> CityAlerts:
        """Load the checkpoint and read on from its offsets; once per assignment (the
        assignment handler and a first batch may both ask)."""
        async with self._restoring:
            if self.state is not None:
                return self.state
            return await self._restore()

    async def _restore(self) -> CityAlerts:
        data = await self.checkpoints.load(0)
        self.state = CityAlerts.from_checkpoint(data) if data else CityAlerts()
        merged = self.state.close_merged(self.ctx, datetime.now().astimezone())
        if merged:  # an older checkpoint's alerts that are one alert now
            self.dirty = True
            await self.publish(merged)
        for topic in (self.topics.alert_input, self.topics.alert_acks):
            await self.app.consumer.seek(TP(topic, 0), self.state.next_offsets.get(topic, 0))
        log.info(
            "alert state restored open=%s from=%s",
            len(self.state.engine.open_alerts()),
            "checkpoint" if data else "beginning",
        )
        return self.state

    async def on_assigned(self, assigned: Set[TP]) -> None:
        if any(tp.topic == self.topics.alert_input for tp in assigned):
            await self.restore()

    async def on_revoked(self, revoked: Set[TP]) -> None:
        if any(tp.topic == self.topics.alert_input for tp in revoked):
            await self.release()

    async def release(self) -> None:
        if self.state is None:
            return
        await self.save()
        log.info(
            "alert state released open=%s checkpoint=%s",
            len(self.state.engine.open_alerts()),
            "failed" if self.dirty else "saved",
        )
        self.state = None

    async def batch(
        self,
        events: Sequence[Any],
        now: datetime,
        ownership: Ownership,
        dead: Callable[[Sequence[DeadLetter]], Awaitable[None]],
    ) -> None:
        """Apply a batch of score updates and acknowledgements; publish the alert changes, the
        decisions and the dead letters, and return once the broker confirmed them all."""
        if not self.owned(ownership):
            self.metrics.not_owned.labels(self.topics.alert_input).inc(len(events))
            return
        async with self._progress:
            state = self.state or await self.restore()
            out: list[Alert] = []
            results: list[AckResult] = []
            letters: list[DeadLetter] = []
            read_again = 0
            for event in events:
                msg = event.message
                if not state.fresh(msg.topic, msg.offset):
                    read_again += 1  # applied by hand-off, or before a restart
                    continue
                self.dirty = True
                raw = RawRecord(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
                try:
                    if msg.topic == self.topics.alert_acks:
                        ack = read_internal(AlertAck, msg.value or b"")
                        changed, result = state.acknowledge(ack, self.ctx, now)
                        out.extend(changed)
                        results.append(result)
                        if result.reason is not None:
                            letters.append(dead_letter(raw, "ack_rejected", result.reason, now))
                    else:
                        update = read_internal(ScoreUpdate, msg.value or b"")
                        out.extend(state.observe(update, self.ctx, now))
                except ValidationError as exc:
                    reason = f"not a valid {msg.topic} record: {exc}"
                    letters.append(dead_letter(raw, "schema", reason, now))
            if read_again:
                self.metrics.handoff.labels("alerts", "read_again").inc(read_again)
            outgoing = self._alert_records(out)
            for result in results:  # after the alerts: "applied" follows the acknowledged alert
                self.metrics.ack_results.labels(result.outcome, result.code or "").inc()
                log.info(
                    "ack id=%s alert=%s who=%s outcome=%s code=%s",
                    result.ack_id,
                    result.alert_id,
                    result.who,
                    result.outcome,
                    result.code,
                )
                outgoing.append(
                    Outgoing(
                        self.ack_results,
                        result.district.encode(),
                        result.model_dump_json().encode(),
                        "ack_result",
                    )
                )
            await self.delivery.confirm(outgoing)
            if letters:
                await dead(letters)

    def next_offset(self) -> int | None:
        """The next offset of the alert input the state held here stands at (None: not held)."""
        return (
            None if self.state is None else self.state.next_offsets.get(self.topics.alert_input, 0)
        )

    async def handoff(self, placed: Sequence[tuple[int, ScoreUpdate]], now: datetime) -> Reads:
        """Observe score updates the broker confirmed on the alert input (partition 0, as
        (offset, update)) without reading them back, when the state held here continues at
        their offset (:func:`~streams.worker.handoff.contiguous`); the rest is left to the
        topic. Publishes the alert changes, confirmed. Returns what that means for reading the
        alert input (see :data:`~streams.worker.handoff.Reads`)."""
        topic = self.topics.alert_input
        async with self._progress:
            state = self.state
            counter = self.metrics.handoff_counter("alerts")
            if state is None:
                take(None, placed, counter)  # not held here: left to the topic
                return {}
            took = take(state.next_offsets.get(topic, 0), placed, counter)
            if took:
                self.dirty = True
                out: list[Alert] = []
                for offset, update in took:
                    state.fresh(topic, offset)
                    out.extend(state.observe(update, self.ctx, now))
                await self.publish(out)
            if not placed:
                return {}
            return {0: (state.next_offsets.get(topic, 0), placed[-1][0] + 1)}

    async def tick(self, now: datetime) -> None:
        async with self._progress:
            if self.state is not None:
                changes = self.state.tick(self.ctx, now)
                if changes:
                    self.dirty = True
                await self.publish(changes)

    async def publish(self, alerts: Sequence[Alert]) -> None:
        """Publish ``alerts`` and wait until the broker has them."""
        await self.delivery.confirm(self._alert_records(alerts))

    def _alert_records(self, alerts: Sequence[Alert]) -> list[Outgoing]:
        records: list[Outgoing] = []
        for alert in alerts:
            self.metrics.alerts.labels(alert.change).inc()
            log.info(
                "alert id=%s change=%s state=%s severity=%s value=%.2f",
                alert.id,
                alert.change,
                alert.state,
                alert.severity,
                alert.value,
            )
            records.append(
                Outgoing(
                    self.alerts, alert.district.encode(), alert.model_dump_json().encode(), "alert"
                )
            )
        return records

    async def save(self) -> None:
        if self.state is None or not self.dirty:
            return
        async with self._progress:  # no batch half-published: its outputs are all confirmed
            state = self.state
            if state is None:  # released while this save waited
                return
            snapshot = state.to_checkpoint()  # consistent with its offsets
            snapshot["next_offset"] = state.next_offsets.get(self.topics.alert_input, 0)
            self.dirty = False
        try:
            await self.checkpoints.save(0, snapshot, datetime.now().astimezone())
        # PostgreSQL down: alerting goes on; retry on the next timer (a SQL bug propagates).
        except CheckpointUnavailable as exc:
            self.dirty = True
            self.metrics.checkpoint_failures.inc()
            self.outage = self.outage.failed(datetime.now().astimezone())
            if self.outage.log_failure:  # once per outage; the metric counts every attempt
                log.warning("alert checkpoint failed error=%r: alerting goes on", exc)
            return
        if self.outage.failing:
            log.info("alert checkpoint saved again failures=%s", self.outage.failures)
        self.outage = SaveOutage()
