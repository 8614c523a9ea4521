"""One client process of ``gateway_fanout_large`` (:mod:`bench.fanout_bench`): many websocket
clients of one gateway, recording when each district update arrives.

Run by the benchmark as ``python bench/fanout_clients.py --port P --clients N`` with the bearer
token in the environment (``RISKMON_BENCH_TOKEN``, so it is not on a command line). Standard
library only (no numpy, no websockets), so that a process starts fast and small, and uvloop's
event loop where it is installed (the ``test`` extra): at 1,000 clients the four client
processes took 0.32–0.36 cores on uvloop against 0.54–0.60 on asyncio's loop (2026-12-06,
bench/README.md), CPU the gateway shares on one machine. ``--loop asyncio`` runs them without it.

The clients are lean on purpose: one :class:`asyncio.Protocol` per connection that does the
RFC 6455 opening handshake itself (``Authorization: Bearer``, ``Sec-WebSocket-Accept`` checked),
parses the server's frames in place (answers pings, the close handshake, fragments) and takes
each district's ``district`` and ``seq`` out of a ``scores`` message with two regular expressions
instead of decoding its JSON. Clients built on ``websockets`` and ``json.loads`` take more CPU per
frame, and with thousands of clients on a two-core machine the clients, not the gateway, would set
the figures. One scores message in ``--verify-every`` is decoded with
``json.loads`` as well, and any difference from the expressions is counted (``verify``), so the
shortcut is checked on the run itself. ``--parse find`` takes the same pairs out with
``bytes.find`` (:func:`district_seqs_find`: about twice as fast as the expressions, 58 against
115 µs on a 110 KB message of 14 districts with 50 drivers each; :mod:`bench.load_bench` uses
it); it is checked the same way. ``--deflate``: the clients offer permessage-deflate as Chromium
does and inflate what comes compressed (``scores_wire_bytes``: the bytes as they came).

Protocol with the benchmark (one JSON object per line):

1. stdout ``{"event": "connected", ...}`` once every client has its snapshot (or has failed);
2. stdin ``{"sent": FILE, "t0": ..., "t_last": ...}``: FILE holds the produced updates as
   ``[[district, seq, monotonic produce time], ...]``; ``t0``/``t_last`` are the first and last
   produce times (the window frame rates are counted in). The command may also hold ``"final":
   {district: seq}``, each district's last seq as the benchmark saw it on the scores topic: a
   client then has the final state when it got every district at that seq or a newer one (without
   it: at the newest seq of FILE); and ``"also": {label: FILE2}``, more files of the same form
   whose pairs are summed up the same way (the result's ``also[label]`` holds their pairs, exact,
   undelivered and latencies);
3. stdout ``{"event": "result", ...}``: figures per client aggregated over this process (see
   :func:`summarize`); then the clients close and the process exits. End of stdin also ends it.

Arrival times are ``time.monotonic()`` when the bytes of a frame are handed to the protocol:
CLOCK_MONOTONIC is one clock for every process of the machine, so they compare with the produce
times the benchmark took.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import importlib.util
import itertools
import json
import os
import re
import sys
import time
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = [
    "PARSERS",
    "FrameStats",
    "LeanClient",
    "district_seqs",
    "district_seqs_find",
    "main",
    "summarize",
]

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"  # Chromium's
EMPTY_BLOCK = b"\x00\x00\xff\xff"  # removed from the end of each compressed message (RFC 7692)
TOKEN_ENV = "RISKMON_BENCH_TOKEN"
SCORES_PREFIX = b'{"type":"scores"'
SNAPSHOT_PREFIX = b'{"type":"snapshot"'
HEARTBEAT_PREFIX = b'{"type":"heartbeat"'
# Each district of a scores message is a ScoreUpdate encoded by the gateway (model_dump_json):
# it opens with its district code, and its seq follows its record format. No nested object of a
# ScoreUpdate has a "district" key first or a "format" key.
DISTRICT_RE = re.compile(rb'\{"district":"([^"\\]*)"')
SEQ_RE = re.compile(rb'"format":\d+,"seq":(\d+)')
HIST_PER_MS = 10  # latency histogram buckets of 0.1 ms


def district_seqs(payload: bytes) -> list[tuple[bytes, int]]:
    """The (district code, seq) of every update a ``scores`` message carries, in order.

    >>> district_seqs(b'{"type":"scores","at":"x","districts":[{"district":"41","name":"n",'
    ...               b'"drivers":[],"format":1,"seq":7,"reason":"events"}]}')
    [(b'41', 7)]
    """
    codes = DISTRICT_RE.findall(payload)
    seqs = SEQ_RE.findall(payload)
    if len(codes) != len(seqs):
        raise ValueError(f"{len(codes)} districts but {len(seqs)} seqs in a scores message")
    return [(code, int(seq)) for code, seq in zip(codes, seqs, strict=True)]


DISTRICT_KEY = b'{"district":"'
FORMAT_KEY = b'"format":'
SEQ_KEY = b',"seq":'


def district_seqs_find(payload: bytes) -> list[tuple[bytes, int]]:
    """What :func:`district_seqs` finds, found with ``bytes.find`` (one pass, no regex engine):
    each update's district code, then its ``"format":N,"seq":S``.

    >>> district_seqs_find(b'{"type":"scores","at":"x","districts":[{"district":"41","name":"n",'
    ...                    b'"drivers":[],"format":1,"seq":7,"reason":"events"}]}')
    [(b'41', 7)]
    """
    found: list[tuple[bytes, int]] = []
    find = payload.find
    pos = 0
    while True:
        start = find(DISTRICT_KEY, pos)
        if start < 0:
            return found
        start += len(DISTRICT_KEY)
        end = find(b'"', start)
        fmt = find(FORMAT_KEY, end)
        seq_at = find(SEQ_KEY, fmt)
        if end < 0 or fmt < 0 or seq_at < 0:
            raise ValueError("a district without its format and seq in a scores message")
        seq_at += len(SEQ_KEY)
        stop, size = seq_at, len(payload)
        while stop < size and 48 <= payload[stop] <= 57:  # digits
            stop += 1
        found.append((payload[start:end], int(payload[seq_at:stop])))
        pos = stop


Parser = Callable[[bytes], list[tuple[bytes, int]]]
PARSERS: dict[str, Parser] = {"regex": district_seqs, "find": district_seqs_find}


@dataclass
class FrameStats:
    """What every client of a process shares: how ``scores`` messages are read (``parse``) and
    the verification of that shortcut against ``json.loads``."""

    verify_every: int
    parse: Parser = district_seqs
    scores_seen: int = 0
    verified: int = 0
    mismatches: int = 0

    def check(self, payload: bytes, found: list[tuple[bytes, int]]) -> None:
        self.scores_seen += 1
        if self.scores_seen % self.verify_every:
            return
        self.verified += 1
        message = json.loads(payload)
        decoded = [(d["district"].encode(), int(d["seq"])) for d in message["districts"]]
        if decoded != found:
            self.mismatches += 1


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    return key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked frame from client to server (control frames: payload ≤ 125 bytes)."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + _mask(payload)


@dataclass(eq=False)
class LeanClient(asyncio.Protocol):
    """One websocket client: handshake, frames, and per district the (seq, arrival) it got."""

    host: str
    port: int
    path: str
    token: str
    stats: FrameStats
    live: asyncio.Future[float]  # set to the snapshot's arrival time, or to an exception
    lost: asyncio.Future[None]
    transport: asyncio.Transport | None = None
    status: int | None = None  # the handshake's HTTP status
    close_code: int | None = None  # of a close frame from the gateway
    closing: bool = False  # we started the close
    key: bytes = b""
    buffer: bytearray = field(default_factory=bytearray)
    handshake_done: bool = False
    fragments: list[bytes] = field(default_factory=list)
    # district -> (seqs, arrival times), in arrival order
    received: dict[bytes, tuple[array[int], array[float]]] = field(default_factory=dict)
    scores_times: array[float] = field(default_factory=lambda: array("d"))
    scores_bytes: int = 0
    heartbeats: int = 0
    others: int = 0
    deflate: bool = False  # offer permessage-deflate, as browsers do
    inflating: bool = False  # the gateway accepted it
    takeover: bool = True  # the gateway's compressor keeps its window between messages
    inflater: Any = None  # zlib decompressor kept between messages (context takeover)
    compressed: bool = False  # the fragmented message under way is compressed
    wire_bytes: int = 0  # of scores messages as they came (compressed or not)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have its methods
        self.transport = cast(asyncio.Transport, transport)
        self.key = base64.b64encode(os.urandom(16))
        request = (
            f"GET {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {self.token}\r\n"
            f"{OFFER if self.deflate else ''}"
            "User-Agent: riskmon-fanout-bench\r\n\r\n"
        )
        self.transport.write(request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.live.done():
            self.live.set_exception(
                ConnectionError(f"closed before the snapshot (status {self.status})")
            )
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.handshake_done:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            data = bytes(self.buffer[end + 4 :])
            self.buffer = bytearray()
            if not self._handshake(head):
                return
            if not data:
                return
        view: bytes | bytearray = data
        if self.buffer:
            self.buffer += data
            view = self.buffer
        size, pos = len(view), 0
        while size - pos >= 2:
            b0, b1 = view[pos], view[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, header = int.from_bytes(view[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, header = int.from_bytes(view[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                self._fail("the server masked a frame")
                return
            end = pos + header + length
            if end > size:
                break
            self._frame(b0, bytes(view[pos + header : end]), now)
            pos = end
        self.buffer = bytearray(view[pos:]) if pos < size else bytearray()

    def _handshake(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
        if self.status != 101:
            self._fail(f"handshake answered {self.status}")
            return False
        if headers.get("sec-websocket-accept") != expected:
            self._fail("wrong Sec-WebSocket-Accept")
            return False
        accepted = headers.get("sec-websocket-extensions", "")
        if accepted:
            if not self.deflate or not accepted.startswith("permessage-deflate"):
                self._fail(f"extension not offered: {accepted}")
                return False
            self.inflating = True
            self.takeover = "server_no_context_takeover" not in accepted
        self.handshake_done = True
        return True

    def _fail(self, reason: str) -> None:
        if not self.live.done():
            self.live.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    def _frame(self, b0: int, payload: bytes, now: float) -> None:
        opcode = b0 & 0x0F
        if opcode in (0x1, 0x2):
            self.compressed = bool(b0 & 0x40)
            if self.compressed and not self.inflating:
                self._fail("a compressed frame without the extension")
                return
            if b0 & 0x80:
                self._whole(payload, now)
            else:
                self.fragments = [payload]
        elif opcode == 0x0:
            self.fragments.append(payload)
            if b0 & 0x80:
                whole = b"".join(self.fragments)
                self.fragments = []
                self._whole(whole, now)
        elif opcode == 0x9 and self.transport is not None:  # ping: pong with its payload
            self.transport.write(_client_frame(0xA, payload))
        elif opcode == 0x8:
            if len(payload) >= 2 and not self.closing:
                self.close_code = int.from_bytes(payload[:2], "big")
            if self.transport is not None:
                if not self.closing:
                    self.transport.write(_client_frame(0x8, payload[:2]))
                self.transport.close()

    def _whole(self, wire: bytes, now: float) -> None:
        """A whole message as it came: inflated if it is compressed (RFC 7692)."""
        if not self.compressed:
            self._message(wire, now, len(wire))
            return
        inflater = self.inflater
        if inflater is None or not self.takeover:
            inflater = self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._message(inflater.decompress(wire + EMPTY_BLOCK), now, len(wire))

    def _message(self, payload: bytes, now: float, wire: int) -> None:
        if payload.startswith(SCORES_PREFIX):
            found = self.stats.parse(payload)
            self.stats.check(payload, found)
            received = self.received
            for code, seq in found:
                entry = received.get(code)
                if entry is None:
                    entry = received[code] = (array("q"), array("d"))
                entry[0].append(seq)
                entry[1].append(now)
            self.scores_times.append(now)
            self.scores_bytes += len(payload)
            self.wire_bytes += wire
        elif payload.startswith(SNAPSHOT_PREFIX):
            if not self.live.done():
                self.live.set_result(now)
        elif payload.startswith(HEARTBEAT_PREFIX):
            self.heartbeats += 1
        else:
            self.others += 1

    def close(self) -> None:
        """Start the close handshake (code 1000); the transport closes when the answer comes."""
        if self.transport is None or self.transport.is_closing():
            return
        self.closing = True
        self.transport.write(_client_frame(0x8, (1000).to_bytes(2, "big")))


@dataclass
class Connector:
    """Opens ``clients`` connections, at most ``concurrency`` handshakes at a time."""

    host: str
    port: int
    path: str
    token: str
    stats: FrameStats
    timeout_s: float = 60.0
    deflate: bool = False
    clients: list[LeanClient] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    first_start: float = 0.0
    last_live: float = 0.0

    async def open_one(self, gate: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        client = LeanClient(
            self.host,
            self.port,
            self.path,
            self.token,
            self.stats,
            loop.create_future(),
            loop.create_future(),
            deflate=self.deflate,
        )
        async with gate:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await loop.create_connection(lambda: client, self.host, self.port)
                    live_at = await client.live
            except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
                self.failures[str(exc) or type(exc).__name__] += 1
                if client.transport is not None:
                    client.transport.abort()
                return
        self.clients.append(client)
        self.last_live = max(self.last_live, live_at)

    async def open_all(self, n: int, concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)
        self.first_start = time.monotonic()
        await asyncio.gather(*(self.open_one(gate) for _ in range(n)))


def _percentile_rank(total: int, q: float) -> int:
    return min(total - 1, int(q / 100 * total))


def summarize(
    clients: Sequence[LeanClient],
    sent: Sequence[tuple[str, int, float]],
    t0: float,
    t_last: float,
    final: Mapping[bytes, int] | None = None,
) -> dict[str, Any]:
    """This process's figures over every (client, produced update) pair.

    A pair's latency runs from the update's produce time to the arrival of the first frame that
    carries its district at this seq *or a newer one* (a coalesced frame delivers the newest
    state; the update it superseded needs no frame of its own). ``exact`` counts the pairs whose
    own seq arrived. A pair for which no such frame came is ``undelivered``. A client has the
    final state when it got every district of ``final`` at that seq or a newer one (default:
    every district of ``sent`` at its newest seq there).
    """
    by_district: dict[bytes, list[tuple[int, float]]] = {}
    for name, seq, produced in sent:
        by_district.setdefault(name.encode(), []).append((seq, produced))
    if final is None:
        final = {code: max(s for s, _ in updates) for code, updates in by_district.items()}
    histogram: Counter[int] = Counter()
    pairs = exact = undelivered = with_final = 0
    worst = 0.0
    frame_rates: list[float] = []
    window = max(t_last - t0, 1e-9)
    updates_in_frames = frames_total = 0
    unordered = 0
    empty: tuple[array[int], array[float]] = (array("q"), array("d"))
    for client in clients:
        has_final = True
        for code, last in final.items():
            seqs = client.received.get(code, empty)[0]
            if not seqs or seqs[-1] < last:
                has_final = False
        for code, updates in by_district.items():
            seqs, times = client.received.get(code, empty)
            if any(a >= b for a, b in itertools.pairwise(seqs)):
                unordered += 1  # a district's seq must only grow on one connection
            for seq, produced in updates:
                pairs += 1
                at = bisect_left(seqs, seq)
                if at == len(seqs):
                    undelivered += 1
                    continue
                if seqs[at] == seq:
                    exact += 1
                latency_ms = (times[at] - produced) * 1000
                worst = max(worst, latency_ms)
                histogram[max(0, int(latency_ms * HIST_PER_MS))] += 1
        with_final += has_final
        in_window = sum(1 for t in client.scores_times if t0 <= t <= t_last)
        frame_rates.append(in_window / window)
        frames_total += len(client.scores_times)
        updates_in_frames += sum(len(s) for s, _ in client.received.values())
    return {
        "clients": len(clients),
        "pairs": pairs,
        "exact": exact,
        "undelivered": undelivered,
        "latency_hist": {str(k): v for k, v in sorted(histogram.items())},
        "latency_max_ms": round(worst, 1),
        "clients_with_final_state": with_final,
        "frame_rates": frame_rates,
        "scores_frames": frames_total,
        "updates_in_frames": updates_in_frames,
        "scores_bytes": sum(c.scores_bytes for c in clients),
        "scores_wire_bytes": sum(c.wire_bytes for c in clients),
        "clients_inflating": sum(c.inflating for c in clients),
        "heartbeats": sum(c.heartbeats for c in clients),
        "other_messages": sum(c.others for c in clients),
        "seq_not_increasing": unordered,
        "closed_by_gateway": dict(
            Counter(str(c.close_code) for c in clients if c.close_code is not None)
        ),
    }


ALSO_KEYS = ("pairs", "exact", "undelivered", "latency_hist", "latency_max_ms")


async def _read_sent(path: str) -> list[tuple[str, int, float]]:
    text = await asyncio.to_thread(Path(path).read_text)
    return [(c, int(s), float(t)) for c, s, t in json.loads(text)]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace, token: str) -> int:
    stats = FrameStats(args.verify_every, PARSERS[args.parse])
    connector = Connector(
        args.host, args.port, args.path, token, stats, args.timeout, deflate=args.deflate
    )
    await connector.open_all(args.clients, args.concurrency)
    _emit(
        {
            "event": "connected",
            "pid": os.getpid(),
            "loop": args.loop,
            "clients": len(connector.clients),
            "failures": dict(connector.failures),
            "first_start": connector.first_start,
            "last_live": connector.last_live,
        }
    )
    try:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return 1  # the benchmark went away
        command = json.loads(line)
        sent = await _read_sent(command["sent"])
        t0, t_last = float(command["t0"]), float(command["t_last"])
        final = command.get("final")
        finals = None if final is None else {str(c).encode(): int(s) for c, s in final.items()}
        result = summarize(connector.clients, sent, t0, t_last, finals)
        also: dict[str, dict[str, Any]] = {}
        for label, path in (command.get("also") or {}).items():
            more = summarize(connector.clients, await _read_sent(path), t0, t_last, finals)
            also[str(label)] = {key: more[key] for key in ALSO_KEYS}
        if also:
            result["also"] = also
        result.update(
            event="result",
            still_open=sum(not c.lost.done() for c in connector.clients),
            verify={
                "every": stats.verify_every,
                "scores_seen": stats.scores_seen,
                "verified": stats.verified,
                "mismatches": stats.mismatches,
            },
        )
        _emit(result)
    finally:
        for client in connector.clients:
            client.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*(c.lost for c in connector.clients))
        for client in connector.clients:
            if client.transport is not None:
                client.transport.abort()
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16, help="handshakes at a time")
    parser.add_argument("--timeout", type=float, default=60.0, help="per client: to snapshot")
    parser.add_argument("--verify-every", type=int, default=64, help="json.loads 1 in N")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="offer permessage-deflate as a browser does, and inflate what comes compressed",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        help="the event loop: uvloop (where installed) takes about a third less CPU per frame",
    )
    parser.add_argument(
        "--parse",
        choices=sorted(PARSERS),
        default="regex",
        help="how district and seq are taken out of a scores message",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"{TOKEN_ENV} is not set", file=sys.stderr)
        return 2
    if args.loop == "uvloop":
        import uvloop  # the test extra installs it

        return uvloop.run(_run(args, token))
    return asyncio.run(_run(args, token))


if __name__ == "__main__":
    sys.exit(main())
