"""Scenario 4: the history sink killed mid-batch, then PostgreSQL restarted under the new sink.

PostgreSQL is an embedded server this scenario owns (never the machine's shared one). While a
paced stream flows, the sink is SIGKILLed as soon as it is writing (events rows growing but
behind what was sent), and started again at once; while the new sink catches up, PostgreSQL is
stopped (fast shutdown), left down for ``down_s``, and started again. The worker keeps scoring.

Recovery figures: from the sink restart and from PostgreSQL back until every event sent so far
is stored.
Checked: every valid event, dead letter and published score update is in the history exactly
once, and the scores equal the offline scorer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import Result, progress
from streams.ops.embedded import EmbeddedPostgres

from .flow import Run
from .rig import fault_settings, fresh_database, rig, wait_until
from .s1_worker_kills import send_paced
from .stream import mixed_stream


@dataclass(frozen=True)
class Sizes:
    events: int
    send_s: float
    down_s: float
    wait_s: float  # how long each recovery may take before the run is failed
    seed: int = 4


FULL = Sizes(events=20_000, send_s=90.0, down_s=30.0, wait_s=180.0)
SHORT = Sizes(events=3_000, send_s=20.0, down_s=10.0, wait_s=60.0)


async def event_rows(dsn: str) -> int | None:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events"))
    except (OSError, asyncpg.PostgresError):
        return None
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


async def _at_least(rows: Awaitable[int | None], n: int) -> bool:
    value = await rows
    return value is not None and value >= n


async def sink_writing(dsn: str) -> bool:
    """Whether a backend of this database is inside a transaction writing history rows."""
    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        found = await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND xact_start IS NOT NULL
                 AND query ~* '^\\s*INSERT INTO (events|score_updates|score_points|dead_letters)'"""
        )
    finally:
        await conn.close()
    return bool(found)


async def rows_reach(dsn: str, start: float, target: int, within: float) -> float | None:
    """Seconds from ``start`` until the events table holds at least ``target`` rows."""
    if await wait_until(lambda: _at_least(event_rows(dsn), target), within, 0.2):
        return round(time.monotonic() - start, 2)
    return None


async def _run(sizes: Sizes, workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        postgres = await asyncio.to_thread(servers.start_postgres)
        dsn = await fresh_database(postgres.dsn)
        run = Run(
            "sink_and_pg_restart", servers, fault_settings(broker.bootstrap, dsn, workdir / "data")
        )
        try:
            run.catch_up_s = sizes.wait_s * 1.5
            await run.setup()
            records = mixed_stream(run.config, sizes.events, sizes.seed, datetime.now(UTC))
            worker = servers.child("worker", "worker", run.settings)
            sink = servers.child("sink", "sink", run.settings)
            worker.start()
            sink.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            sender = asyncio.create_task(send_paced(run, records, sizes.send_s))

            # Kill it inside a write: poll PostgreSQL until a history INSERT is in an open
            # transaction, after a fifth of the stream is stored.
            await wait_until(
                lambda: _at_least(event_rows(dsn), len(records) // 5), sizes.send_s * 3, 0.1
            )
            mid_batch = await wait_until(lambda: sink_writing(dsn), 60, 0.005)
            rows_at_kill = await event_rows(dsn)
            sink.kill()
            progress(
                f"sink_and_pg_restart: sink killed at {rows_at_kill} rows, {len(run.sent)} sent"
            )
            sink.start()
            restarted = time.monotonic()
            assert run.expected is not None
            expected = run.expected
            # recovered: the new sink has stored every event sent before the kill
            run.recoveries.append(
                await rows_reach(dsn, restarted, len(expected.event_keys), sizes.wait_s)
            )
            await asyncio.to_thread(postgres.stop)
            down_at = time.monotonic()
            progress("sink_and_pg_restart: PostgreSQL stopped")
            await asyncio.sleep(sizes.down_s)  # the outage's length: part of the fault
            postgres = await asyncio.to_thread(EmbeddedPostgres.start, postgres.pgdata)
            servers.postgres = postgres
            back_at = time.monotonic()
            # recovered: every event sent while PostgreSQL was down is stored
            run.recoveries.append(
                await rows_reach(dsn, back_at, len(expected.event_keys), sizes.wait_s)
            )
            await sender
            figures = await run.finish()
            if None in run.recoveries:
                figures.failures.append(
                    "history incomplete for too long after a restart: recovery_s "
                    + str(run.recoveries)
                )
            log = sink.log_text()
            return run.result(
                figures,
                rows_at_kill=rows_at_kill,
                killed_inside_a_write_transaction=mid_batch,
                pg_down_s=round(back_at - down_at, 1),
                recovery_meaning="[sink restart, PostgreSQL back] -> events sent so far all stored",
                sink_starts=sink.starts,
                sink_log_errors=sum(1 for line in log.splitlines() if "level=ERROR" in line),
                worker_checkpoint_failures=worker.log_text().count("checkpoint failed"),
            )
        finally:
            await run.close()
            servers.close()


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(SHORT if short else FULL, workdir))
