"""End to end: a burst of incidents raises exactly one alert on websocket clients, naming the
incidents; an acknowledgement from one client changes the alert for every client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import websockets

from dashboard_ws.server import Gateway
from streams.contract import WS_SERVER_MESSAGE, Alert, AlertMessage, Incident
from tests.cities import instant_alerts_city

from .harness import (
    WorkerProcess,
    all_districts_served,
    eventually,
    isolated_settings,
    produce,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI_DONG = "4157056000"


async def alerts_until(
    ws: websockets.ClientConnection, done: object, within: float, seen: list[Alert]
) -> None:
    async with asyncio.timeout(within):
        while not done():  # type: ignore[operator]
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            if isinstance(message, AlertMessage):
                seen.append(message.alert)


async def test_burst_raises_one_alert_and_an_ack_reaches_every_client(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city_config=instant_alerts_city(tmp_path)
    )
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with Gateway(settings) as gateway:
            url = f"ws://127.0.0.1:{gateway.port}/ws"

            await all_districts_served(url, worker)
            async with websockets.connect(url) as one, websockets.connect(url) as two:
                for ws in (one, two):
                    snapshot = WS_SERVER_MESSAGE.validate_json(await ws.recv())
                    assert snapshot.type == "snapshot"
                    assert snapshot.alerts == []
                burst = [
                    Incident(
                        id=f"burst-{n}",
                        source="gimpo-fire",
                        type="fire",
                        severity=4,
                        occurred_at=datetime.now(UTC),
                        code=JANGGI_DONG,
                    )
                    for n in range(4)
                ]
                await produce(settings, settings.topics.incidents, burst)

                seen_one: list[Alert] = []
                await alerts_until(
                    one, lambda: any(a.state == "firing" for a in seen_one), 20, seen_one
                )
                await asyncio.sleep(3)  # more updates of the burst may follow: still one alert
                firing = next(a for a in seen_one if a.state == "firing")
                assert (firing.district, firing.domain, firing.rule) == (
                    JANGGI_DONG,
                    "fire",
                    "threshold",
                )
                assert {d.event_id for d in firing.drivers} >= {"gimpo-fire:burst-0"}

                # Alert state survives a crash: SIGKILL once it is checkpointed, restart, then
                # acknowledge; the restarted worker must know the alert.
                await asyncio.sleep(2 * settings.checkpoint_interval_s + 1)
                worker.kill()
                worker.start()
                await eventually(
                    lambda: (
                        "alert state restored open=1 from=checkpoint" in worker.log_path.read_text()
                    ),
                    within=90,
                    interval=0.5,
                    watch=[worker],
                )
                await one.send(
                    f'{{"type": "ack", "alert_id": "{firing.id}", '
                    f'"district": "{JANGGI_DONG}", "who": "control-room kim", '
                    '"note": "119 dispatched"}'
                )
                seen_two: list[Alert] = []
                for ws, seen in ((one, seen_one), (two, seen_two)):
                    await alerts_until(
                        ws, lambda s=seen: any(a.state == "acknowledged" for a in s), 20, seen
                    )
                    acked = next(a for a in seen if a.state == "acknowledged")
                    assert acked.id == firing.id
                    assert acked.acknowledged_by == "control-room kim"
                    assert acked.note == "119 dispatched"
                everything = seen_one + seen_two
                assert {a.id for a in everything} == {firing.id}, "one alert, never a duplicate"
        assert worker.alive, worker.log_tail()
    finally:
        worker.stop()
