"""The gateway against a real Kafka-protocol broker: scores topic -> hub -> websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from websockets.asyncio.client import ClientConnection, connect

from dashboard_ws.hub import DRIVER_HISTORY
from dashboard_ws.server import Gateway
from streams.contract import (
    WS_SERVER_MESSAGE,
    AckResult,
    AckResultMessage,
    AlertAck,
    Driver,
    HeartbeatMessage,
    ScoresMessage,
    ScoreUpdate,
    SnapshotMessage,
)
from streams.ops.embedded import EmbeddedBroker, free_port
from streams.settings import Settings, Topics
from tests.factories import score_update
from tests.integration.auth import TEST_SECRET, bearer, memory_accounts, ws_headers

pytestmark = pytest.mark.integration

DISTRICTS = [f"41570{n:05d}" for n in range(25000, 25014)]  # 14 well-formed district codes
WAIT_S = 15.0


def update(district: str, seq: int, value: float = 1.0) -> ScoreUpdate:
    return score_update(district, seq, value)


def operator(settings: Settings) -> dict[str, str]:
    """Handshake headers of kim, an operator of :func:`memory_accounts`."""
    return ws_headers(bearer(settings, "kim", "operator"))


async def http_get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one GET."""

    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()

    return await asyncio.to_thread(fetch)


