"""End to end: a burst of incidents raises exactly one alert on websocket clients, naming the
incidents; an acknowledgement from one client changes the alert for every client, and each
acknowledgement is answered to its sender alone (through the gateway it used; two gateways
here): queued, then applied or rejected with a reason."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import websockets

from dashboard_ws.server import Gateway
from streams.contract import (
    WS_SERVER_MESSAGE,
    AckResultMessage,
    Alert,
    AlertMessage,
    Incident,
)
from tests.cities import instant_alerts_city
from tests.integration.auth import user_headers

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
    ws: websockets.ClientConnection,
    done: object,
    within: float,
    seen: list[Alert],
    answers: list[AckResultMessage] | None = None,
) -> None:
    async with asyncio.timeout(within):
        while not done():  # type: ignore[operator]
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            if isinstance(message, AlertMessage):
                seen.append(message.alert)
            elif isinstance(message, AckResultMessage) and answers is not None:
                answers.append(message)
            else:
                assert message.type in ("scores", "heartbeat"), message


def ack(alert_id: str, request_id: str, note: str = "") -> str:
    """An acknowledgement as the page sends it: the acknowledger is the logged-in user."""
    return json.dumps(
        {
            "type": "ack",
            "alert_id": alert_id,
            "district": JANGGI_DONG,
            "note": note or None,
            "request_id": request_id,
        }
    )


async def test_burst_raises_one_alert_and_an_ack_reaches_every_client(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city=instant_alerts_city(tmp_path)
    )
    kim = await user_headers(settings, "kim", "operator")
    lee = await user_headers(settings, "lee", "operator")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        # Two gateways, one client each: an acknowledgement's answer goes back through the
        # gateway that took it, while the alert's change reaches every client of every gateway.
        async with Gateway(settings) as gateway, Gateway(settings) as other_gateway:
            url = f"ws://127.0.0.1:{gateway.port}/ws"
            other_url = f"ws://127.0.0.1:{other_gateway.port}/ws"

            await all_districts_served(url, worker, kim)
            await all_districts_served(other_url, worker, lee)
            async with (
                websockets.connect(url, additional_headers=kim) as one,
                websockets.connect(other_url, additional_headers=lee) as two,
            ):
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
                    "hazard",
                )
                assert firing.triggers == ["threshold"]
                # the burst's incidents explain it (which of them depends on how they were batched)
                drivers = {d.event_id for d in firing.drivers}
                assert drivers
                assert drivers <= {f"gimpo-fire:burst-{n}" for n in range(4)}

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
                await one.send(ack(firing.id, "kim-1", "119 dispatched"))
                seen_two: list[Alert] = []
                answers_one: list[AckResultMessage] = []
                answers_two: list[AckResultMessage] = []
                for ws, seen, answers, asked in (
                    (one, seen_one, answers_one, True),
                    (two, seen_two, answers_two, False),
                ):
                    await alerts_until(
                        ws,
                        lambda s=seen, a=answers, asked=asked: (
                            any(x.state == "acknowledged" for x in s)
                            and (not asked or any(x.status == "applied" for x in a))
                        ),
                        20,
                        seen,
                        answers,
                    )
                    acked = next(a for a in seen if a.state == "acknowledged")
                    assert acked.id == firing.id
                    assert acked.acknowledged_by == "kim"
                    assert acked.note == "119 dispatched"
                # "queued" may be replaced by "applied" before it is sent: the answer to one
                # request is kept newest-first in the client's queue (coalesced frames).
                assert [(a.request_id, a.status) for a in answers_one] in (
                    [("kim-1", "queued"), ("kim-1", "applied")],
                    [("kim-1", "applied")],
                )

                # A second operator, a moment late: told why, and only that operator.
                await two.send(ack(firing.id, "lee-1"))
                await two.send(ack("4157056000:fire:hazard:1", "lee-2"))
                await alerts_until(
                    two,
                    lambda: sum(a.status == "rejected" for a in answers_two) == 2,
                    20,
                    seen_two,
                    answers_two,
                )
                decided = {a.request_id: a for a in answers_two if a.status != "queued"}
                assert decided["lee-1"].code == "already_acknowledged"
                assert "kim acknowledged it" in (decided["lee-1"].reason or "")
                assert decided["lee-2"].code == "not_open"
                queued = {a.request_id for a in answers_two if a.status == "queued"}
                assert queued <= {"lee-1", "lee-2"}  # a "queued" may be replaced by its decision
                await asyncio.sleep(1)
                assert all(a.request_id == "kim-1" for a in answers_one)
                everything = seen_one + seen_two
                assert {a.id for a in everything} == {firing.id}, "one alert, never a duplicate"
        assert worker.alive, worker.log_tail()
    finally:
        worker.stop()
