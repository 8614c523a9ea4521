"""``riskmon db rebuild-checkpoints``: the explicit way through a model or district change.

A worker refuses a checkpoint saved under another model or for other districts
(:class:`~streams.worker.scoring_stage.CheckpointMismatch`). This recomputes every located
partition's state under the current configuration from the stored history instead of the Kafka
log (which, on Apache Kafka, no longer holds safety facts older than its retention; the history
keeps each facility's newest fact): every stored event of the partition's districts in the
current stream epoch is applied (the index state does not depend on the order of application:
sums of decaying marks, newest reading and fact by their own time), and the partition resumes
reading the log after the newest event the sink stored for it. The checkpoints replaced are
archived in ``checkpoint_archive`` by the save itself.

Stop the workers first (and let the sink catch up: events the sink has not stored yet are read
from the log by the worker after the rebuild, so nothing is lost either way).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.city.config import CityConfig
from streams.contract import LocatedEvent
from streams.persistence import db
from streams.persistence.checkpoints import save_checkpoint
from streams.persistence.reads import located_of
from streams.pipeline.scoring import (
    DistrictSlot,
    PartitionScorer,
    ScoringContext,
    model_fingerprint,
    to_model_event,
)
from streams.settings import Settings

log = logging.getLogger("riskmon.replay")


@dataclass(frozen=True)
class Rebuilt:
    """One partition's rebuilt state and what went into it."""

    partition: int
    scorer: PartitionScorer
    events: int
    outcomes: dict[str, int]


def rebuild_partition(
    partition: int,
    codes: Sequence[str],
    events: Iterable[LocatedEvent],
    next_offset: int,
    ctx: ScoringContext,
) -> Rebuilt:
    """The state of ``partition`` (its districts ``codes``) after ``events``, resuming the log
    at ``next_offset``. Events of other districts are left out (counted as ``other_district``)."""
    scorer = PartitionScorer(partition, codes, next_offset)
    outcomes: dict[str, int] = {}
    count = 0
    for located in events:
        slot: DistrictSlot | None = scorer.slots.get(located.district)
        if slot is None:
            outcomes["other_district"] = outcomes.get("other_district", 0) + 1
            continue
        count += 1
        result = slot.state.apply(to_model_event(located.event), ctx.params)
        outcomes[result] = outcomes.get(result, 0) + 1
    return Rebuilt(partition, scorer, count, outcomes)


async def rebuild_checkpoints(
    settings: Settings, config: CityConfig, *, now: datetime | None = None
) -> list[Rebuilt]:
    """Rebuild and save every located partition's checkpoint from the stored history."""
    now = now or datetime.now(UTC)
    ctx = ScoringContext(config.city.model_districts(), config.params)
    fingerprint = model_fingerprint(config.params)
    conn = await db.connect(settings.require_pg_dsn())
    rebuilt: list[Rebuilt] = []
    try:
        epoch = await db.current_epoch(conn)
        for partition in range(settings.partitions):
            codes = config.city.codes_of_partition(partition, settings.partitions)
            newest = await conn.fetchval(
                "SELECT max(log_offset) FROM events WHERE epoch = $1 AND log_partition = $2",
                epoch,
                partition,
            )
            rows = await conn.fetch(
                """SELECT kind, district, h3, received_at, origin, payload FROM events
                   WHERE epoch = $1 AND district = ANY($2::text[])
                   ORDER BY received_at, kind, source, event_id""",
                epoch,
                list(codes),
            )
            next_offset = 0 if newest is None else int(newest) + 1
            located = (located_of(row) for row in rows)
            result = rebuild_partition(partition, codes, located, next_offset, ctx)
            async with conn.transaction():
                await save_checkpoint(
                    conn,
                    settings.app_id,
                    settings.topics.located,
                    partition,
                    result.scorer.to_checkpoint(fingerprint),
                    now,
                )
            log.info(
                "checkpoint rebuilt partition=%s districts=%s events=%s next_offset=%s outcomes=%s",
                partition,
                len(codes),
                result.events,
                result.scorer.next_offset,
                result.outcomes,
            )
            rebuilt.append(result)
    finally:
        await conn.close()
    return rebuilt
