"""Scenario 2: two workers, one joining and one killed, while PostgreSQL is down.

PostgreSQL is an embedded server this scenario owns. Worker A and the sink run; a paced stream
flows. PostgreSQL is stopped; during the outage worker B is started (it joins A's consumer group,
a rebalance) and, a third of the way into the outage, A is SIGKILLed (B must take every
partition; A is not restarted, as when its machine is lost). A supervisor restarts any process
that exits by itself (a worker starting without PostgreSQL waits 30 s, then exits with status 3,
as documented). After ``down_s`` PostgreSQL is started again.

Reported: score updates published during the outage, recovery (PostgreSQL back -> first score
update), exits of B, and the usual checks against the offline scorer and the history.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Result, progress
from streams.ops.embedded import EmbeddedPostgres

from .flow import Run
from .rig import fault_settings, fresh_database, rig, wait_until
from .s1_worker_kills import send_paced
from .stream import mixed_stream


@dataclass(frozen=True)
class Sizes:
    events: int
    down_s: float
    seed: int = 2


FULL = Sizes(events=20_000, down_s=60.0)
SHORT = Sizes(events=3_000, down_s=20.0)


async def _run(sizes: Sizes, workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        postgres = await asyncio.to_thread(servers.start_postgres)
        dsn = await fresh_database(postgres.dsn)
        settings = fault_settings(broker.bootstrap, dsn, workdir / "data")
        run = Run("workers_and_pg_outage", servers, settings)
        try:
            await run.setup()
            assert run.observer is not None
            records = mixed_stream(run.config, sizes.events, sizes.seed, datetime.now(UTC))
            one = servers.child("worker-a", "worker", settings)
            two = servers.child("worker-b", "worker", settings)
            sink = servers.child("sink", "sink", settings)
            one.start()
            sink.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            # The stream spans the outage and a while after it.
            send_s = sizes.down_s * 1.5 + 10
            sender = asyncio.create_task(send_paced(run, records, send_s))
            await wait_until(lambda: len(run.sent) >= len(records) // 5, send_s)
            await asyncio.to_thread(postgres.stop)
            down_at = time.monotonic()
            progress(f"workers_and_pg_outage: PostgreSQL stopped after {len(run.sent)} sent")
            two.start()
            await asyncio.sleep(sizes.down_s / 3)  # the fault's moment, not a synchronisation
            one.kill()
            progress("workers_and_pg_outage: worker A killed")
            await asyncio.sleep(max(0.0, down_at + sizes.down_s - time.monotonic()))
            postgres = await asyncio.to_thread(EmbeddedPostgres.start, postgres.pgdata)
            servers.postgres = postgres
            back_at = time.monotonic()
            during = sum(1 for t, _ in run.observer.updates if down_at < t < back_at)
            run.recoveries.append(await run.wait_scores_flow(back_at))
            await sender
            figures = await run.finish()
            if None in run.recoveries:
                figures.failures.append(
                    "no score update within 180 s of PostgreSQL coming back: recovery_s "
                    + str(run.recoveries)
                )
            log_b = two.log_text()
            return run.result(
                figures,
                pg_down_s=round(back_at - down_at, 1),
                score_updates_during_outage=during,
                worker_b_starts=two.starts,
                worker_b_exit_codes=two.exits,
                worker_b_checkpoint_load_retries=log_b.count("checkpoint load retry"),
                worker_a_checkpoint_failures=one.log_text().count("checkpoint failed"),
            )
        finally:
            await run.close()
            servers.close()


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(SHORT if short else FULL, workdir))
