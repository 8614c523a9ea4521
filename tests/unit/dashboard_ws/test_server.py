"""The gateway's HTTP routes and websocket handler on a real port, with no Kafka broker to read
and its accounts in memory (the PostgreSQL store is tested in tests/integration)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dashboard_ws.auth.store import MemoryAccountStore
from dashboard_ws.security.roles import Role
from dashboard_ws.security.sessions import TokenSigner
from dashboard_ws.server import Gateway, run_gateway
from streams.contract import (
    WS_SERVER_MESSAGE,
    HeartbeatMessage,
    RequestErrorMessage,
    SnapshotMessage,
)
from streams.persistence.accounts import User
from streams.settings import Settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SECRET = "unit tests: a token secret of at least 32 bytes"
NOW = datetime.now(UTC)


def user(name: str, role: str) -> User:
    return User(1, name, role, False, NOW, NOW, None)


def token(name: str, role: str) -> str:
    return TokenSigner(SECRET.encode()).issue(name, Role(role), datetime.now(UTC), 600)


def auth(name: str = "kim", role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name, role)}"}


def settings_for(port: int = 0) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{closed_port()}", gateway_port=port, auth_secret=SECRET
    )


def memory_accounts() -> MemoryAccountStore:
    return MemoryAccountStore(
        [user("kim", "admin"), user("vic", "viewer"), user("ops", "operator")]
    )


async def http_get(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one request."""

    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()

    return await asyncio.to_thread(fetch)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway(settings_for(), accounts=memory_accounts()) as gateway:
        yield gateway


async def test_healthz_is_503_while_the_consumer_is_down(gateway: Gateway) -> None:
    status, ctype, body = await http_get(gateway.port, "/healthz")
    assert (status, ctype) == (503, "application/json")
    assert json.loads(body) == {"status": "kafka_consumer_down", "districts": 0, "clients": 0}
    # alive (a restart would not bring Kafka back), not ready
    status, _, body = await http_get(gateway.port, "/livez")
    assert (status, json.loads(body)["status"]) == (200, "alive")
    status, _, body = await http_get(gateway.port, "/readyz")
    assert (status, json.loads(body)["status"]) == (503, "kafka_consumer_down")


async def test_serves_the_page_metrics_and_errors(gateway: Gateway) -> None:
    status, ctype, body = await http_get(gateway.port, "/")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert b"<script" not in body.replace(b'<script src="/static/', b"")  # CSP: no inline script
    assert b"http" not in body.replace(b"https:", b"")  # self-contained: no external URLs
    status, ctype, body = await http_get(gateway.port, "/static/dist/app.js")  # make builds it
    assert (status, ctype) == (200, "text/javascript; charset=utf-8")
    assert b"new WebSocket" in body
    status, ctype, body = await http_get(gateway.port, "/static/dist/THIRD-PARTY-NOTICES.txt")
    assert (status, ctype) == (200, "text/plain; charset=utf-8")
    assert b"leaflet 1.9.4" in body
    assert b"Volodymyr Agafonkin" in body  # Leaflet's own licence text, verbatim
    assert b"h3-js" in body
    assert (await http_get(gateway.port, "/static/../server.py"))[0] == 404

    assert (await http_get(gateway.port, "/metrics"))[0] == 401
    assert (await http_get(gateway.port, "/metrics", headers=auth("vic", "viewer")))[0] == 403
    status, ctype, body = await http_get(gateway.port, "/metrics?x=1", headers=auth())
    assert status == 200
    assert ctype.startswith("text/plain")
    assert b"riskmon_gateway_consumer_up 0.0" in body
    assert b'riskmon_gateway_updates_consumed_total{outcome="invalid"} 0.0' in body

    assert (await http_get(gateway.port, "/nowhere"))[0] == 404
    assert (await http_get(gateway.port, "/healthz", method="POST"))[0] == 405
    assert (await http_get(gateway.port, "/healthz", method="PUT"))[0] == 405
    assert (await http_get(gateway.port, "/ws"))[0] == 403  # no Origin and no bearer token
    assert (await http_get(gateway.port, "/ws", headers=auth()))[0] == 426  # no upgrade


async def test_websocket_gets_a_snapshot_and_counts_as_a_client(gateway: Gateway) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=auth()) as ws:
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


async def test_a_quiet_connection_gets_heartbeats_and_a_busy_one_none() -> None:
    settings = settings_for().model_copy(update={"ws_heartbeat_s": 0.2})
    async with (
        Gateway(settings, accounts=memory_accounts()) as gateway,
        connect(f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=auth()) as ws,
    ):
        assert isinstance(WS_SERVER_MESSAGE.validate_json(await ws.recv()), SnapshotMessage)
        before = datetime.now(UTC)
        beats = [WS_SERVER_MESSAGE.validate_json(await ws.recv()) for _ in range(2)]
        assert all(isinstance(b, HeartbeatMessage) and b.at >= before for b in beats)
        assert gateway.shell.heartbeats_sent >= 2
        # a message due (here the answer to a bad request) goes out at once, not after a beat
        await ws.send("not json")
        answer = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), 0.15))
        while isinstance(answer, HeartbeatMessage):  # one may have been on its way
            answer = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), 0.15))
        assert isinstance(answer, RequestErrorMessage)


async def test_run_gateway_serves_until_cancelled() -> None:
    port = closed_port()
    settings = settings_for(port).model_copy(update={"pg_dsn": "postgresql://nobody@127.0.0.1:1/x"})
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


async def test_start_needs_an_accounts_store() -> None:
    with pytest.raises(ValueError, match="PG_DSN"):
        await Gateway(settings_for()).start()


async def test_a_client_is_told_when_its_message_cannot_be_acted_on(gateway: Gateway) -> None:
    headers = auth("ops", "operator")
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=headers) as ws:
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
            "request_id": "click-1",
        }
        await ws.send(json.dumps(ack))
        failed = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), 30))
        assert isinstance(failed, RequestErrorMessage)
        assert (failed.retry, failed.alert_id, failed.request_id) == (True, "a-1", "click-1")
        assert "try again" in failed.reason
    assert len(gateway._pending) == 0  # nothing waits for a decision that cannot come


async def test_an_unreachable_accounts_database_is_a_503_not_a_crash() -> None:
    settings = settings_for().model_copy(
        update={"pg_dsn": f"postgresql://nobody@127.0.0.1:{closed_port()}/x"}
    )
    async with Gateway(settings) as gateway:
        status, _, body = await http_get(gateway.port, "/api/events", headers=auth())
        assert status == 503
        assert json.loads(body)["error"] == "unavailable"
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=auth())
        assert refused.value.response.status_code == 503
        assert (await http_get(gateway.port, "/healthz"))[0] == 503  # Kafka: still answers
