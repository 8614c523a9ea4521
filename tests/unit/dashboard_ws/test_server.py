"""The gateway's HTTP routes and websocket handler on a real port, with no Kafka broker to read."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from dashboard_ws.server import Gateway, run_gateway
from streams.contract import WS_SERVER_MESSAGE, RequestErrorMessage, SnapshotMessage
from streams.settings import Settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    """(status, content type, body) of one request."""

    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()

    return await asyncio.to_thread(fetch)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{closed_port()}", gateway_port=0)
    async with Gateway(settings) as gateway:
        yield gateway


async def test_healthz_is_503_while_the_consumer_is_down(gateway: Gateway) -> None:
    status, ctype, body = await http_get(gateway.port, "/healthz")
    assert (status, ctype) == (503, "application/json")
    assert json.loads(body) == {"status": "kafka_consumer_down", "districts": 0, "clients": 0}


async def test_serves_the_page_metrics_and_errors(gateway: Gateway) -> None:
    status, ctype, body = await http_get(gateway.port, "/")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert b"new WebSocket" in body
    assert b"http" not in body.replace(b"https:", b"")  # self-contained: no external URLs

    status, ctype, body = await http_get(gateway.port, "/metrics?x=1")
    assert status == 200
    assert ctype.startswith("text/plain")
    assert b"riskmon_gateway_consumer_up 0.0" in body
    assert b'riskmon_gateway_updates_consumed_total{outcome="invalid"} 0.0' in body

    assert (await http_get(gateway.port, "/nowhere"))[0] == 404
    assert (await http_get(gateway.port, "/healthz", method="POST"))[0] == 405
    assert (await http_get(gateway.port, "/ws"))[0] == 426  # plain GET, no upgrade


async def test_websocket_gets_a_snapshot_and_counts_as_a_client(gateway: Gateway) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        first = WS_SERVER_MESSAGE.validate_json(await ws.recv())
        assert first == SnapshotMessage(districts=[])
        _, _, body = await http_get(gateway.port, "/healthz")
        assert json.loads(body)["clients"] == 1
    for _ in range(100):  # the server notices the close shortly after
        if gateway.hub.client_count == 0:
            break
        await asyncio.sleep(0.01)
    assert gateway.hub.client_count == 0
    assert gateway.shell.snapshots_sent == 1


async def test_run_gateway_serves_until_cancelled() -> None:
    port = closed_port()
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{closed_port()}", gateway_port=port)
    ready = asyncio.Event()
    task = asyncio.create_task(run_gateway(settings, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    assert (await http_get(port, "/healthz"))[0] == 503
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_start_needs_a_bootstrap() -> None:
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP"):
        await Gateway(Settings(kafka_bootstrap=None, gateway_port=0)).start()


async def test_a_client_is_told_when_its_message_cannot_be_acted_on(gateway: Gateway) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        assert isinstance(WS_SERVER_MESSAGE.validate_json(await ws.recv()), SnapshotMessage)

        await ws.send('{"type": "hello"}')
        bad = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(bad, RequestErrorMessage)
        assert (bad.retry, bad.alert_id) == (False, None)
        assert bad.reason == "not a request: type: Input should be 'ack'"

        # no broker to take it: the operator learns the acknowledgement did not go through
        ack = {
            "type": "ack",
            "alert_id": "a-1",
            "district": "4157056000",
            "who": "kim",
            "request_id": "click-1",
        }
        await ws.send(json.dumps(ack))
        failed = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), 30))
        assert isinstance(failed, RequestErrorMessage)
        assert (failed.retry, failed.alert_id, failed.request_id) == (True, "a-1", "click-1")
        assert "try again" in failed.reason
    assert len(gateway._pending) == 0  # nothing waits for a decision that cannot come