async def wait_for_health(port: int, districts: int | None, status: int = 200) -> dict[str, Any]:
    """Poll /healthz until it answers ``status`` with ``districts`` districts held (None: any)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            got, _, body = await http_get(port, "/healthz")
            health: dict[str, Any] = json.loads(body)
            if got == status and districts in (None, health["districts"]):
                return health
            await asyncio.sleep(0.05)


async def next_scores(ws: ClientConnection) -> ScoresMessage:
    async with asyncio.timeout(WAIT_S):
        message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
        while isinstance(message, HeartbeatMessage):  # an idle moment of the test
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
    assert isinstance(message, ScoresMessage)
    return message


async def next_score(ws: ClientConnection) -> ScoreUpdate:
    """The only district update of the next scores message."""
    message = await next_scores(ws)
    assert len(message.districts) == 1, message.districts
    return message.districts[0]


@pytest.fixture
async def settings(kafka_bootstrap: str) -> Settings:
    """Settings for a fresh scores topic of 4 partitions, a free gateway port."""
    topic = f"riskmon.scores.test-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, 4, 1)])
        assert [error for _, error, *_ in response.topic_errors] == [0]
    finally:
        await admin.close()
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        gateway_port=0,
        topics=Topics(scores=topic),
        auth_secret=TEST_SECRET,
    )


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def publish(producer: AIOKafkaProducer, topic: str, *updates: ScoreUpdate) -> None:
    for u in updates:
        await producer.send_and_wait(topic, u.model_dump_json().encode(), key=u.district.encode())


async def test_snapshot_then_live_scores(settings: Settings, producer: AIOKafkaProducer) -> None:
    topic = settings.topics.scores
    # Published before the gateway starts: read from the beginning of every partition.
    await publish(producer, topic, *(update(d, 1) for d in reversed(DISTRICTS)))
    await publish(producer, topic, update(DISTRICTS[0], 5, value=5.0))
    await producer.send_and_wait(topic, b"not a score update", key=b"junk")
    await publish(producer, topic, update(DISTRICTS[0], 4, value=4.0))  # stale: dropped

    async with Gateway(settings, accounts=memory_accounts()) as gateway:
        health = await wait_for_health(gateway.port, districts=14)
        assert health == {"status": "ok", "districts": 14, "clients": 0}
        # ready once the backlog is read: every district held by then
        for _ in range(int(WAIT_S / 0.05)):
            if (await http_get(gateway.port, "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert json.loads((await http_get(gateway.port, "/readyz"))[2]) == {
            "status": "ready",
            "districts": 14,
        }

        async with connect(
            f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=operator(settings)
        ) as ws:
            async with asyncio.timeout(WAIT_S):
                first = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            assert isinstance(first, SnapshotMessage)
            assert [u.district for u in first.districts] == DISTRICTS  # sorted by code
            assert (first.districts[0].seq, first.districts[0].composite.value) == (5, 5.0)

            await publish(producer, topic, update(DISTRICTS[3], 2, value=7.5))
            live = await next_score(ws)
            assert (live.district, live.seq, live.composite.value) == (DISTRICTS[3], 2, 7.5)

            # A stale update reaches nobody; the next newer one does (in one message).
            await publish(
                producer,
                topic,
                update(DISTRICTS[3], 2, value=0.5),
                update(DISTRICTS[3], 3, value=8.0),
            )
            live = await next_score(ws)
            assert (live.seq, live.composite.value) == (3, 8.0)

            status, _, body = await http_get(gateway.port, "/healthz")
            assert (status, json.loads(body)["clients"]) == (200, 1)

        status, ctype, page = await http_get(gateway.port, "/")
        assert (status, ctype) == (200, "text/html; charset=utf-8")
        assert b"/ws" in page

        _, _, metrics = await http_get(
            gateway.port, "/metrics", ws_headers(bearer(settings, "root", "admin"))
        )
        text = metrics.decode()
        assert 'riskmon_gateway_updates_consumed_total{outcome="accepted"} 17.0' in text
        assert 'riskmon_gateway_updates_consumed_total{outcome="stale"} 2.0' in text
        assert 'riskmon_gateway_updates_consumed_total{outcome="invalid"} 1.0' in text
        assert 'riskmon_gateway_messages_sent_total{type="scores"} 2.0' in text
        assert "riskmon_gateway_score_updates_sent_total 2.0" in text
        assert "riskmon_gateway_consumer_up 1.0" in text


async def test_every_client_gets_every_district_in_order(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """Clients connect while updates are published: for each client a district's seq only
    increases, and each client ends on the latest update of every district."""
    topic = settings.topics.scores
    rounds = 5

    async def publish_rounds() -> None:
        for seq in range(1, rounds + 1):
            await publish(producer, topic, *(update(d, seq) for d in DISTRICTS[:4]))

    async with Gateway(settings, accounts=memory_accounts()) as gateway:
        await wait_for_health(gateway.port, districts=0)
        url = f"ws://127.0.0.1:{gateway.port}/ws"
        publishing = asyncio.create_task(publish_rounds())
        clients = []
        for _ in range(4):
            clients.append(await connect(url, additional_headers=operator(settings)))
            await asyncio.sleep(0.01)
        await publishing
        try:
            for ws in clients:
                seen: dict[str, int] = {}
                async with asyncio.timeout(WAIT_S):
                    snapshot = WS_SERVER_MESSAGE.validate_json(await ws.recv())
                    assert isinstance(snapshot, SnapshotMessage)
                    seen.update({u.district: u.seq for u in snapshot.districts})
                    while seen != {d: rounds for d in DISTRICTS[:4]}:
                        for u in (await next_scores(ws)).districts:
                            assert u.seq > seen.get(u.district, 0)
                            seen[u.district] = u.seq
        finally:
            for ws in clients:
                await ws.close()


async def read_until(
    ws: ClientConnection, final: dict[str, int]
) -> list[tuple[float, ScoresMessage]]:
    """The scores messages (with the monotonic time each came) until the client holds the
    ``final`` seq of every district; a district's seq must only increase."""
    seen: dict[str, int] = {}
    got = []
    while any(seen.get(d, 0) < seq for d, seq in final.items()):
        message = await next_scores(ws)
        got.append((time.monotonic(), message))
        for u in message.districts:
            assert u.seq > seen.get(u.district, 0)
            seen[u.district] = u.seq
    assert seen == final
    return got


