"""PostgreSQL stopped for 30 s mid-stream: scores keep reaching websocket clients, and once it is
back the sink writes every row it missed (nothing lost, nothing twice)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import websockets

from dashboard_ws.server import Gateway
from streams.contract import WS_SERVER_MESSAGE, Incident, ScoresMessage
from streams.ops.embedded import EmbeddedPostgres
from streams.persistence import db
from streams.persistence.sink import run_sink
from tests.integration.auth import user_headers
from tests.principals import ADMIN

from .harness import WorkerProcess, all_districts_served, eventually, isolated_settings, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 30


def incidents(tag: str, n: int) -> list[Incident]:
    codes = ["4157056000", "4157051500", "4157025000", "4157058000"]
    return [
        Incident(
            id=f"{tag}-{i}",
            source="gimpo-police",
            type="theft",
            severity=2,
            occurred_at=datetime.now(UTC),
            code=codes[i % len(codes)],
        )
        for i in range(n)
    ]


async def event_rows(dsn: str) -> int:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except db.DATABASE_ERRORS:
        return -1
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE kind = 'incident'"))
    finally:
        await conn.close()


async def test_outage_loses_nothing_and_scores_keep_flowing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    postgres = await asyncio.to_thread(EmbeddedPostgres.start, tmp_path / "pg")
    try:
        settings = isolated_settings(kafka_bootstrap, postgres.dsn, tmp_path)
        conn = await db.connect(postgres.dsn)
        await db.migrate(conn)
        await conn.close()
        viewer = await user_headers(settings, "vic", "viewer")
        worker = WorkerProcess(settings, tmp_path / "worker.log")
        worker.start()
        stop_sink = asyncio.Event()
        sink = asyncio.create_task(run_sink(settings, stop_sink))
        try:
            async with Gateway(settings) as gateway:
                url = f"ws://127.0.0.1:{gateway.port}/ws"

                await all_districts_served(url, worker, viewer)
                await produce(settings, settings.topics.incidents, incidents("before", 40))
                await eventually(
                    lambda: _is(event_rows(postgres.dsn), 40), within=30, watch=[worker]
                )

                await asyncio.to_thread(postgres.stop)
                outage_started = asyncio.get_running_loop().time()
                during = incidents("during", 40)
                # a control room reconnecting during the outage: its credentials were seen
                async with websockets.connect(url, max_size=None, additional_headers=viewer) as ws:
                    await ws.recv()  # snapshot
                    await produce(settings, settings.topics.incidents, during)
                    scored: set[str] = set()
                    async with asyncio.timeout(20):
                        while len(scored) < len(during):
                            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
                            if not isinstance(message, ScoresMessage):
                                continue
                            # coalesced: a skipped update's drivers are among the newest
                            # one's contributors
                            for u in message.districts:
                                explained = itertools.chain(u.drivers, *u.contributors.values())
                                scored.update(
                                    d.event_id
                                    for d in explained
                                    if d.event_id.startswith("gimpo-police:during")
                                )
                assert worker.alive, worker.log_tail()
                assert await event_rows(postgres.dsn) == -1, "PostgreSQL should be down"
                # the history API says so, while the websocket above kept delivering
                status, body = await gateway.api.handle("/api/scores", "", ADMIN)
                assert status == 503
                assert json.loads(body)["error"] == "unavailable"
                await asyncio.sleep(
                    max(0.0, OUTAGE_S - (asyncio.get_running_loop().time() - outage_started))
                )

                # the finally below stops whichever server runs last
                postgres = await asyncio.to_thread(EmbeddedPostgres.start, tmp_path / "pg")
                await eventually(
                    lambda: _is(event_rows(postgres.dsn), 80), within=60, watch=[worker]
                )
                await asyncio.sleep(3)  # a redelivered batch must not add rows
                assert await event_rows(postgres.dsn) == 80
                # the API's pool recovers by itself once PostgreSQL is back
                await eventually(lambda: _api_ok(gateway), within=30)
                assert not sink.done()
                # The worker noticed once, went on scoring, and checkpoints again.
                await eventually(
                    lambda: "checkpoints saved again" in worker.log_path.read_text(),
                    within=30,
                    watch=[worker],
                )
                log = worker.log_path.read_text()
                assert log.count("msg=checkpoint failed partition=") == 1  # once per outage
                assert log.count("msg=identity checkpoint failed partition=") <= 1
        finally:
            stop_sink.set()
            await asyncio.wait_for(sink, 30)
            worker.stop()
    finally:
        await asyncio.to_thread(postgres.stop)


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _api_ok(gateway: Gateway) -> bool:
    status, _ = await gateway.api.handle("/api/scores", "", ADMIN)
    return status == 200
