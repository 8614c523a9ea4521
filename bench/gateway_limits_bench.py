"""``gateway_limits``: what 2,000 connections and an acknowledgement flood cost one gateway.

Starts the embedded Tansu broker, a fresh PostgreSQL database (the accounts) and ``riskmon
gateway`` as a child process, whose memory (RSS, psutil) is sampled every 0.2 s. No worker runs:
the acknowledgements the gateway publishes are never decided. Then:

1. RSS idle; N authenticated websocket clients connect: N / 20 operators with 20 connections
   each (the default per-user limit, kept), with bearer tokens; the per-gateway limit is set to
   N for the run. RSS with N open, and per connection. On the way, one user's 21st handshake
   must get HTTP 429 (the per-user limit); once N are open, another user's handshake must get
   HTTP 503 (the per-gateway limit).
2. A flood: every client sends acknowledgements of an alert that does not exist as fast as it
   can for ``flood_s`` seconds. The gateway publishes those within each client's message rate
   and pending-acknowledgement bound, answers the rest, and closes a client that outruns its
   message rate as read (4008) or leaves its answers unread (4013). The clients send no pings
   of their own, so every close is the gateway's doing. Reported: messages sent, closes by code
   and reason, the gateway's own counts, the slowest ``/healthz`` during the flood, the peak RSS
   during the flood, RSS once every client has gone, and whether the gateway still answers
   ``/healthz`` and a new connection afterwards.
3. Steps 1 and 2 again (``rounds``), against the same gateway: whether RSS keeps growing from
   round to round or what the first flood took is reused.

Targets: ≤ 64 KiB of RSS per connection; a peak during the first flood within 100 MiB of the RSS
with every connection open; 429 and 503 at the limits (every round); the gateway alive and
serving after the last round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench import Result, progress
from bench.gateway_bench import add_users, bearer_headers, gateway_settings, start_gateway
from bench.rig import postgres_database, raise_open_files
from streams.ops.embedded import EmbeddedBroker, stop_process
from streams.ops.topics import create_topics
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "run"]

KIB = 1024
MIB = 1024 * KIB
PER_CONNECTION_TARGET_KIB = 64
FLOOD_HEADROOM_MIB = 100
SETTLE_MAX_S = 120.0  # how long the gateway may take to work through what the flood sent
COUNTERS = ("riskmon_gateway_refused_total{", "riskmon_gateway_ack_answers_total{")


@dataclass(frozen=True)
class Sizes:
    connections: int
    flood_s: float
    rounds: int  # connect, flood, close: the later rounds show whether RSS keeps growing


FULL = Sizes(connections=2000, flood_s=10.0, rounds=2)
QUICK = Sizes(connections=200, flood_s=2.0, rounds=2)


class RssSampler:
    """The RSS of a process now, and its peak sampled every ``interval_s`` while running."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> int:
        rss: int = self.process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    async def _run(self) -> None:
        while True:
            self.now()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self.peak = self.now()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.peak


@dataclass
class HealthProbe:
    """``/healthz`` asked every ``interval_s`` while running: the slowest answer and failures."""

    base: str
    interval_s: float = 1.0
    slowest_ms: float = 0.0
    slowest_at_s: float = 0.0  # after start
    answers: Counter[int] = field(default_factory=Counter)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        began = time.perf_counter()
        while True:
            started = time.perf_counter()
            status = await asyncio.to_thread(_health, self.base)
            took_ms = (time.perf_counter() - started) * 1000
            if took_ms > self.slowest_ms:
                self.slowest_ms, self.slowest_at_s = took_ms, started - began
            self.answers[status] += 1
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _health(base: str) -> int:
    """The status of ``/healthz`` (0 when nothing answered within 10 s)."""
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


