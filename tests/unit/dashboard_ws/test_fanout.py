"""The gateway's writer over real websocket connections on localhost: what a client is due at one
pass reaches it in order, in one socket write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from dashboard_ws.fanout import Fanout
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

    async def received(self, client: ClientConnection, n: int) -> list[dict[str, Any]]:
        return [json.loads(await asyncio.wait_for(client.recv(), 5)) for _ in range(n)]


@asynccontextmanager
async def rig(clients: int, *, coalesce_s: float = 0.1) -> AsyncIterator[Rig]:
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

        def counted(data: bytes | bytearray | memoryview) -> None:
            box.transport_writes += 1
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
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        for _ in range(clients):
            client = await connect(f"ws://127.0.0.1:{port}")
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


async def test_a_scores_message_and_the_alerts_behind_it_go_in_one_write_in_order() -> None:
    async with rig(2, coalesce_s=0.2) as r:
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
