"""Replay: recompute score history from stored events, as a series of its own.

Two timelines:

* ``live`` (default): at every instant the live series published in [from, to), with exactly the
  events the worker had applied then (those read from ``riskmon.located`` below the update's
  ``basis`` offset, in log order, within the same stream epoch). With the live model this
  reproduces the live history bit for bit; with another model it answers "what would the new model
  have shown at the same moments, knowing the same events?".
* ``every=S`` (backfill): a grid every S seconds over [from, to), each instant with the events
  received by then, in the order they were received; for ranges the live worker never scored.

The core (:func:`replay_district`) is pure; :func:`run_replay` reads and writes PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from indices import MODEL_VERSION, District, DistrictState, ModelParams
from streams.contract import Basis, LocatedEvent, ScoreUpdate
from streams.persistence import db, writes
from streams.persistence.reads import located_of
from streams.pipeline.scoring import (
    Published,
    Reason,
    make_update,
    model_fingerprint,
    to_model_event,
)

log = logging.getLogger("riskmon.replay")

LIVE = "live"
CHUNK = 2000  # updates per write


@dataclass(frozen=True)
class Instant:
    """A moment to evaluate at, with the events known then: those whose order key is below
    ``cutoff``."""

    as_of: datetime
    seq: int
    reason: Reason
    cutoff: tuple[Any, ...]
    basis: Basis | None


@dataclass(frozen=True)
class Ordered:
    """A stored event with its position in the order the worker applied it."""

    key: tuple[Any, ...]
    event: LocatedEvent


def replay_district(
    district: District,
    params: ModelParams,
    events: Sequence[Ordered],
    instants: Sequence[Instant],
    model_version: str,
) -> Iterator[ScoreUpdate]:
    """The updates a worker would have published at ``instants`` (in order), starting from an
    empty state and applying ``events`` (sorted by key) as each instant's cutoff admits them.

    A cutoff below what was applied already (the worker restarted from an older checkpoint)
    rebuilds the state from the start, so each update reflects exactly its own events.
    """
    state = DistrictState.new()
    last: Published | None = None
    i = 0
    for instant in instants:
        if i and instant.cutoff <= events[i - 1].key:
            # The live worker went back in its log (restarted from a checkpoint older than what
            # it had published): rebuild the state as it was then.
            state, i = DistrictState.new(), 0
        applied = []
        while i < len(events) and events[i].key < instant.cutoff:
            event = to_model_event(events[i].event.event)
            if state.apply(event, params) == "applied":
                applied.append(event)
            i += 1
        update, last = make_update(
            district,
            state,
            params,
            instant.as_of,
            reason=instant.reason,
            events=applied,
            last=last,
            seq=instant.seq,
            basis=instant.basis,
            model_version=model_version,
        )
        yield update


def default_model_version(params: ModelParams) -> str:
    """The model code version and a digest of its parameters (``riskmon-index/0.2+1a2b3c4d``)."""
    return f"{MODEL_VERSION}+{model_fingerprint(params)[:8]}"


@dataclass(frozen=True)
class ReplayPlan:
    series: str
    model_version: str
    start: datetime
    end: datetime
    every: timedelta | None


@dataclass
class ReplayReport:
    series: str
    model_version: str
    updates: int = 0
    districts: int = 0
    skipped_instants: int = 0
    events_without_position: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


Progress = Callable[[int, int], None]  # (done, total)


async def _live_jobs(
    conn: db.Connection, plan: ReplayPlan, report: ReplayReport
) -> list[tuple[str, list[Ordered], list[Instant]]]:
    rows = await conn.fetch(
        """SELECT district, seq, as_of, reason, epoch, basis_partition, basis_offset
           FROM score_updates WHERE series = $1 AND as_of >= $2 AND as_of < $3
           ORDER BY district, epoch, seq""",
        LIVE,
        plan.start,
        plan.end,
    )
    groups: dict[tuple[str, int, int], list[Instant]] = {}
    for r in rows:
        if r["epoch"] is None or r["basis_offset"] is None:
            report.skipped_instants += 1  # written before positions were recorded
            continue
        basis = Basis(partition=r["basis_partition"], next_offset=r["basis_offset"])
        groups.setdefault((r["district"], r["epoch"], r["basis_partition"]), []).append(
            Instant(r["as_of"], r["seq"], r["reason"], (r["basis_offset"],), basis)
        )
    jobs = []
    for (code, epoch, partition), instants in groups.items():
        upto = max(i.cutoff[0] for i in instants)
        event_rows = await conn.fetch(
            """SELECT kind, district, h3, received_at, origin, payload, log_offset FROM events
               WHERE epoch = $1 AND log_partition = $2 AND district = $3 AND log_offset < $4
               ORDER BY log_offset""",
            epoch,
            partition,
            code,
            upto,
        )
        events = [Ordered((r["log_offset"],), located_of(r)) for r in event_rows]
        jobs.append((code, events, instants))
    report.events_without_position = await conn.fetchval(
        "SELECT count(*) FROM events WHERE log_offset IS NULL AND received_at < $1", plan.end
    )
    return jobs


async def _grid_jobs(
    conn: db.Connection, plan: ReplayPlan, codes: Sequence[str]
) -> list[tuple[str, list[Ordered], list[Instant]]]:
    assert plan.every is not None
    jobs = []
    for code in codes:
        event_rows = await conn.fetch(
            """SELECT kind, district, h3, received_at, origin, payload, epoch,
                      coalesce(log_offset, -1) AS log_offset
               FROM events WHERE district = $1 AND received_at < $2
               ORDER BY received_at, epoch, log_offset""",
            code,
            plan.end,
        )
        events = [
            Ordered((r["received_at"], r["epoch"], r["log_offset"]), located_of(r))
            for r in event_rows
        ]
        instants = []
        t = plan.start
        while t < plan.end:
            # events received at or before t: key < (t, +inf) holds for received_at <= t
            instants.append(Instant(t, int(t.timestamp() * 1_000_000), "tick", (t, 1 << 62), None))
            t += plan.every
        jobs.append((code, events, instants))
    return jobs


async def run_replay(
    conn: db.Connection,
    districts: dict[str, District],
    params: ModelParams,
    plan: ReplayPlan,
    progress: Progress | None = None,
) -> ReplayReport:
    """Recompute ``plan``'s range and replace series ``plan.series`` there (idempotent)."""
    if plan.series == LIVE:
        raise ValueError("replay never writes the live series; choose another --series")
    report = ReplayReport(plan.series, plan.model_version)
    if plan.every is None:
        jobs = await _live_jobs(conn, plan, report)
    else:
        jobs = await _grid_jobs(conn, plan, sorted(districts))
    jobs = [job for job in jobs if job[0] in districts]
    total = sum(len(instants) for _, _, instants in jobs)
    report.districts = len({code for code, _, _ in jobs})
    async with conn.transaction():
        for table in ("score_updates", "score_points"):
            await conn.execute(
                f"DELETE FROM {table} WHERE series = $1 AND as_of >= $2 AND as_of < $3",
                plan.series,
                plan.start,
                plan.end,
            )
        chunk: list[ScoreUpdate] = []
        for code, events, instants in jobs:
            for update in replay_district(
                districts[code], params, events, instants, plan.model_version
            ):
                chunk.append(update)
                if len(chunk) >= CHUNK:
                    await writes.write_scores(conn, plan.series, None, chunk)
                    report.updates += len(chunk)
                    chunk = []
                    if progress is not None:
                        progress(report.updates, total)
                    await asyncio.sleep(0)
        await writes.write_scores(conn, plan.series, None, chunk)
        report.updates += len(chunk)
        if progress is not None:
            progress(report.updates, total)
    log.info(
        "replay done series=%s updates=%s districts=%s",
        plan.series,
        report.updates,
        report.districts,
    )
    return report
