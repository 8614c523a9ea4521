"""Access control on the real gateway, with its users, sessions and audit in a real PostgreSQL and
its acknowledgements on a real Kafka-protocol broker.

Shows: no credentials → 401 on ``/ws`` and ``/api/events``; a wrong Origin or Host → 403 before
the handshake; a browser login (cookie) and a program's (bearer token); a viewer's
acknowledgement refused with no record on the ack topic; an operator's acknowledgement
attributed to the logged-in user in the alert, its stored history and the audit table (a forged
``who`` ignored); viewers get no exact incident places; logout and session expiry close the
socket (4001); failed logins rate-limited; per-user connections and message floods bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboard_ws.server import Gateway
from streams.contract import (
    WS_SERVER_MESSAGE,
    AckResultMessage,
    Alert,
    AlertMessage,
    Incident,
    RequestErrorMessage,
)
from streams.persistence.sink import run_sink
from streams.settings import Settings
from tests.cities import instant_alerts_city

from .auth import add_user, bearer, ws_headers
from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, produce

pytestmark = pytest.mark.integration

JANGGI_DONG = "4157056000"
PASSWORD = "correct horse battery staple"


def request(
    base: str,
    path: str,
    *,
    method: str = "GET",
    body: object | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body or None) of one HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, dict(error.headers)
    return status, got, json.loads(raw) if raw else None


async def arequest(base: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    return await asyncio.to_thread(request, base, path, **kwargs)


async def login(base: str, user: str, password: str = PASSWORD) -> tuple[str, dict[str, Any]]:
    """Log in as a browser on the gateway's own origin; the cookie header and the answer."""
    status, headers, body = await arequest(
        base,
        "/auth/login",
        method="POST",
        body={"username": user, "password": password},
        headers={"Origin": base},
    )
    assert status == 200, body
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here; TLS adds it
    return cookie.split(";", 1)[0], body


@pytest.fixture
async def gateway(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, Settings, str]]:
    settings = isolated_settings(
        kafka_bootstrap,
        pg_dsn,
        tmp_path,
        session_check_s=0.5,
        max_connections_per_user=5,
        ws_message_rate=2.0,
        ws_message_burst=5,
    )
    for name, role in (("vic", "viewer"), ("kim", "operator"), ("ana", "analyst")):
        await add_user(pg_dsn, name, role, PASSWORD)
    await add_user(pg_dsn, "root", "admin")
    async with Gateway(settings) as gw:
        yield gw, settings, f"http://127.0.0.1:{gw.port}"