async def _wait_listening(base: str, gateway: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(_health, base) != 200:
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited with {gateway.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway was not healthy within 60 s")
        await asyncio.sleep(0.2)


def _metrics(base: str, headers: dict[str, str]) -> dict[str, float]:
    """The gateway's refusals and acknowledgement answers (``/metrics`` as an admin)."""
    request = urllib.request.Request(f"{base}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(COUNTERS):
            found[name] = float(value)
    return found


async def _connect(url: str, headers: dict[str, str]) -> websockets.ClientConnection:
    """A client that sends no pings (the gateway's keepalive still runs) and has read its
    snapshot."""
    ws = await websockets.connect(
        url, additional_headers=headers, max_size=None, ping_interval=None
    )
    await ws.recv()
    return ws


async def _handshake_status(url: str, headers: dict[str, str]) -> int:
    """The HTTP status of one more handshake: 101 when it was let in."""
    try:
        extra = await websockets.connect(url, additional_headers=headers)
    except InvalidStatus as refused:
        return refused.response.status_code
    await extra.close()
    return 101


async def _drain(ws: websockets.ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def _flood(ws: websockets.ClientConnection, until: float, n: int) -> int:
    """Send acknowledgements until ``until`` or until the gateway closes; how many were sent."""
    sent = 0
    message = {"type": "ack", "alert_id": f"bench-missing-{n}", "district": "4157056000"}
    with contextlib.suppress(ConnectionClosed):
        while time.monotonic() < until:
            await ws.send(json.dumps({**message, "request_id": f"r{sent}"}))
            sent += 1
            if sent % 16 == 0:
                await asyncio.sleep(0)  # let the others send too
    return sent


def _fd_limit(pid: int) -> int | None:
    try:
        soft, _ = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    except (psutil.Error, AttributeError):
        return None
    return int(soft)


@dataclass
class Round:
    """One round: N clients connect, flood and are closed; the gateway's figures meanwhile."""

    connected: int = 0  # RSS with every client open
    connect_s: float = 0.0
    over_user_status: int = 0
    over_limit_status: int = 0
    sent: int = 0
    closes: Counter[str] = field(default_factory=Counter)
    settle_s: float = 0.0
    close_s: float = 0.0
    healthz_slowest_ms: float = 0.0
    healthz_slowest_at_s: float = 0.0  # after the flood began
    healthz_answers: Counter[int] = field(default_factory=Counter)
    counted: dict[str, float] = field(default_factory=dict)  # the gateway's counts, this round
    at_flood_end: int = 0  # RSS when the clients stop sending
    peak: int = 0  # from the flood's start until 2 s after every client has gone
    after: int = 0

    def closed_with(self, code: int) -> int:
        return sum(v for k, v in self.closes.items() if k.split(" ", 1)[0] == str(code))

    def figures(self) -> dict[str, object]:
        return {
            "rss_connected_mib": round(self.connected / MIB, 1),
            "flood_messages_sent": self.sent,
            "flood_closed_4008": self.closed_with(4008),
            "flood_closed_4013": self.closed_with(4013),
            "flood_closes": dict(self.closes),
            "flood_settle_s": round(self.settle_s, 1),
            "clients_closed_in_s": round(self.close_s, 1),
            "gateway_counted": self.counted,
            "healthz_during": {
                "slowest_ms": round(self.healthz_slowest_ms, 1),
                "slowest_at_s": round(self.healthz_slowest_at_s, 1),
                "answers": {str(k): v for k, v in sorted(self.healthz_answers.items())},
            },
            "rss_at_flood_end_mib": round(self.at_flood_end / MIB, 1),
            "rss_flood_peak_mib": round(self.peak / MIB, 1),
            "rss_flood_peak_over_connected_mib": round((self.peak - self.connected) / MIB, 1),
            "rss_after_mib": round(self.after / MIB, 1),
        }


@dataclass
class Rig:
    """The running gateway and who may connect to it."""

    settings: Settings
    users: dict[str, dict[str, str]]  # operator -> handshake headers; each opens the per-user max
    spare: dict[str, str]  # an operator with no connection
    admin: dict[str, str]  # reads /metrics
    sampler: RssSampler

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.gateway_port}/ws"


async def _round(rig: Rig, sizes: Sizes, label: str) -> Round:
    """Open N clients (checking both connection limits on the way), flood, close them all."""
    n, per_user = sizes.connections, rig.settings.max_connections_per_user
    headers = list(rig.users.values())
    out = Round()
    clients: list[websockets.ClientConnection] = []
    drains: list[asyncio.Task[None]] = []
    probe = HealthProbe(rig.base)
    counted_before = await asyncio.to_thread(_metrics, rig.base, rig.admin)
    try:
        started = time.monotonic()
        for i in range(n):
            clients.append(await _connect(rig.url, headers[i // per_user]))
            if i + 1 == per_user:  # the first user is at its limit
                out.over_user_status = await _handshake_status(rig.url, headers[0])
            if (i + 1) % 500 == 0:
                progress(f"gateway_limits: {label}: {i + 1} open")
        out.connect_s = time.monotonic() - started
        await asyncio.sleep(1.0)
        out.connected = rig.sampler.now()
        out.over_limit_status = await _handshake_status(rig.url, rig.spare)
        progress(
            f"gateway_limits: {label}: {n} open, RSS {out.connected / MIB:.1f} MiB; "
            f"one more handshake: {out.over_limit_status}"
        )

        drains = [asyncio.create_task(_drain(ws)) for ws in clients]
        rig.sampler.start()
        probe.start()
        until = time.monotonic() + sizes.flood_s
        sent = await asyncio.gather(*(_flood(ws, until, i) for i, ws in enumerate(clients)))
        out.sent = sum(sent)
        flood_end = time.monotonic()
        out.at_flood_end = rig.sampler.now()
        progress(f"gateway_limits: {label}: flood sent {out.sent}; waiting for the gateway")
        # The gateway works through what each client sent (what it has read of each socket, the
        # rest waiting in the kernel's buffers) until it closes the client: past its message
        # rate as read (4008), or no pong to its keepalive ping (1011) because the pong waits
        # behind the client's own flood.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_MAX_S):
                await asyncio.gather(*drains, return_exceptions=True)
        out.settle_s = time.monotonic() - flood_end
        out.closes = Counter(
            f"{ws.close_code} {ws.close_reason}".strip() if ws.close_code else "open"
            for ws in clients
        )
        started = time.monotonic()
        for ws in clients:  # those the gateway left open
            await ws.close()
        await asyncio.gather(*drains, return_exceptions=True)
        out.close_s = time.monotonic() - started
        await asyncio.sleep(2.0)
        await probe.stop()
        out.peak = await rig.sampler.stop()
        out.after = rig.sampler.now()
        out.healthz_slowest_ms, out.healthz_answers = probe.slowest_ms, probe.answers
        out.healthz_slowest_at_s = probe.slowest_at_s
        counted = await asyncio.to_thread(_metrics, rig.base, rig.admin)
        out.counted = {
            k: v - counted_before.get(k, 0.0)
            for k, v in counted.items()
            if v - counted_before.get(k, 0.0)
        }
    finally:
        await probe.stop()
        await rig.sampler.stop()
        for task in drains:
            task.cancel()
        for ws in clients:
            with contextlib.suppress(Exception):
                await ws.close()
    progress(
        f"gateway_limits: {label}: closes {dict(out.closes)}, peak {out.peak / MIB:.1f} MiB, "
        f"after {out.after / MIB:.1f} MiB"
    )
    return out


async def _run(broker: EmbeddedBroker, pg_dsn: str, workdir: Path, sizes: Sizes) -> Result:
    n = sizes.connections
    settings = gateway_settings(broker, pg_dsn, workdir, max_connections=n)
    users = [f"op{u:04d}" for u in range(math.ceil(n / settings.max_connections_per_user))]
    await create_topics(settings)
    await add_users(
        pg_dsn, *((u, "operator") for u in users), ("spare", "operator"), ("root", "admin")
    )
    log_path = workdir / "gateway.log"
    gateway = await asyncio.to_thread(start_gateway, settings, log_path)
    try:
        rig = Rig(
            settings,
            {u: bearer_headers(settings, u, "operator") for u in users},
            bearer_headers(settings, "spare", "operator"),
            bearer_headers(settings, "root", "admin"),
            RssSampler(gateway.pid),
        )
        await _wait_listening(rig.base, gateway)
        await asyncio.sleep(1.0)
        idle = rig.sampler.now()
        progress(
            f"gateway_limits: idle RSS {idle / MIB:.1f} MiB; {n} connections "
            f"({len(users)} users × {settings.max_connections_per_user}), {sizes.rounds} rounds"
        )
        rounds = [await _round(rig, sizes, f"round {r + 1}") for r in range(sizes.rounds)]
        metrics = await asyncio.to_thread(_metrics, rig.base, rig.admin)
        healthy = await asyncio.to_thread(_health, rig.base)
        try:
            async with asyncio.timeout(10):
                fresh = await _connect(rig.url, rig.spare)
                await fresh.close()
            fresh_ok = True
        except (OSError, TimeoutError, InvalidStatus, ConnectionClosed):
            fresh_ok = False
        alive = gateway.poll() is None
        gateway_files = _fd_limit(gateway.pid)
        progress(f"gateway_limits: after: healthz {healthy}, new connection {fresh_ok}")
    except BaseException:
        progress("gateway_limits: failed; gateway log tail:\n" + log_path.read_text()[-3000:])
        raise
    finally:
        stop_process(gateway, timeout=15)
    return _result(
        settings,
        sizes,
        users=len(users),
        idle=idle,
        rounds=rounds,
        metrics=metrics,
        healthy=healthy,
        fresh_ok=fresh_ok and alive,
        gateway_files=gateway_files,
    )


def _result(
    settings: Settings,
    sizes: Sizes,
    *,
    users: int,
    idle: int,
    rounds: list[Round],
    metrics: dict[str, float],
    healthy: int,
    fresh_ok: bool,
    gateway_files: int | None,
) -> Result:
    first = rounds[0]
    per_connection_kib = (first.connected - idle) / sizes.connections / KIB
    checks = {
        "rss_per_connection": per_connection_kib <= PER_CONNECTION_TARGET_KIB,
        "flood_peak": first.peak <= first.connected + FLOOD_HEADROOM_MIB * MIB,
        "per_user_limit_429": all(r.over_user_status == 429 for r in rounds),
        "gateway_limit_503": all(r.over_limit_status == 503 for r in rounds),
        # 503 from /healthz says only that Kafka is not read: the process answers
        "serving_after": healthy in (200, 503) and fresh_ok,
    }
    return {
        "connections": sizes.connections,
        "users": users,
        "limits": {
            "max_connections": settings.max_connections,
            "max_connections_per_user": settings.max_connections_per_user,
            "ws_message_rate": settings.ws_message_rate,
            "ws_message_burst": settings.ws_message_burst,
            "ws_queue_max": settings.ws_queue_max,
        },
        "gateway_open_files_limit": gateway_files,
        "connect_s": round(first.connect_s, 1),
        "rss_idle_mib": round(idle / MIB, 1),
        "rss_connected_mib": round(first.connected / MIB, 1),
        "rss_per_connection_kib": round(per_connection_kib, 1),
        "over_user_limit_handshake_status": first.over_user_status,
        "over_limit_handshake_status": first.over_limit_status,
        "flood_s": sizes.flood_s,
        **first.figures(),
        "later_rounds": [r.figures() for r in rounds[1:]],
        "gateway_counted_all_rounds": metrics,
        "healthz_after": healthy,
        "new_connection_after": fresh_ok,
        "checks": checks,
        "target": (
            f"≤ {PER_CONNECTION_TARGET_KIB} KiB per connection; first flood's peak ≤ connected + "
            f"{FLOOD_HEADROOM_MIB} MiB; 429 over the per-user limit, 503 over the gateway's; "
            "serving after"
        ),
        "met": all(checks.values()),
    }


def run(quick: bool = False) -> dict[str, Result]:
    """Start the broker, a database and a gateway; measure; stop them all (by PID)."""
    sizes = QUICK if quick else FULL
    files = raise_open_files(4 * sizes.connections + 1024)
    if files < 2 * sizes.connections + 256:
        raise RuntimeError(
            f"the open-file limit is {files} and cannot be raised: too low for "
            f"{sizes.connections} connections (client and gateway ends)"
        )
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-limits-") as tmp:
        workdir = Path(tmp)
        progress("gateway_limits: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, origin):
                result = asyncio.run(_run(broker, pg_dsn, workdir, sizes))
        finally:
            broker.stop()
    result["postgres"] = origin
    result["open_files_limit"] = files
    return {"gateway_limits": result}
