"""``gateway_limits``: what 2,000 connections and an acknowledgement flood cost one gateway.

Starts the embedded Tansu broker, a fresh PostgreSQL database (the accounts) and ``riskmon
gateway`` as a child process, whose memory (RSS, psutil) is sampled every 0.2 s. Then:

1. RSS idle; N authenticated websocket clients connect (operators with bearer tokens; the
   per-user limit is raised to N for the run, the per-gateway limit set to N); RSS with N open,
   and per connection.
2. One more handshake: it must get HTTP 503 (the per-gateway limit).
3. A flood: every client sends acknowledgements of an alert that does not exist as fast as it
   can for ``flood_s`` seconds. The gateway publishes those within each client's message rate
   and pending-acknowledgement bound, answers the rest, and closes a client that outruns its
   message rate (4008) or leaves its answers unread (4013). Reported: messages sent, closes by
   code, the peak RSS during the flood, RSS once every client has gone, and whether the gateway
   still answers ``/healthz`` and a new connection afterwards.

Targets: ≤ 64 KiB of RSS per connection; a peak during the flood within 100 MiB of the RSS with
every connection open; the gateway alive and serving after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench import Result, progress
from bench.gateway_bench import add_users, bearer_headers, gateway_settings, start_gateway
from bench.rig import postgres_database
from streams.ops.embedded import EmbeddedBroker, stop_process
from streams.ops.topics import create_topics

__all__ = ["FULL", "QUICK", "Sizes", "run"]

KIB = 1024
MIB = 1024 * KIB
PER_CONNECTION_TARGET_KIB = 64
FLOOD_HEADROOM_MIB = 100
SETTLE_MAX_S = 120.0
COUNTED = (
    'riskmon_gateway_refused_total{reason="message_rate"}',
    'riskmon_gateway_refused_total{reason="queue_overflow"}',
    'riskmon_gateway_ack_answers_total{status="queued"}',
    'riskmon_gateway_ack_answers_total{status="request_error"}',
)


@dataclass(frozen=True)
class Sizes:
    connections: int
    flood_s: float


FULL = Sizes(connections=2000, flood_s=10.0)
QUICK = Sizes(connections=200, flood_s=2.0)


class RssSampler:
    """The peak RSS of a process, sampled every ``interval_s`` while running."""

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


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-file limit (children inherit it); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _health(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
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
    """The gateway's counters of the flood (``/metrics`` as an admin)."""
    request = urllib.request.Request(f"{base}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in COUNTED:
            found[name] = float(value)
    return found


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


async def _run(broker: EmbeddedBroker, pg_dsn: str, workdir: Path, sizes: Sizes) -> Result:
    n = sizes.connections
    settings = gateway_settings(
        broker, pg_dsn, workdir, max_connections=n, max_connections_per_user=n
    )
    await create_topics(settings)
    await add_users(pg_dsn, ("flood", "operator"), ("root", "admin"))
    headers = bearer_headers(settings, "flood", "operator")
    admin = bearer_headers(settings, "root", "admin")
    base = f"http://127.0.0.1:{settings.gateway_port}"
    url = f"ws://127.0.0.1:{settings.gateway_port}/ws"
    log_path = workdir / "gateway.log"
    gateway = await asyncio.to_thread(start_gateway, settings, log_path)
    clients: list[websockets.ClientConnection] = []
    try:
        await _wait_listening(base, gateway)
        sampler = RssSampler(gateway.pid)
        await asyncio.sleep(1.0)
        idle = sampler.now()
        progress(f"gateway_limits: idle RSS {idle / MIB:.1f} MiB; opening {n} connections")
        started = time.monotonic()
        for i in range(n):
            ws = await websockets.connect(url, additional_headers=headers, max_size=None)
            await ws.recv()  # the snapshot
            clients.append(ws)
            if (i + 1) % 500 == 0:
                progress(f"gateway_limits: {i + 1} open")
        connect_s = time.monotonic() - started
        await asyncio.sleep(1.0)
        loaded = sampler.now()
        per_connection_kib = (loaded - idle) / n / KIB
        progress(f"gateway_limits: {n} open, RSS {loaded / MIB:.1f} MiB")

        try:
            extra = await websockets.connect(url, additional_headers=headers)
            await extra.close()
            over_limit_status = 101
        except InvalidStatus as refused:
            over_limit_status = refused.response.status_code

        drains = [asyncio.create_task(_drain(ws)) for ws in clients]
        sampler.start()
        until = time.monotonic() + sizes.flood_s
        sent = await asyncio.gather(*(_flood(ws, until, i) for i, ws in enumerate(clients)))
        flood_end = time.monotonic()
        # The gateway works through what each client sent (a few frames buffered each, the
        # rest waits in the sockets) and closes every client past its message rate.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_MAX_S):
                await asyncio.gather(*drains, return_exceptions=True)
        settle_s = time.monotonic() - flood_end
        codes = Counter(str(ws.close_code) if ws.close_code else "open" for ws in clients)
        metrics = await asyncio.to_thread(_metrics, base, admin)
        for ws in clients:
            await ws.close()
        await asyncio.gather(*drains, return_exceptions=True)
        peak = await sampler.stop()
        await asyncio.sleep(2.0)
        after = sampler.now()
        healthy = await asyncio.to_thread(_health, base)
        try:
            async with websockets.connect(url, additional_headers=headers) as fresh:
                fresh_ok = json.loads(await fresh.recv())["type"] == "snapshot"
        except (OSError, InvalidStatus, ConnectionClosed):
            fresh_ok = False
        progress(
            f"gateway_limits: flood sent {sum(sent)}, closes {dict(codes)}, peak "
            f"{peak / MIB:.1f} MiB, after {after / MIB:.1f} MiB"
        )
    except BaseException:
        progress("gateway_limits: failed; gateway log tail:\n" + log_path.read_text()[-3000:])
        raise
    finally:
        for ws in clients:
            with contextlib.suppress(Exception):
                await ws.close()
        stop_process(gateway, timeout=15)
    met = (
        per_connection_kib <= PER_CONNECTION_TARGET_KIB
        and peak <= loaded + FLOOD_HEADROOM_MIB * MIB
        and over_limit_status == 503
        and healthy in (200, 503)  # 503 only says Kafka; the process answers
        and fresh_ok
    )
    return {
        "connections": n,
        "connect_s": round(connect_s, 1),
        "rss_idle_mib": round(idle / MIB, 1),
        "rss_connected_mib": round(loaded / MIB, 1),
        "rss_per_connection_kib": round(per_connection_kib, 1),
        "over_limit_handshake_status": over_limit_status,
        "flood_s": sizes.flood_s,
        "flood_messages_sent": sum(sent),
        "flood_close_codes": dict(codes),
        "flood_settle_s": round(settle_s, 1),
        "gateway_counted": metrics,
        "rss_flood_peak_mib": round(peak / MIB, 1),
        "rss_after_mib": round(after / MIB, 1),
        "healthz_after": healthy,
        "new_connection_after": fresh_ok,
        "target": (
            f"≤ {PER_CONNECTION_TARGET_KIB} KiB per connection; flood peak ≤ connected + "
            f"{FLOOD_HEADROOM_MIB} MiB; 503 over the limit; serving after"
        ),
        "met": met,
    }


def run(quick: bool = False) -> dict[str, Result]:
    """Start the broker, a database and a gateway; measure; stop them all (by PID)."""
    sizes = QUICK if quick else FULL
    files = raise_open_files(4 * sizes.connections + 1024)
    if files < 2 * sizes.connections + 256:
        raise RuntimeError(f"the open-file limit is {files}: too low for {sizes.connections}")
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-limits-") as tmp:
        workdir = Path(tmp)
        progress("gateway_limits: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, _):
                result = asyncio.run(_run(broker, pg_dsn, workdir, sizes))
        finally:
            broker.stop()
    result["open_files_limit"] = files
    return {"gateway_limits": result}