async def test_no_credentials_401_wrong_origin_or_host_403(
    gateway: tuple[Gateway, Settings, str],
) -> None:
    gw, settings, base = gateway
    ws_url = f"ws://127.0.0.1:{gw.port}/ws"
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(ws_url, origin=websockets.Origin(base))
    assert refused.value.response.status_code == 401
    status, headers, body = await arequest(base, "/api/events")
    assert (status, body["error"]) == (401, "unauthorized")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Frame-Options"] == "DENY"

    token = bearer(settings, "vic", "viewer")
    for origin in ("http://evil.example", "null"):  # a hostile page; a sandboxed frame
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                ws_url, origin=websockets.Origin(origin), additional_headers=ws_headers(token)
            )
        assert refused.value.response.status_code == 403
    # DNS rebinding: a hostile name pointed at the gateway's address
    status, _, body = await arequest(
        base, "/api/events", headers={"Host": "evil.example", **ws_headers(token)}
    )
    assert status == 403
    assert "evil.example" in body["detail"]
    # cross-site login (CSRF) refused before the password is looked at
    status, _, _ = await arequest(
        base,
        "/auth/login",
        method="POST",
        body={"username": "kim", "password": PASSWORD},
        headers={"Origin": "http://evil.example"},
    )
    assert status == 403
    # a form post (no JSON content type) is refused too
    status, _, _ = await arequest(
        base,
        "/auth/login",
        method="POST",
        body=None,
        headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    # /healthz stays open and says nothing sensitive
    status, _, body = await arequest(base, "/healthz")
    assert set(body) == {"status", "districts", "clients"}


async def test_login_me_roles_and_logout_closes_the_socket(
    gateway: tuple[Gateway, Settings, str],
) -> None:
    gw, _, base = gateway
    cookie, answer = await login(base, "kim")
    assert (answer["user"], answer["role"]) == ("kim", "operator")
    status, _, me = await arequest(base, "/auth/me", headers={"Cookie": cookie})
    assert (status, me["user"], me["via"]) == (200, "kim", "session")
    assert "alert.acknowledge" in me["rights"]
    assert "dead_letters.read" not in me["rights"]
    status, _, me = await arequest(base, "/auth/me", headers=ws_headers(answer["token"]))
    assert (status, me["via"]) == (200, "bearer")
    # roles per route
    for path, expected in (("/api/dead-letters", 403), ("/metrics", 403), ("/api/audit", 403)):
        status, _, _ = await arequest(base, path, headers={"Cookie": cookie})
        assert status == expected, path

    ws = await websockets.connect(
        f"ws://127.0.0.1:{gw.port}/ws",
        origin=websockets.Origin(base),
        additional_headers={"Cookie": cookie},
    )
    assert json.loads(await ws.recv())["type"] == "snapshot"
    # a logout needs the page's Origin: the cookie alone (a cross-site POST) does not do it
    status, _, _ = await arequest(base, "/auth/logout", method="POST", headers={"Cookie": cookie})
    assert status == 403
    status, headers, _ = await arequest(
        base, "/auth/logout", method="POST", headers={"Cookie": cookie, "Origin": base}
    )
    assert status == 204
    assert "Max-Age=0" in headers["Set-Cookie"]
    await until_closed(ws, within=10)
    assert ws.close_code == 4001
    assert ws.close_reason == "logged out"
    status, _, _ = await arequest(base, "/auth/me", headers={"Cookie": cookie})
    assert status == 401

    conn = await asyncpg.connect(gw._settings.pg_dsn)
    try:
        actions = [
            r["action"]
            for r in await conn.fetch("SELECT action FROM audit WHERE actor = 'kim' ORDER BY id")
        ]
    finally:
        await conn.close()
    assert actions == ["auth.login", "auth.logout"]


async def test_an_expired_session_closes_its_socket(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, session_max_s=3.0, session_check_s=0.5
    )
    await add_user(pg_dsn, "kim", "operator", PASSWORD)
    async with Gateway(settings) as gw:
        base = f"http://127.0.0.1:{gw.port}"
        cookie, _ = await login(base, "kim")
        async with websockets.connect(
            f"ws://127.0.0.1:{gw.port}/ws",
            origin=websockets.Origin(base),
            additional_headers={"Cookie": cookie},
        ) as ws:
            await until_closed(ws, within=15)
            assert (ws.close_code, ws.close_reason) == (4001, "session expired")
        status, _, _ = await arequest(base, "/auth/me", headers={"Cookie": cookie})
        assert status == 401


async def test_failed_logins_are_rate_limited_per_account_and_address(
    gateway: tuple[Gateway, Settings, str],
) -> None:
    gw, _, base = gateway

    async def attempt(user: str, password: str) -> int:
        status, headers, body = await arequest(
            base,
            "/auth/login",
            method="POST",
            body={"username": user, "password": password},
            headers={"Origin": base},
        )
        if status == 429:
            assert int(headers["Retry-After"]) > 0
            assert body["error"] == "rate_limited"
        return status

    # 10 wrong passwords for one account: the 11th try is refused even with the right one
    statuses = [await attempt("kim", f"wrong password {n}") for n in range(10)]
    assert statuses == [401] * 10
    assert await attempt("kim", PASSWORD) == 429
    # 20 failures from one address in all: every account is closed to it for a while
    statuses = [await attempt(f"nobody{n}", "wrong password!") for n in range(10)]
    assert statuses == [401] * 10
    assert await attempt("vic", PASSWORD) == 429
    assert gw.shell.logins["failed"] == 20
    conn = await asyncpg.connect(gw._settings.pg_dsn)
    try:
        counts = dict(
            await conn.fetch("SELECT action, count(*) FROM audit GROUP BY action ORDER BY action")
        )
    finally:
        await conn.close()
    assert counts == {"auth.login_failed": 20, "auth.login_limited": 2}


async def test_connections_per_user_and_message_floods_are_bounded(
    gateway: tuple[Gateway, Settings, str],
) -> None:
    gw, settings, _ = gateway
    headers = ws_headers(bearer(settings, "vic", "viewer"))
    url = f"ws://127.0.0.1:{gw.port}/ws"
    sockets = [await websockets.connect(url, additional_headers=headers) for _ in range(5)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 429
        flooder = sockets[0]
        await flooder.recv()  # snapshot
        with contextlib.suppress(ConnectionClosed):
            for n in range(1000):
                await flooder.send(json.dumps({"type": "hello", "n": n}))
                await asyncio.sleep(0)
        await until_closed(flooder, within=10)
        assert flooder.close_code == 4008
        assert gw.shell.refused["message_rate"] == 1
    finally:
        for ws in sockets:
            await ws.close()
    # the slots come back once the sockets are gone
    await eventually(lambda: gw.limits.of("vic") == 0, within=10)
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"


@pytest.mark.slow
async def test_acknowledgements_need_an_operator_and_are_attributed_to_the_user(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city=instant_alerts_city(tmp_path)
    )
    for name, role in (("vic", "viewer"), ("kim", "operator"), ("ana", "analyst")):
        await add_user(pg_dsn, name, role)
    await add_user(pg_dsn, "root", "admin")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop))
    try:
        async with Gateway(settings) as gw:
            url = f"ws://127.0.0.1:{gw.port}/ws"
            base = f"http://127.0.0.1:{gw.port}"
            viewer = await websockets.connect(
                url, additional_headers=ws_headers(bearer(settings, "vic", "viewer"))
            )
            operator = await websockets.connect(
                url, additional_headers=ws_headers(bearer(settings, "kim", "operator"))
            )
            for ws in (viewer, operator):
                assert json.loads(await ws.recv())["type"] == "snapshot"
            burst = [
                Incident(
                    id=f"acl-{n}",
                    source="gimpo-police",
                    type="fire",
                    severity=4,
                    occurred_at=datetime.now(UTC),
                    lat=37.6385,
                    lon=126.6791,
                    description="behind the school gate",
                )
                for n in range(4)
            ]
            await produce(settings, settings.topics.incidents, burst)
            firing = await next_alert(operator, lambda a: a.state == "firing", within=60)
            acks = TopicReader(settings, settings.topics.alert_acks)  # the topic exists now
            await acks.__aenter__()

            # a viewer may watch, not acknowledge: refused, nothing published
            await viewer.send(ack_message(firing, "v-1"))
            answer = await next_answer(viewer)
            assert isinstance(answer, RequestErrorMessage)
            assert (answer.retry, answer.request_id) == (False, "v-1")
            assert "operator" in answer.reason

            # an operator's acknowledgement is the logged-in user's, whatever "who" says
            await operator.send(ack_message(firing, "k-1", who="mallory"))
            acked = await next_alert(operator, lambda a: a.state == "acknowledged", within=30)
            assert acked.acknowledged_by == "kim"
            for _ in range(6):
                await acks.poll(0.5)
            await acks.__aexit__()
            published = [json.loads(raw) for raw in acks.values]
            assert [(a["who"], a["alert_id"]) for a in published] == [("kim", firing.id)]

            async def stored_by() -> set[str | None]:
                status, _, history = await arequest(
                    base,
                    f"/api/alerts/{urllib.parse.quote(firing.id)}",
                    headers=ws_headers(bearer(settings, "vic", "viewer")),
                )
                if status != 200:
                    return set()
                return {c["acknowledged_by"] for c in history["changes"]}

            async def acknowledged_by_kim() -> bool:
                return "kim" in await stored_by()

            await eventually(acknowledged_by_kim, within=30)

            # viewers see the incident's district, not its door; analysts see it exactly
            _, _, rough = await arequest(
                base,
                "/api/events?kind=incident",
                headers=ws_headers(bearer(settings, "vic", "viewer")),
            )
            _, _, exact = await arequest(
                base,
                "/api/events?kind=incident",
                headers=ws_headers(bearer(settings, "ana", "analyst")),
            )
            assert {e["incident"]["lat"] for e in rough["events"]} == {37.64}
            assert {e["incident"]["description"] for e in rough["events"]} == {None}
            assert {e["incident"]["lat"] for e in exact["events"]} == {37.6385}
            assert {e["incident"]["description"] for e in exact["events"]} == {
                "behind the school gate"
            }
            conn = await asyncpg.connect(pg_dsn)
            try:
                row = await conn.fetchrow(
                    "SELECT actor, target, detail FROM audit WHERE action = 'alert.ack'"
                )
            finally:
                await conn.close()
            assert row is not None
            assert (row["actor"], row["target"]) == ("kim", firing.id)
            _, _, audit = await arequest(
                base,
                "/api/audit?action=alert.ack",
                headers=ws_headers(bearer(settings, "root", "admin")),
            )
            assert [(e["actor"], e["target"]) for e in audit["entries"]] == [("kim", firing.id)]
            await viewer.close()
            await operator.close()
    finally:
        stop.set()
        await sink
        worker.stop()


