"""End to end on real servers: incidents on Kafka -> worker -> scores -> gateway -> websocket."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import websockets

from dashboard_ws.server import Gateway
from streams.contract import WS_SERVER_MESSAGE, DeadLetter, Incident, ScoresMessage, ScoreUpdate
from streams.ops.embedded import free_port
from tests.integration.auth import user_headers

from .harness import (
    TopicReader,
    WorkerProcess,
    all_districts_served,
    eventually,
    isolated_settings,
    produce,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI_DONG = "4157056000"
TONGJIN = "4157025000"  # 통진읍


def fire(n: int) -> Incident:
    return Incident(
        id=f"e2e-{n}",
        source="gimpo-fire",
        type="fire",
        severity=4,
        occurred_at=datetime.now(UTC),
        lat=37.6385,
        lon=126.6791,
        description="apartment kitchen fire",
    )


async def next_score(
    ws: websockets.ClientConnection, district: str, event_id: str, within: float
) -> ScoreUpdate:
    async with asyncio.timeout(within):
        while True:
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            if not isinstance(message, ScoresMessage):
                continue
            for update in message.districts:
                if update.district == district and any(
                    d.event_id == event_id for d in update.drivers
                ):
                    return update


async def test_incident_reaches_websocket_and_bad_input_is_dead_lettered(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, metrics_port=free_port())
    viewer = await user_headers(settings, "vic", "viewer")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with Gateway(settings) as gateway:
            url = f"ws://127.0.0.1:{gateway.port}/ws"
            await all_districts_served(url, worker, viewer)
            assert worker.alive, worker.log_tail()

            async with websockets.connect(url, additional_headers=viewer) as ws:
                first = WS_SERVER_MESSAGE.validate_json(await ws.recv())
                assert first.type == "snapshot"
                before = {u.district: u for u in first.districts}[JANGGI_DONG]

                await produce(settings, settings.topics.incidents, [fire(1)])
                update = await next_score(ws, JANGGI_DONG, "gimpo-fire:e2e-1", within=10)
                assert update.domains["fire"].risk > before.domains["fire"].risk
                assert update.domains["fire"].intensity > 0
                assert update.seq > before.seq

                # Malformed input: dead-lettered with its bytes and reason; scoring goes on.
                await produce(
                    settings,
                    settings.topics.incidents,
                    [
                        b"{oops",
                        json.dumps(
                            {
                                "id": "x",
                                "source": "s",
                                "type": "fire",
                                "severity": 7,
                                "occurred_at": "2026-11-24T10:00:00+09:00",
                                "code": JANGGI_DONG,
                            }
                        ).encode(),
                    ],
                )
                async with TopicReader(settings, settings.topics.deadletter) as reader:

                    async def two_letters() -> bool:
                        await reader.poll()
                        return len(reader.values) >= 2

                    await eventually(two_letters, within=15)
                letters = {
                    letter.value: letter
                    for letter in map(DeadLetter.model_validate_json, reader.values)
                }
                assert letters[b"{oops"].error == "not_json"
                assert letters[b"{oops"].topic == settings.topics.incidents
                invalid = next(v for k, v in letters.items() if k != b"{oops")
                assert invalid.error == "schema"
                assert "severity" in invalid.reason

                await produce(settings, settings.topics.incidents, [fire(2)])
                again = await next_score(ws, JANGGI_DONG, "gimpo-fire:e2e-2", within=10)
                assert again.domains["fire"].intensity > update.domains["fire"].intensity
                assert worker.alive, worker.log_tail()

                # The same (source, id) re-sent placed in another district counts nowhere else:
                # the identity stage dead-letters it, naming both districts.
                moved = fire(1).model_copy(update={"lat": None, "lon": None, "code": TONGJIN})
                await produce(settings, settings.topics.incidents, [moved])
                async with TopicReader(settings, settings.topics.deadletter) as reader:

                    async def moved_letter() -> bool:
                        await reader.poll()
                        return any(b"e2e-1" in v and b'"conflict"' in v for v in reader.values)

                    await eventually(moved_letter, within=15)
                letter = next(
                    DeadLetter.model_validate_json(v) for v in reader.values if b"e2e-1" in v
                )
                assert letter.topic == settings.topics.identity
                assert JANGGI_DONG in letter.reason
                assert TONGJIN in letter.reason

            async with gateway_health(gateway.port) as health:
                assert health["status"] == "ok"
                assert health["districts"] == 14

        # The worker's own metrics count what happened and time it.
        metrics = await asyncio.to_thread(worker_metrics, settings.metrics_port)
        assert metrics['riskmon_ingested_total{kind="incident"}'] >= 2
        assert metrics['riskmon_dead_letters_total{error="not_json"}'] >= 1
        assert metrics['riskmon_dead_letters_total{error="schema"}'] >= 1
        assert metrics['riskmon_identity_decisions_total{decision="moved"}'] == 1
        assert metrics['riskmon_identity_decisions_total{decision="first"}'] >= 2
        assert metrics['riskmon_arrival_delay_seconds_count{kind="incident"}'] >= 2
        assert metrics["riskmon_score_delay_seconds_count"] >= 2
        # both incidents were scored and sent within a few seconds of being read
        assert metrics['riskmon_score_delay_seconds_bucket{le="5.0"}'] >= 2
    finally:
        worker.stop()


def worker_metrics(port: int) -> dict[str, float]:
    """The worker's Prometheus samples, by name and labels as exposed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class gateway_health:
    """GET /healthz over a raw socket (no HTTP client dependency)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def __aenter__(self) -> dict[str, object]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        result: dict[str, object] = json.loads(body)
        return result

    async def __aexit__(self, *exc: object) -> None:
        return None