async def test_a_burst_reaches_each_client_in_few_messages_one_per_interval(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """1,000 updates of 14 districts at once: each client gets a handful of scores messages,
    at least 100 ms apart, and ends on every district's final state."""
    topic = settings.topics.scores
    async with Gateway(settings, accounts=memory_accounts()) as gateway:
        await wait_for_health(gateway.port, districts=0)
        url = f"ws://127.0.0.1:{gateway.port}/ws"
        clients = [await connect(url, additional_headers=operator(settings)) for _ in range(3)]
        try:
            for ws in clients:
                assert isinstance(WS_SERVER_MESSAGE.validate_json(await ws.recv()), SnapshotMessage)
            final: dict[str, int] = {}
            value: dict[str, float] = {}
            for n in range(1000):
                u = update(DISTRICTS[n % 14], n + 1, value=(n % 97) / 10)
                final[u.district], value[u.district] = u.seq, u.composite.value
                await producer.send(topic, u.model_dump_json().encode(), key=u.district.encode())
            await producer.flush()
            received = await asyncio.gather(*(read_until(ws, final) for ws in clients))
            for got in received:
                ats = [message.at for _, message in got]
                for earlier, later in itertools.pairwise(ats):
                    assert later - earlier >= timedelta(milliseconds=100)
                span = (ats[-1] - ats[0]).total_seconds()
                assert len(got) <= span / 0.1 + 1
                assert len(got) < 40, f"{len(got)} messages for 1,000 updates"
                last = {u.district: u.composite.value for _, m in got for u in m.districts}
                assert last == value
        finally:
            for ws in clients:
                await ws.close()
        _, _, body = await http_get(
            gateway.port, "/metrics", ws_headers(bearer(settings, "root", "admin"))
        )
        lines = body.decode().splitlines()
        built = [line for line in lines if line.startswith("riskmon_gateway_scores_built_total ")]
        sent = sum(len(got) for got in received)
        assert float(built[0].split()[-1]) < sent  # messages shared between clients


def big(district: str, seq: int) -> ScoreUpdate:
    """An update of about 8 KB (80 drivers)."""
    drivers = [
        Driver(event_id=f"gimpo-fire:{seq}-{n}", type="fire", domain="fire", contribution=0.1)
        for n in range(80)
    ]
    return update(district, seq).model_copy(update={"drivers": drivers})


def stalled_client(port: int, headers: dict[str, str]) -> socket.socket:
    """A websocket client that completes its handshake and then never reads (a tiny receive
    buffer, so the gateway's writes block soon)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    head = [
        "GET /ws HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {text}" for name, text in headers.items()),
    ]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


async def test_a_stalled_client_delays_no_other_and_is_closed_as_too_slow(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """One client stops reading: a healthy one keeps getting every round within a fraction of
    the send timeout, and the stalled one is closed (4014) once a message waits that long."""
    settings = settings.model_copy(update={"ws_send_timeout_s": 1.5})
    topic = settings.topics.scores
    async with Gateway(settings, accounts=memory_accounts()) as gateway:
        await wait_for_health(gateway.port, districts=0)
        stalled = await asyncio.to_thread(stalled_client, gateway.port, operator(settings))
        healthy = await connect(
            f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=operator(settings)
        )
        admin = ws_headers(bearer(settings, "root", "admin"))
        try:
            snapshot = WS_SERVER_MESSAGE.validate_json(await healthy.recv())
            assert isinstance(snapshot, SnapshotMessage)
            published: dict[int, float] = {}
            seen: dict[str, int] = {}
            lags: list[float] = []
            last: list[int] = []  # the last round's seq, once published

            async def read() -> None:
                while not last or seen != {d: last[0] for d in DISTRICTS}:
                    message = await next_scores(healthy)
                    now = time.monotonic()
                    for u in message.districts:
                        assert u.seq > seen.get(u.district, 0)
                        seen[u.district] = u.seq
                        lags.append(now - published[u.seq])

            reader = asyncio.create_task(read())
            too_slow = False
            seq = 0
            async with asyncio.timeout(30):
                while not too_slow or seq < 60:
                    seq += 1
                    published[seq] = time.monotonic()
                    # big updates: the stalled client's buffers fill within a few rounds
                    await publish(producer, topic, *(big(d, seq) for d in DISTRICTS))
                    await asyncio.sleep(0.05)
                    if seq % 10 == 0:
                        text = (await http_get(gateway.port, "/metrics", admin))[2].decode()
                        too_slow = 'riskmon_gateway_refused_total{reason="too_slow"} 1.0' in text
                last.append(seq)
                if seen == {d: seq for d in DISTRICTS}:
                    reader.cancel()  # caught up already: waits for a message that won't come
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            assert max(lags) < 1.0, f"the healthy client waited {max(lags):.2f} s"
            health = json.loads((await http_get(gateway.port, "/healthz"))[2])
            assert health["clients"] == 1  # the stalled one is gone
        finally:
            await healthy.close()
            stalled.close()


def read_frames(sock: socket.socket, until: float) -> list[tuple[int, bytes]]:
    """Every frame (opcode, payload) the server sent on a raw socket, read until ``until``
    (``time.monotonic``) or the close frame. Server frames are never masked."""
    data = b""
    frames: list[tuple[int, bytes]] = []
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        while len(data) >= 2:
            size, start = data[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(data[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(data[2:10], "big"), 10
            if len(data) < start + size:
                break
            frames.append((data[0] & 0x0F, data[start : start + size]))
            data = data[start + size :]
        if frames and frames[-1][0] == 0x8:  # close
            break
    return frames


def fired(district: str, seq: int) -> ScoreUpdate:
    """An update of about 3 KB whose drivers name its seq."""
    drivers = [
        Driver(event_id=f"gimpo-fire:{seq}-{n}", type="fire", domain="fire", contribution=0.1)
        for n in range(3)
    ]
    filler = [
        Driver(event_id=f"gimpo-old:{n}", type="fire", domain="fire", contribution=0.01)
        for n in range(20)
    ]
    return update(district, seq).model_copy(update={"drivers": drivers + filler})


async def test_a_client_that_pauses_catches_up_with_the_newest_state_and_missed_drivers(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """A client stops reading for less than the send timeout while updates flow: the gateway
    skips it (counted as blocked) instead of closing it or queueing a backlog; once it reads
    again it gets every district's newest state, and the drivers of the updates it missed."""
    settings = settings.model_copy(update={"ws_send_timeout_s": 8.0})
    topic = settings.topics.scores
    admin = ws_headers(bearer(settings, "root", "admin"))
    async with Gateway(settings, accounts=memory_accounts()) as gateway:
        await wait_for_health(gateway.port, districts=0)
        paused = await asyncio.to_thread(stalled_client, gateway.port, operator(settings))
        try:
            blocked = False
            seq = 0
            async with asyncio.timeout(30):
                while not blocked or seq < 20:
                    seq += 1
                    await publish(producer, topic, *(fired(d, seq) for d in DISTRICTS))
                    await asyncio.sleep(0.05)
                    text = (await http_get(gateway.port, "/metrics", admin))[2].decode()
                    blocked = blocked or "riskmon_gateway_clients_blocked 1.0" in text
            last = seq
            until = time.monotonic() + 6.0
            frames = await asyncio.to_thread(read_frames, paused, until)
        finally:
            paused.close()
        assert all(opcode == 0x1 for opcode, _ in frames), "closed or sent something odd"
        newest: dict[str, int] = {}
        received = 0
        fires: dict[str, set[int]] = {d: set() for d in DISTRICTS}
        for _, payload in frames:
            message = WS_SERVER_MESSAGE.validate_json(payload)
            if isinstance(message, ScoresMessage):
                for u in message.districts:
                    assert u.seq > newest.get(u.district, 0)
                    newest[u.district] = u.seq
                    received += 1
                    fires[u.district].update(
                        int(d.event_id.split(":")[1].split("-")[0])
                        for d in u.drivers
                        if d.event_id.startswith("gimpo-fire:")
                    )
        assert newest == {d: last for d in DISTRICTS}
        assert received < last * len(DISTRICTS)  # superseded updates were skipped, not queued
        # The hub remembers the drivers of each district's last DRIVER_HISTORY updates: those
        # all reached the client, whether it got them one by one or carried in one update.
        remembered = set(range(last - DRIVER_HISTORY + 1, last + 1))
        for district in DISTRICTS:
            assert remembered <= fires[district], (district, sorted(fires[district]))


async def test_every_ack_is_answered_once_decided_or_timed_out(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    """No worker runs: the test reads the gateway's acknowledgements from the broker and decides
    one of them itself. The decided one is told ``applied``; the other, undecided, ``timed_out``
    after ``ack_wait_s``; its late decision is not told again. Counted in the metrics."""
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(
        scores=f"riskmon.scores.acks-{suffix}",
        alert_acks=f"riskmon.alert-acks.acks-{suffix}",
        ack_results=f"riskmon.alert-ack-results.acks-{suffix}",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = (topics.scores, topics.alert_acks, topics.ack_results)
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        gateway_port=0,
        topics=topics,
        ack_wait_s=2.0,
        auth_secret=TEST_SECRET,
    )
    acks = AIOKafkaConsumer(
        topics.alert_acks, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await acks.start()

    async def next_answer(ws: ClientConnection) -> AckResultMessage:
        async with asyncio.timeout(WAIT_S):
            message = WS_SERVER_MESSAGE.validate_json(await ws.recv())
        assert isinstance(message, AckResultMessage)
        return message

    def decision(ack: AlertAck) -> bytes:
        result = AckResult(
            ack_id=ack.ack_id,
            alert_id=ack.alert_id,
            district=ack.district,
            who=ack.who,
            outcome="applied",
            decided_at=ack.at,
        )
        return result.model_dump_json().encode()

    try:
        async with Gateway(settings, accounts=memory_accounts()) as gateway:
            async with connect(
                f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=operator(settings)
            ) as ws:
                assert isinstance(WS_SERVER_MESSAGE.validate_json(await ws.recv()), SnapshotMessage)
                sent = {}
                for alert_id in ("decided", "undecided"):
                    request = {
                        "type": "ack",
                        "alert_id": alert_id,
                        "district": DISTRICTS[0],
                        "who": "mallory",  # ignored: the acknowledger is who logged in
                        "request_id": f"click-{alert_id}",
                    }
                    await ws.send(json.dumps(request))
                    queued = await next_answer(ws)
                    assert (queued.status, queued.request_id) == ("queued", f"click-{alert_id}")
                    record = await asyncio.wait_for(acks.getone(), WAIT_S)
                    ack = AlertAck.model_validate_json(record.value or b"")
                    assert ack.alert_id == alert_id
                    assert ack.ack_id is not None
                    assert ack.who == "kim"
                    sent[alert_id] = ack

                await producer.send_and_wait(topics.ack_results, decision(sent["decided"]))
                applied = await next_answer(ws)
                assert (applied.status, applied.alert_id) == ("applied", "decided")

                timed_out = await next_answer(ws)  # within ack_wait_s of its queued answer
                assert (timed_out.status, timed_out.request_id) == (
                    "timed_out",
                    "click-undecided",
                )
                assert timed_out.reason is not None
                assert "2 s" in timed_out.reason
                assert len(gateway._pending) == 0

                # The worker comes back and decides after all: the client was answered already.
                await producer.send_and_wait(topics.ack_results, decision(sent["undecided"]))
                await producer.send_and_wait(
                    topics.scores,
                    update(DISTRICTS[1], 1).model_dump_json().encode(),
                    key=DISTRICTS[1].encode(),
                )
                after = WS_SERVER_MESSAGE.validate_json(await asyncio.wait_for(ws.recv(), WAIT_S))
                while isinstance(after, HeartbeatMessage):
                    after = WS_SERVER_MESSAGE.validate_json(
                        await asyncio.wait_for(ws.recv(), WAIT_S)
                    )
                assert isinstance(after, ScoresMessage)  # read after the late decision: no answer

            _, _, metrics = await http_get(
                gateway.port, "/metrics", ws_headers(bearer(settings, "root", "admin"))
            )
            text = metrics.decode()
            for status, count in (("queued", 2), ("applied", 1), ("timed_out", 1)):
                line = f'riskmon_gateway_ack_answers_total{{status="{status}"}} {count}.0'
                assert line in text, status
    finally:
        await acks.stop()


async def crash(broker: EmbeddedBroker) -> None:
    """SIGKILL by PID: a crash, and quicker than a graceful stop while clients are connected."""
    broker.process.kill()
    await asyncio.to_thread(broker.process.wait)


@pytest.mark.slow
async def test_health_follows_the_broker_and_reading_resumes(tmp_path: Path) -> None:
    """503 before the broker is up and while it is gone; clients get the last known scores
    meanwhile; after a restart the gateway reads again. Uses its own broker, stopped by PID."""
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        gateway_port=0,
        topics=Topics(scores="riskmon.scores.restart"),
        auth_secret=TEST_SECRET,
    )
    async with Gateway(settings, stale_after_s=1.0, accounts=memory_accounts()) as gateway:
        health = await wait_for_health(gateway.port, None, status=503)
        assert health["status"] == "kafka_consumer_down"
        broker = await asyncio.to_thread(EmbeddedBroker.start, tmp_path / "a", port=port)
        try:
            async with AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap) as producer:
                await publish(producer, settings.topics.scores, update(DISTRICTS[0], 1))
            await wait_for_health(gateway.port, districts=1)
        finally:
            await crash(broker)

        health = await wait_for_health(gateway.port, districts=1, status=503)
        assert health["status"] == "kafka_no_fetch"
        async with connect(
            f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=operator(settings)
        ) as ws:
            snapshot = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            assert isinstance(snapshot, SnapshotMessage)
            assert [(u.district, u.seq) for u in snapshot.districts] == [(DISTRICTS[0], 1)]

            # The restarted broker is empty: its offsets start again at 0, below our position.
            broker = await asyncio.to_thread(EmbeddedBroker.start, tmp_path / "b", port=port)
            try:
                await wait_for_health(gateway.port, districts=1)  # fetching again
                async with AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap) as producer:
                    await publish(producer, settings.topics.scores, update(DISTRICTS[0], 2))
                live = await next_score(ws)
                assert (live.district, live.seq) == (DISTRICTS[0], 2)
            finally:
                await crash(broker)