async def until_closed(ws: websockets.ClientConnection, within: float) -> None:
    """Read (and drop) what ``ws`` receives until the server closes it."""
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()


def ack_message(alert: Alert, request_id: str, who: str | None = None) -> str:
    message: dict[str, str] = {
        "type": "ack",
        "alert_id": alert.id,
        "district": alert.district,
        "request_id": request_id,
    }
    if who is not None:
        message["who"] = who
    return json.dumps(message)


async def next_alert(ws: websockets.ClientConnection, wanted: Any, within: float) -> Alert:
    async with asyncio.timeout(within):
        while True:
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            if isinstance(message, AlertMessage) and wanted(message.alert):
                return message.alert


async def next_answer(ws: websockets.ClientConnection) -> AckResultMessage | RequestErrorMessage:
    async with asyncio.timeout(20):
        while True:
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            if isinstance(message, AckResultMessage | RequestErrorMessage):
                return message


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl, as an operator would)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_serves_https_and_wss_with_a_secure_host_cookie(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, tls_cert=cert, tls_key=key)
    await add_user(pg_dsn, "kim", "operator", PASSWORD)
    context = ssl.create_default_context(cafile=str(cert))
    async with Gateway(settings) as gw:
        base = f"https://127.0.0.1:{gw.port}"

        def login_over_tls() -> tuple[int, dict[str, str]]:
            req = urllib.request.Request(
                base + "/auth/login",
                data=json.dumps({"username": "kim", "password": PASSWORD}).encode(),
                headers={"Content-Type": "application/json", "Origin": base},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=20, context=context) as response:
                return response.status, dict(response.headers)

        status, headers = await asyncio.to_thread(login_over_tls)
        assert status == 200
        cookie = headers["Set-Cookie"]
        assert cookie.startswith("__Host-riskmon_session=")
        assert "; Secure" in cookie
        assert headers["Strict-Transport-Security"] == "max-age=31536000"
        async with websockets.connect(
            f"wss://127.0.0.1:{gw.port}/ws",
            ssl=context,
            origin=websockets.Origin(base),
            additional_headers={"Cookie": cookie.split(";", 1)[0]},
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
        # the http origin of the same host is another origin: refused
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                f"wss://127.0.0.1:{gw.port}/ws",
                ssl=context,
                origin=websockets.Origin(f"http://127.0.0.1:{gw.port}"),
                additional_headers={"Cookie": cookie.split(";", 1)[0]},
            )
        assert refused.value.response.status_code == 403
