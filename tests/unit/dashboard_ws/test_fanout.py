"""The gateway's writer over real websocket connections on localhost: what a client is due at one
pass reaches it in order, in one socket write; the frames are the pass's shared bytes where the
connection negotiated no extension (as the gateway's do) and its protocol's own where it did."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import PerMessageDeflate

from dashboard_ws.fanout import Fanout
from dashboard_ws.frames import compression
from dashboard_ws.hub import ClientId, Hub
from dashboard_ws.metrics import ShellStats
from tests.factories import alert, score_update

DISTRICT = "4157056000"


@dataclass
class Rig:
    hub: Hub
    shell: ShellStats
    fanout: Fanout
    clients: list[ClientConnection] = field(default_factory=list)
    cids: list[ClientId] = field(default_factory=list)
    transport_writes: int = 0  # writes to the server side's sockets, counted as they happen
    written: dict[ClientId, list[bytes]] = field(default_factory=dict)  # what, per client

    async def received(self, client: ClientConnection, n: int) -> list[dict[str, Any]]:
        return [json.loads(await asyncio.wait_for(client.recv(), 5)) for _ in range(n)]


Server = Literal["gateway", "plain", "takeover"]
SERVERS: tuple[Server, ...] = ("gateway", "plain", "takeover")


@asynccontextmanager
async def rig(
    clients: int,
    *,
    coalesce_s: float = 0.1,
    server: Server = "gateway",
    offers: Sequence[bool] | None = None,
) -> AsyncIterator[Rig]:
    """``clients`` live clients of a hub and its writer. ``server``: the extensions the
    gateway offers (permessage-deflate without context takeover), none, or websockets' default
    permessage-deflate with context takeover (frames then come from each connection's
    protocol). ``offers[i]``: whether client *i* offers permessage-deflate (default: all)."""
    offering = [True] * clients if offers is None else list(offers)
    hub, shell = Hub(coalesce_s=coalesce_s), ShellStats(stale_after_s=15.0)
    fanout = Fanout(
        hub,
        shell,
        write_limit=16 * 1024,
        send_timeout_s=5.0,
        heartbeat_s=60.0,
        heartbeat=lambda at: json.dumps({"type": "heartbeat", "at": at.isoformat()}),
        on_too_slow=lambda cid, ws: None,
    )
    box = Rig(hub, shell, fanout)
    done, joined = asyncio.Event(), asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        cid = hub.add_client()
        await ws.send(hub.take_snapshot(cid))
        hub.go_live(cid)
        write = ws.transport.write
        written = box.written[cid] = []

        def counted(data: bytes | bytearray | memoryview) -> None:
            box.transport_writes += 1
            written.append(bytes(data) if not isinstance(data, bytes) else data)
            write(data)

        ws.transport.write = counted  # type: ignore[method-assign]
        fanout.add(cid, ws)
        box.cids.append(cid)
        if len(box.cids) == clients:
            joined.set()
        try:
            await done.wait()
        finally:
            fanout.remove(cid)
            hub.remove_client(cid)

    writer = asyncio.create_task(fanout.run())
    extensions = compression(True) if server == "gateway" else None
    deflate: Literal["deflate"] | None = "deflate" if server == "takeover" else None
    async with serve(
        handler, "127.0.0.1", 0, compression=deflate, extensions=extensions
    ) as listening:
        port = listening.sockets[0].getsockname()[1]
        for offer in offering:
            client = await connect(
                f"ws://127.0.0.1:{port}",
                compression="deflate" if offer else None,
                max_size=2**20,
            )
            assert json.loads(await client.recv())["type"] == "snapshot"
            box.clients.append(client)
        await asyncio.wait_for(joined.wait(), 5)
        try:
            yield box
        finally:
            done.set()
            for client in box.clients:
                await client.close()
            writer.cancel()


@pytest.mark.parametrize("server", SERVERS)
async def test_a_scores_message_and_the_alerts_behind_it_go_in_one_write_in_order(
    server: Server,
) -> None:
    async with rig(2, coalesce_s=0.2, server=server, offers=(True, False)) as r:
        wake = r.hub.offer(score_update(DISTRICT, 1)).wake
        r.fanout.wake(wake)
        first = [await r.received(c, 1) for c in r.clients]
        assert [m[0]["type"] for m in first] == ["scores", "scores"]
        writes, sent = r.transport_writes, r.shell.others_sent
        counted = r.shell.socket_writes
        # Within the client's coalescing interval: the next scores message waits, and the
        # alerts offered after it wait behind it (the hub keeps delivery order).
        r.fanout.wake(r.hub.offer(score_update(DISTRICT, 2, 2.0)).wake)
        for n in (1, 2, 3):
            r.fanout.wake(r.hub.offer_alert(alert(f"a{n}", 1)).wake)
        for client in r.clients:
            messages = await r.received(client, 4)
            assert [m["type"] for m in messages] == ["scores", "alert", "alert", "alert"]
            assert messages[0]["districts"][0]["seq"] == 2
            assert [m["alert"]["id"] for m in messages[1:]] == ["a1", "a2", "a3"]
        assert r.shell.others_sent - sent == 2 * 3
        assert r.transport_writes - writes == 2  # four messages, one write per client
        assert r.shell.socket_writes - counted == 2


async def test_a_lone_message_and_a_heartbeat_still_go_and_are_counted() -> None:
    async with rig(1) as r:
        r.fanout.wake(r.hub.offer_alert(alert("lone", 1)).wake)
        (message,) = await r.received(r.clients[0], 1)
        assert message["type"] == "alert"
        assert message["alert"]["id"] == "lone"
        assert r.shell.socket_writes == r.transport_writes == 1
        r.fanout._heartbeat_s = 0.0  # every client is quiet for long enough now
        r.fanout._next_sweep = 0.0
        r.fanout.wake(())
        (beat,) = await r.received(r.clients[0], 1)
        assert beat["type"] == "heartbeat"
        assert datetime.fromisoformat(beat["at"]).tzinfo == UTC
        assert r.shell.heartbeats_sent >= 1


def answer(n: int, size: int, fill: str = "a") -> str:
    """An answer message of ``size`` UTF-8 bytes (``fill`` of one to three bytes per char)."""
    head = json.dumps({"type": "answer", "n": n, "pad": ""})
    room = size - len(head.encode())
    width = len(fill.encode())
    text = json.dumps({"type": "answer", "n": n, "pad": fill * (room // width)}, ensure_ascii=False)
    return text + " " * (size - len(text.encode()))  # JSON allows trailing blanks


# The three length encodings of a frame header and their edges, in bytes of UTF-8.
SIZES = (40, 125, 126, 127, 65_535, 65_536, 300_000)


@pytest.mark.parametrize("server", SERVERS)
async def test_messages_of_every_length_arrive_whole_in_order(server: Server) -> None:
    async with rig(2, server=server, offers=(True, False)) as r:
        texts = [answer(n, size, "가" if n % 2 else "a") for n, size in enumerate(SIZES)]
        assert [len(t.encode()) for t in texts] == list(SIZES)
        for cid in r.cids:
            for n, text in enumerate(texts):
                r.hub.tell(cid, f"answer:{n}", text)
            r.fanout.wake((cid,))
        for client in r.clients:
            got = [await asyncio.wait_for(client.recv(), 5) for _ in texts]
            assert got == texts


def unframe(frame: bytes) -> tuple[int, bytes]:
    """(first header byte, payload) of one unmasked frame from the server."""
    length, head = frame[1], 2
    assert not length & 0x80  # a server's frames are not masked
    if length == 126:
        length, head = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, head = int.from_bytes(frame[2:10], "big"), 10
    payload = frame[head:]
    assert len(payload) == length
    return frame[0], payload


async def test_clients_taking_the_same_message_are_written_the_same_bytes() -> None:
    offers = (True, True, False, False)  # two browsers offering compression, two not
    async with rig(4, offers=offers) as r:
        r.fanout.wake(r.hub.offer(score_update(DISTRICT, 1)).wake)
        for client in r.clients:
            (message,) = await r.received(client, 1)
            assert message["districts"][0]["seq"] == 1
        last = [r.written[cid][-1] for cid in r.cids]
        assert last[0] is last[1]  # compressed once in the pass, not once per client
        assert last[2] is last[3]  # framed once
        (b0, deflated), (p0, plain) = unframe(last[0]), unframe(last[2])
        assert (b0, p0) == (0xC1, 0x81)  # FIN + text; RSV1: compressed (RFC 7692)
        inflated = zlib.decompressobj(-15).decompress(deflated + b"\x00\x00\xff\xff")
        assert inflated == plain
        assert json.loads(plain)["type"] == "scores"
        assert len(deflated) < len(plain)


async def test_the_gateway_keeps_no_compression_state_per_connection() -> None:
    async with rig(2) as r:
        r.fanout.wake(r.hub.offer(score_update(DISTRICT, 1)).wake)
        for n, client in enumerate(r.clients):
            await r.received(client, 1)
            await client.send(json.dumps({"type": "ping", "n": n}))  # compressed by the client
            await (await client.ping())  # answered after the message before it was read
        server_side = r.fanout._conns
        for cid in r.cids:
            (extension,) = server_side[cid].ws.protocol.extensions
            assert isinstance(extension, PerMessageDeflate)
            assert extension.local_no_context_takeover
            assert extension.remote_no_context_takeover
            assert not hasattr(extension, "encoder")  # made per message and dropped
            assert not hasattr(extension, "decoder")
