"""Retention: delete what is past its period and downsample old score history.

Periods come from :class:`~streams.settings.Settings` (``retention_*``). Points older than the raw
period are folded into one row per ``retention_rollup_step_s`` step (the step's last value and
grade, its min, max and point count), which the history API reads like any other point; full score
updates (time travel) are deleted past the raw period, so ``/api/scores?at=`` answers only within
it. Each run is idempotent and works in day-sized transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from streams.metrics import WorkerMetrics
from streams.persistence import db
from streams.settings import Settings

log = logging.getLogger("riskmon.retention")

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cutoffs:
    events: datetime
    raw_history: datetime
    history: datetime
    dead_letters: datetime
    step: timedelta

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> Cutoffs:
        step = timedelta(seconds=settings.retention_rollup_step_s)
        raw = now - timedelta(days=settings.retention_raw_history_days)
        return cls(
            events=now - timedelta(days=settings.retention_events_days),
            raw_history=ORIGIN + ((raw - ORIGIN) // step) * step,  # on a step boundary
            history=now - timedelta(days=settings.retention_history_days),
            dead_letters=now - timedelta(days=settings.retention_dead_letters_days),
            step=step,
        )


@dataclass
class RetentionReport:
    deleted: dict[str, int] = field(default_factory=dict)
    downsampled_points: int = 0
    rollup_rows: int = 0

    def add(self, table: str, count: int) -> None:
        self.deleted[table] = self.deleted.get(table, 0) + count


ROLLUP = """
WITH gone AS (
    DELETE FROM score_points
    WHERE as_of >= $1 AND as_of < $2 AND seq >= 0
    RETURNING series, district, domain, as_of, seq, value, grade, lo, hi, n, model_version
), rolled AS (
    INSERT INTO score_points (series, district, domain, as_of, seq, value, grade, lo, hi, n,
                              model_version)
    SELECT series, district, domain, max(as_of),
           -(extract(epoch FROM date_bin($3::interval, as_of, $4)) * 1000000)::bigint,
           (array_agg(value ORDER BY as_of DESC, seq DESC))[1],
           (array_agg(grade ORDER BY as_of DESC, seq DESC))[1],
           min(lo), max(hi), sum(n)::integer,
           (array_agg(model_version ORDER BY as_of DESC, seq DESC))[1]
    FROM gone
    GROUP BY series, district, domain, date_bin($3::interval, as_of, $4)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM rolled)
"""


# A safety fact that is still its facility's or structure's newest keeps counting in the live
# state however old it is (a hydrant installed two years ago is still there): retention keeps it,
# so that a replay's safety index still equals the live one.
NEWEST_FACT = """kind = 'safety' AND NOT EXISTS (
    SELECT 1 FROM events newer
    WHERE newer.kind = 'safety' AND newer.epoch = events.epoch
      AND newer.district = events.district AND newer.type = events.type
      AND coalesce(newer.payload->>'facility_id', newer.payload->>'structure_id')
        = coalesce(events.payload->>'facility_id', events.payload->>'structure_id')
      AND newer.occurred_at > events.occurred_at)"""


async def _count(conn: asyncpg.Connection, sql: str, *args: object) -> int:
    status: str = await conn.execute(sql, *args)
    return int(status.rsplit(" ", 1)[-1])


async def apply_retention(
    conn: asyncpg.Connection,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    metrics: WorkerMetrics | None = None,
) -> RetentionReport:
    """Delete and downsample as of ``now``; with ``dry_run`` only count what would go."""
    metrics = metrics or WorkerMetrics(process=False)
    cut = Cutoffs.of(settings, now)
    report = RetentionReport()
    deletions = [
        ("events", f"received_at < $1 AND NOT ({NEWEST_FACT})", cut.events),
        ("dead_letters", "failed_at < $1", cut.dead_letters),
        ("score_updates", "as_of < $1", cut.raw_history),
        ("score_points", "as_of < $1", cut.history),
        (
            "alert_changes",
            "id IN (SELECT id FROM alerts WHERE state = 'resolved' AND as_of < $1)",
            cut.history,
        ),
        ("alerts", "state = 'resolved' AND as_of < $1", cut.history),
    ]
    for table, where, moment in deletions:
        if dry_run:
            count = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", moment)
        else:
            count = await _count(conn, f"DELETE FROM {table} WHERE {where}", moment)
            metrics.retention_rows.labels(table, "deleted").inc(count)
        report.add(table, count)
    oldest = await conn.fetchval(
        "SELECT min(as_of) FROM score_points WHERE seq >= 0 AND as_of < $1", cut.raw_history
    )
    if oldest is None:
        return report
    if dry_run:
        report.downsampled_points = await conn.fetchval(
            """SELECT count(*) FROM score_points
               WHERE seq >= 0 AND as_of >= $1 AND as_of < $2""",
            cut.history,
            cut.raw_history,
        )
        return report
    day = timedelta(days=1)
    start = ORIGIN + ((oldest - ORIGIN) // cut.step) * cut.step
    while start < cut.raw_history:
        end = min(start + day, cut.raw_history)
        async with conn.transaction():
            gone, rolled = await conn.fetchrow(ROLLUP, start, end, cut.step, ORIGIN)
        report.downsampled_points += gone
        report.rollup_rows += rolled
        start = end
        await asyncio.sleep(0)
    metrics.retention_rows.labels("score_points", "downsampled").inc(report.downsampled_points)
    return report


async def retention_loop(
    settings: Settings, stop: asyncio.Event, metrics: WorkerMetrics | None = None
) -> None:
    """Apply retention every ``retention_interval_s`` until ``stop``. A transient failure (see
    :func:`~streams.persistence.db.is_transient`) waits for the next run; a permanent one, an
    error in riskmon's SQL, is raised (and stops the sink) instead of failing every hour."""
    while not stop.is_set():
        try:
            conn = await db.connect(settings.require_pg_dsn())
            try:
                report = await apply_retention(conn, settings, datetime.now(UTC), metrics=metrics)
            finally:
                await conn.close()
            log.info(
                "retention applied deleted=%s downsampled=%s rollups=%s",
                json.dumps(report.deleted, sort_keys=True),
                report.downsampled_points,
                report.rollup_rows,
            )
        except db.DATABASE_ERRORS as exc:
            if not db.is_transient(exc):
                log.error("retention failed permanently, not retrying error=%r", exc)
                raise
            log.warning(
                "retention failed, next try in %.0f s error=%r", settings.retention_interval_s, exc
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.retention_interval_s)


def run_retention_cli(settings: Settings, *, dry_run: bool) -> int:
    async def main() -> RetentionReport:
        conn = await db.connect(settings.require_pg_dsn())
        try:
            await db.migrate(conn)
            return await apply_retention(conn, settings, datetime.now(UTC), dry_run=dry_run)
        finally:
            await conn.close()

    report = asyncio.run(main())
    print(json.dumps({"dry_run": dry_run, **report.__dict__}, sort_keys=True))
    return 0
