"""The gateway's writer: every client's queue written from one task, without awaiting any client.

The hub (:mod:`dashboard_ws.hub`) decides *what* each client receives and when its next
``scores`` message may go; this module only moves the hub's messages onto the sockets. One task
(:meth:`Fanout.run`) does it for every client: when the hub says a queue turned non-empty
(:meth:`Fanout.wake`), when a client's coalescing interval ends, or when a slow client's socket
drains, it takes every message the client is due with :meth:`~dashboard_ws.hub.Hub.pop_next`,
has the connection's websocket protocol frame them, and writes the frames to the socket's
transport synchronously in one write (a lone message goes through ``websockets.broadcast`` to
that one connection). The hub keeps delivery order, so alerts queued while a ``scores`` message
waits for its coalescing interval go right behind it, in the same write: at 1,000 incidents/s
about as many alert messages as scores messages reach each client, and each write is a system
call on both sides.

Why one task and no await per message: with thousands of clients, a writer task per client that
awaits each ``send`` under a timeout costs a task switch, a timer and a wake-up per frame, and
the gateway's one event loop spent more time scheduling than writing (issue 18). Written
synchronously, a pass over a client costs the hub's bookkeeping and one ``transport.write``.

Backpressure: a client whose transport still buffers more than ``write_limit`` bytes is not
written to. Its queue keeps coalescing in the hub (at most one entry per district), so it costs
no more memory however far it falls behind, and it delays no other client. It is looked at again
every :data:`BLOCKED_POLL_S`; once below the limit it gets its newest state. A client blocked for
longer than ``send_timeout_s`` is handed to ``on_too_slow`` (the gateway closes it, 4014).

Heartbeats: a client sent nothing for ``heartbeat_s`` gets the ``heartbeat`` message (checked
every :data:`SWEEP_S`).

Every message of one text is encoded once per pass, however many clients take it (the hub shares
the text of a ``scores`` message between the clients that take the same districts): to UTF-8 and
to the bytes of its websocket frame, compressed or not (:mod:`dashboard_ws.frames`: the frame is
the same bytes for every connection with the same compression parameters). They go to the
transports as they are: writing a 60 KiB ``scores`` message to 1,000 clients costs 1,000
``transport.write`` calls, not 1,000 frames built, copied (and compressed) by each connection's
protocol. A connection where that would not be exact (an unknown extension, a fragmented message
under way) has its protocol frame the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State

from dashboard_ws.frames import Message
from dashboard_ws.hub import ClientId, Hub, NotYet
from dashboard_ws.metrics import ShellStats

__all__ = ["BLOCKED_POLL_S", "SWEEP_S", "Fanout"]

log = logging.getLogger("riskmon.gateway")

BLOCKED_POLL_S = 0.02  # how often a client with a full socket buffer is looked at again
SWEEP_S = 1.0  # how often silent clients are checked for a heartbeat


@dataclass(slots=True)
class _Conn:
    ws: ServerConnection
    last_sent: float  # monotonic time of the last message written
    due: float | None = None  # a scores message may go at this monotonic time (queued in _due)


class Fanout:
    """Writes the hub's messages to the clients' sockets from one task.

    ``heartbeat`` makes the text of a heartbeat message; ``on_too_slow`` is called once for a
    client blocked longer than ``send_timeout_s`` (it is forgotten here at the same moment).
    ``clock`` is monotonic seconds, ``wall`` the hub's clock; both are arguments for tests.
    """

    def __init__(
        self,
        hub: Hub,
        shell: ShellStats,
        *,
        write_limit: int,
        send_timeout_s: float,
        heartbeat_s: float,
        heartbeat: Callable[[datetime], str],
        on_too_slow: Callable[[ClientId, ServerConnection], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hub = hub
        self._shell = shell
        self._write_limit = write_limit
        self._send_timeout_s = send_timeout_s
        self._heartbeat_s = heartbeat_s
        self._heartbeat = heartbeat
        self._on_too_slow = on_too_slow
        self._clock = clock
        self._wall = wall
        self._conns: dict[ClientId, _Conn] = {}
        self._ready: set[ClientId] = set()  # their queue turned non-empty
        self._due: list[tuple[float, ClientId]] = []  # (when, client): a scores message waits
        self._blocked: dict[ClientId, float] = {}  # socket buffer over the limit since
        self._next_sweep = 0.0
        self._event = asyncio.Event()

    # --- what the gateway calls -----------------------------------------------------------------

    def add(self, cid: ClientId, ws: ServerConnection) -> None:
        """Start writing to a LIVE client (its snapshot is sent); its queue is looked at now."""
        self._conns[cid] = _Conn(ws, self._clock())
        self.wake((cid,))

    def remove(self, cid: ClientId) -> None:
        """Stop writing to the client (call before the hub forgets it)."""
        self._conns.pop(cid, None)
        self._ready.discard(cid)
        self._blocked.pop(cid, None)

    def wake(self, clients: Iterable[ClientId]) -> None:
        """The hub says these clients' queues turned non-empty."""
        self._ready.update(clients)
        self._event.set()

    @property
    def blocked_count(self) -> int:
        """Clients whose socket buffer is over the limit right now."""
        return len(self._blocked)

    async def run(self) -> None:
        """Write until cancelled."""
        loop = asyncio.get_running_loop()
        event = self._event
        while True:
            delay = self.next_delay()
            handle = loop.call_later(delay, event.set) if delay > 0 else None
            if delay > 0:
                await event.wait()
            if handle is not None:
                handle.cancel()
            event.clear()
            self.flush()
            await asyncio.sleep(0)  # let the readers and the consumer run between passes

    # --- the pass -------------------------------------------------------------------------------

    def next_delay(self) -> float:
        """Seconds until the next pass is needed if no client is woken meanwhile."""
        if self._ready:
            return 0.0
        now = self._clock()
        until = self._next_sweep
        if self._due:
            until = min(until, self._due[0][0])
        if self._blocked:
            until = min(until, now + BLOCKED_POLL_S)
        return max(0.0, until - now)

    def flush(self) -> None:
        """One pass: write what is due to every client that can take it."""
        self._shell.write_passes += 1
        now = self._clock()
        candidates = self._ready
        self._ready = set()
        due = self._due
        while due and due[0][0] <= now:
            _, cid = heapq.heappop(due)
            conn = self._conns.get(cid)
            if conn is not None:
                conn.due = None
                candidates.add(cid)
        candidates.update(self._blocked)
        wall = self._wall()
        encoded: dict[int, Message] = {}
        for cid in candidates:
            self._flush_one(cid, now, wall, encoded)
        if now >= self._next_sweep:
            self._next_sweep = now + min(SWEEP_S, self._heartbeat_s)
            self._sweep(now, wall)
        self._shell.clients_blocked = len(self._blocked)

    def _flush_one(
        self, cid: ClientId, now: float, wall: datetime, encoded: dict[int, Message]
    ) -> None:
        conn = self._conns.get(cid)
        if conn is None or conn.ws.state is not State.OPEN:
            return
        hub, shell = self._hub, self._shell
        if not self._writable(cid, conn, now):
            return
        messages: list[Message] = []
        while True:
            out = hub.pop_next(cid, wall)
            if out is None:
                break
            if isinstance(out, NotYet):
                if conn.due is None:
                    conn.due = now + out.wait_s
                    heapq.heappush(self._due, (conn.due, cid))
                break
            messages.append(self._encoded(out.text, encoded))
            if out.updates:
                shell.scores_sent += 1
                shell.score_updates_sent += out.updates
            else:
                shell.others_sent += 1
        if messages:
            self._write(conn, messages, now)

    def _writable(self, cid: ClientId, conn: _Conn, now: float) -> bool:
        """False while the client's socket holds more than the limit (and past the timeout,
        the client is given up on)."""
        transport = conn.ws.transport
        if transport.get_write_buffer_size() <= self._write_limit:
            self._blocked.pop(cid, None)
            return True
        since = self._blocked.setdefault(cid, now)
        if now - since > self._send_timeout_s:
            self.remove(cid)
            self._on_too_slow(cid, conn.ws)
        return False

    @staticmethod
    def _encoded(text: str, encoded: dict[int, Message]) -> Message:
        """``text`` encoded, once per pass however many clients take it."""
        held = encoded.get(id(text))
        if held is None or held.text is not text:
            held = encoded[id(text)] = Message(text)
        return held

    def _write(self, conn: _Conn, messages: list[Message], now: float) -> None:
        """The client's messages of this pass written to its socket in one call (one system
        call where the socket takes it all): a scores message and the alerts queued behind it
        used to cost one write each. The frames are the pass's shared bytes where they are
        exact for this connection (:mod:`dashboard_ws.frames`), else its protocol frames them."""
        self._shell.socket_writes += 1
        conn.last_sent = now
        ws = conn.ws
        protocol = ws.protocol
        fragmenting = ws.send_in_progress is not None
        frames: list[bytes] = []
        for message in messages:
            frame = message.frame_for(protocol, fragmenting)
            if frame is None:
                break
            frames.append(frame)
        else:
            ws.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            return
        if len(messages) == 1 or fragmenting:
            for message in messages:  # websockets' own path (it skips a fragmented send under way)
                broadcast((ws,), message.payload, text=True)
            return
        try:
            for message in messages:
                protocol.send_text(message.payload)
            data = protocol.data_to_send()
        except Exception as exc:  # as websockets' broadcast: a failed write skips the client
            log.warning("skipped write: %s", exc)
            return
        transport = ws.transport
        run: list[bytes] = []
        for chunk in data:
            if chunk:
                run.append(chunk)
                continue
            # The end of the stream (never from send_text): as websockets' Connection.send_data.
            if run:
                transport.write(b"".join(run))
                run = []
            if transport.can_write_eof():
                with contextlib.suppress(Exception):
                    transport.write_eof()
            else:
                transport.close()
        if run:
            transport.write(b"".join(run))

    def _sweep(self, now: float, wall: datetime) -> None:
        """A heartbeat to every open client that was sent nothing for ``heartbeat_s``."""
        quiet_since = now - self._heartbeat_s
        text: str | None = None
        encoded: dict[int, Message] = {}
        for cid, conn in list(self._conns.items()):
            if conn.last_sent > quiet_since or conn.ws.state is not State.OPEN:
                continue
            if not self._writable(cid, conn, now):
                continue
            if text is None:
                text = self._heartbeat(wall)
            self._write(conn, [self._encoded(text, encoded)], now)
            self._shell.heartbeats_sent += 1
