"""The complaints stage: ``riskmon.complaints`` -> :func:`streams.pipeline.complaints.translate`
-> the derived safety facts on ``riskmon.safety`` (scored like any fact: ingest, identity,
scoring), the located complaint on ``riskmon.complaints-located`` (the sink stores it) and the
refused ones on ``riskmon.deadletter``.

Stateless: every record is translated on its own, so there is nothing to checkpoint. Faust
acknowledges a batch's offsets when :meth:`ComplaintsStage.batch` returns, which is after the
broker confirmed every output of it (:class:`~streams.worker.delivery.Delivery`); a crash in
between sends some outputs again, which every consumer counts once (facts by (source, id),
complaints by (source, id) and their newest ``updated_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from streams.city.map import CityMap
from streams.contract import DeadLetter
from streams.contract.deadletters import RawRecord
from streams.pipeline.complaints import translate
from streams.settings import Settings
from streams.worker.batches import take_batches
from streams.worker.delivery import Delivery, Outgoing
from streams.worker.outage import utcnow

__all__ = ["ComplaintsStage", "register_complaints"]

log = logging.getLogger("riskmon.worker")


class ComplaintsStage:
    """Reads ``riskmon.complaints``; sends facts, located complaints and dead letters."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        city: CityMap,
        delivery: Delivery,
        dead_out: Callable[[DeadLetter], Outgoing],
    ) -> None:
        topics = settings.topics
        raw = {
            "value_serializer": "raw",
            "key_serializer": "raw",
            "partitions": settings.partitions,
        }
        self.topic = app.topic(topics.complaints, **raw)
        self.safety = app.topic(topics.safety, **raw)
        self.located = app.topic(topics.complaints_located, **raw)
        self.city = city
        self.max_future = timedelta(seconds=settings.max_future_s)
        self.delivery = delivery
        self.dead_out = dead_out

    def outputs(self, records: Sequence[RawRecord], now: datetime) -> list[Outgoing]:
        """What to publish for ``records`` (pure apart from the dead-letter counter)."""
        out: list[Outgoing] = []
        for raw in records:
            result = translate(raw, self.city, now, self.max_future)
            if isinstance(result, DeadLetter):
                out.append(self.dead_out(result))
                continue
            complaint = result.located.complaint
            for fact in result.facts:
                out.append(
                    Outgoing(
                        self.safety,
                        fact.facility_id.encode(),  # as agencies key facts: by facility
                        fact.model_dump_json(exclude_none=True).encode(),
                        "complaint_fact",
                    )
                )
            out.append(
                Outgoing(
                    self.located,
                    complaint.key.encode(),
                    result.located.model_dump_json().encode(),
                    "complaint",
                )
            )
        return out

    async def batch(self, records: Sequence[RawRecord], now: datetime) -> None:
        """Translate a batch and return once the broker confirmed every output of it."""
        out = self.outputs(records, now)
        await self.delivery.confirm(out)
        log.debug("complaints batch records=%d outputs=%d", len(records), len(out))


def register_complaints(app: Any, worker: Any, settings: Settings) -> ComplaintsStage:
    """Add the complaints agent to ``app``; ``worker`` is the shared
    :class:`streams.worker.agents.Worker` (its delivery and dead-letter records)."""
    stage = ComplaintsStage(app, settings, worker.city, worker.delivery, worker.dead_out)
    take = (settings.batch_max, settings.batch_within_s)

    @app.agent(stage.topic, name="riskmon.complaints")  # type: ignore[untyped-decorator]
    async def complaints_agent(stream: Any) -> None:
        async for events in take_batches(stream, *take):
            records = [
                RawRecord(e.message.topic, e.message.partition, e.message.offset,
                          e.message.key, e.message.value)
                for e in events
            ]  # fmt: skip
            await stage.batch(records, utcnow())

    return stage
