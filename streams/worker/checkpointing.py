"""Saving a stage's checkpoints through a PostgreSQL outage: one class for the scoring and
identity stages, so they fail, count, log and recover alike."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from streams.contract import DeadLetter
from streams.contract.deadletters import RawRecord, dead_letter
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import CheckpointStore, CheckpointUnavailable
from streams.pipeline.scoring import Conflict
from streams.worker.outage import SaveOutage, utcnow

log = logging.getLogger("riskmon.worker")


class CheckpointWriter:
    """Saves checkpoints to ``store``; a save that fails because PostgreSQL cannot be reached
    returns False (the caller keeps the partition dirty; the next interval retries), is counted
    each time and logged once per outage, its end logged once by :meth:`recovered`. Any other
    error (a SQL bug) propagates and stops the worker loudly."""

    def __init__(
        self, store: CheckpointStore, metrics: WorkerMetrics, what: str, interval_s: float
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.prefix = f"{what} " if what else ""
        self.interval_s = interval_s
        self.outage = SaveOutage()

    async def save(self, partition: int, state: Mapping[str, Any]) -> bool:
        try:
            await self.store.save(partition, state, utcnow())
        except CheckpointUnavailable as exc:
            self.metrics.checkpoint_failures.inc()
            self.outage = self.outage.failed(utcnow())
            if self.outage.log_failure:  # once per outage; the metric counts every attempt
                log.warning(
                    "%scheckpoint failed partition=%s error=%r: the stage goes on, retrying "
                    "every %.1f s",
                    self.prefix,
                    partition,
                    exc,
                    self.interval_s,
                )
            return False
        self.metrics.checkpoints.inc()
        return True

    def recovered(self, saved: int) -> None:
        """After a round of ``saved`` successful saves: the end of an outage, logged once."""
        if self.outage.failing and saved:
            log.info(
                "%scheckpoints saved again partitions=%s failures=%s after_s=%.0f",
                self.prefix,
                saved,
                self.outage.failures,
                self.outage.seconds(utcnow()),
            )
            self.outage = SaveOutage()


def conflict_letters(
    topic: str, partition: int, conflicts: Iterable[Conflict], now: datetime
) -> list[DeadLetter]:
    """A dead letter for each event of ``topic``/``partition`` a stage refused."""
    return [
        dead_letter(
            RawRecord(
                topic,
                partition,
                conflict.offset,
                conflict.event.district.encode(),
                conflict.event.model_dump_json().encode(),
            ),
            conflict.error,
            conflict.reason,
            now,
        )
        for conflict in conflicts
    ]
