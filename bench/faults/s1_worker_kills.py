"""Scenario 1: ``kill -9`` the worker at random (seeded) moments of a mixed stream.

The stream (incidents, readings of the city's sensors, safety facts; ~5 % incidents re-sent) is
sent at a steady pace that spans the kill schedule; each SIGKILL is followed at once by a new
worker. The sink runs throughout. Recovery of a kill: from the kill to the first ``recovered``
score update of the new worker (None when it was killed again before that).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Result, progress

from .flow import Run
from .rig import drop_database, fault_settings, fresh_database, rig, shared_server_dsn
from .stream import Publisher, Record, mixed_stream


@dataclass(frozen=True)
class Sizes:
    events: int
    kills: int
    gap_s: tuple[float, float]  # time between kills: uniform in this range
    seed: int = 1


FULL = Sizes(events=20_000, kills=10, gap_s=(4.0, 20.0))
SHORT = Sizes(events=3_000, kills=2, gap_s=(4.0, 12.0))


async def send_paced(run: Run, records: list[Record], duration_s: float, chunk: int = 100) -> None:
    """Send ``records`` in chunks spread evenly over ``duration_s`` (a pace, not a wait)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
    async with Publisher(run.settings) as publisher:
        for n, part in enumerate(chunks):
            slot = start + duration_s * n / len(chunks)
            await asyncio.sleep(max(0.0, slot - loop.time()))
            await run.send(publisher, part)


async def _run(sizes: Sizes, workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        server = await shared_server_dsn(servers)
        dsn = await fresh_database(server)
        run = Run("worker_kills", servers, fault_settings(broker.bootstrap, dsn, workdir / "data"))
        try:
            await run.setup()
            rng = random.Random(sizes.seed)
            gaps = [rng.uniform(*sizes.gap_s) for _ in range(sizes.kills)]
            records = mixed_stream(run.config, sizes.events, sizes.seed, datetime.now(UTC))
            worker = servers.child("worker", "worker", run.settings)
            sink = servers.child("sink", "sink", run.settings)
            worker.start()
            sink.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            sender = asyncio.create_task(send_paced(run, records, sum(gaps) + 2.0))
            kills: list[tuple[float, int]] = []
            for n, gap in enumerate(gaps, 1):
                await asyncio.sleep(gap)  # the fault's moment (seeded), not a synchronisation
                worker.kill()
                kills.append((time.monotonic(), len(run.sent)))
                progress(f"worker_kills: kill {n}/{sizes.kills} after {len(run.sent)} sent")
                worker.start()
            await sender
            figures = await run.finish()
            assert run.observer is not None
            ends = [k[0] for k in kills[1:]] + [float("inf")]
            for (killed, _), next_kill in zip(kills, ends, strict=True):
                # the new worker's first update: it publishes every district as `recovered`
                arrived = run.observer.first_update_after(killed, "recovered")
                run.recoveries.append(
                    round(arrived - killed, 2)
                    if arrived is not None and arrived < next_kill
                    else None
                )
            return run.result(
                figures,
                kills=len(kills),
                sent_at_each_kill=[k[1] for k in kills],
                recovered_from_checkpoint=worker.log_text().count("from=checkpoint"),
                worker_starts=worker.starts,
            )
        finally:
            await run.close()
            servers.close()
            await drop_database(server, dsn)


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(SHORT if short else FULL, workdir))
