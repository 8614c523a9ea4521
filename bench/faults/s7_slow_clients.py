"""Scenario 7: a slow websocket client and a flood of connections while scores keep flowing.

A ``riskmon gateway`` child process; score updates are published to riskmon.scores at a steady
rate (every district, increasing ``seq``; no worker: the gateway is the subject). Observers (a
few clients that read everything) record each update's delay from its publication. Then a slow
client connects and never reads (its receive queue is one message, so the socket backs up), and
a flood of connections arrives (authenticated, 20 per user, the per-user limit; half read, half
never read). The gateway's RSS (psutil) is sampled throughout.

Checked: observers keep receiving with bounded delay (p99 during the flood reported, and the
maximum), every observer ends with every district's last published ``seq`` (coalescing may skip
intermediate ones: skipping is allowed, ending stale is ``lost``), no observer receives a
district's ``seq`` twice or backwards (``double_counted``), and the gateway's RSS during the
flood stays within ``RSS_BOUND_MIB`` of its RSS before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from aiokafka import AIOKafkaProducer
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench import Result, progress
from bench.gateway_bench import add_users, bearer_headers, score_update
from streams.ops.embedded import free_port

from .flow import Run
from .oracle import Tally
from .rig import drop_database, fault_settings, fresh_database, rig, shared_server_dsn, wait_until

RSS_BOUND_MIB = 100.0  # the flood may cost at most this much over the RSS before it
DELAY_BOUND_S = 2.0  # p99 delay of an observer's updates during the flood


@dataclass(frozen=True)
class Sizes:
    connections: int
    flood_s: float
    rate_per_s: float  # score updates per second (all districts together)
    observers: int = 3


FULL = Sizes(connections=400, flood_s=60.0, rate_per_s=70.0)
SHORT = Sizes(connections=200, flood_s=10.0, rate_per_s=70.0)


@dataclass
class Observer:
    """A client that reads everything: delay of each score, duplicates and the last seq."""

    url: str
    headers: dict[str, str]
    published: dict[tuple[str, int], float]
    delays: list[tuple[float, float]] = field(default_factory=list)  # (arrival, delay)
    last: dict[str, int] = field(default_factory=dict)
    repeated: int = 0
    closed: str | None = None
    live: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        try:
            async with websockets.connect(
                self.url, max_size=None, additional_headers=self.headers
            ) as ws:
                async for raw in ws:
                    now = time.monotonic()
                    message = json.loads(raw)
                    if message["type"] == "snapshot":
                        for update in message["districts"]:
                            self.last[update["district"]] = update["seq"]
                        self.live.set()
                    elif message["type"] == "scores":  # coalesced: newest state per district
                        for update in message["districts"]:
                            self.on_update(update, now)
        except ConnectionClosed as closed:
            self.closed = f"{closed.rcvd.code if closed.rcvd else None}"

    def on_update(self, update: dict[str, Any], now: float) -> None:
        key = (update["district"], update["seq"])
        if update["seq"] <= self.last.get(key[0], -1):
            self.repeated += 1
        self.last[key[0]] = max(update["seq"], self.last.get(key[0], -1))
        sent = self.published.get(key)
        if sent is not None:
            self.delays.append((now, now - sent))


def _health(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


async def _drain(ws: websockets.ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def _run(sizes: Sizes, workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        server = await shared_server_dsn(servers)
        dsn = await fresh_database(server)
        port = free_port()
        settings = fault_settings(
            broker.bootstrap,
            dsn,
            workdir / "data",
            gateway_port=port,
            max_connections=sizes.connections + 50,
        )
        run = Run("slow_clients", servers, settings)
        try:
            await run.setup()
            users = [(f"flood{n}", "viewer") for n in range(sizes.connections // 20 + 1)]
            await add_users(dsn, ("observer", "viewer"), ("slow", "viewer"), *users)
            gateway = servers.child("gateway", "gateway", settings, RISKMON_LOG_LEVEL="WARNING")
            gateway.start()
            base, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
            if not await wait_until(lambda: asyncio.to_thread(_health, base), 60, 0.5):
                raise RuntimeError(f"the gateway did not answer /healthz:\n{gateway.log_tail()}")
            codes = sorted(run.config.city.codes)
            names = {c: run.config.city.districts[c].name_ko for c in codes}
            published: dict[tuple[str, int], float] = {}
            final: dict[str, int] = {}
            stop = asyncio.Event()

            async def publish() -> None:
                producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=2)
                await producer.start()
                try:
                    seq, n = 1, 0
                    start = time.monotonic()
                    while not stop.is_set():
                        code = codes[n % len(codes)]
                        if n % len(codes) == 0:
                            seq += 1
                        published[(code, seq)] = time.monotonic()
                        await producer.send_and_wait(
                            settings.topics.scores,
                            score_update(code, names[code], seq),
                            key=code.encode(),
                        )
                        final[code] = seq
                        n += 1
                        await asyncio.sleep(
                            max(0.0, start + n / sizes.rate_per_s - time.monotonic())
                        )
                finally:
                    await producer.stop()

            publisher = asyncio.create_task(publish())
            observer_headers = bearer_headers(settings, "observer", "viewer")
            observers = [Observer(url, observer_headers, published) for _ in range(sizes.observers)]
            observing = [asyncio.create_task(o.run()) for o in observers]
            await wait_until(lambda: all(o.live.is_set() for o in observers), 60)
            await asyncio.sleep(
                3
            )  # a baseline of delays before the flood (measured, not waited on)
            assert run.rss is not None
            run.rss.sample()
            rss_before = run.rss.last.get("gateway", 0) / 2**20
            flood_started = time.monotonic()
            slow = await websockets.connect(
                url,
                additional_headers=bearer_headers(settings, "slow", "viewer"),
                max_queue=1,
                max_size=None,
                ping_interval=None,  # no pings of its own: any close is the gateway's doing
            )
            connections: list[websockets.ClientConnection] = []
            readers: list[asyncio.Task[None]] = []
            refused: dict[int, int] = {}
            for n in range(sizes.connections):
                headers = bearer_headers(settings, f"flood{n // 20}", "viewer")
                try:
                    ws = await websockets.connect(
                        url,
                        additional_headers=headers,
                        max_queue=1,
                        max_size=None,
                        ping_interval=None,
                    )
                except InvalidStatus as error:
                    refused[error.response.status_code] = (
                        refused.get(error.response.status_code, 0) + 1
                    )
                    continue
                except OSError:
                    refused[0] = refused.get(0, 0) + 1
                    continue
                connections.append(ws)
                if n % 2 == 0:
                    readers.append(asyncio.create_task(_drain(ws)))
            opened_s = round(time.monotonic() - flood_started, 1)
            progress(f"slow_clients: {len(connections)} connections open in {opened_s} s")
            await asyncio.sleep(
                max(0.0, flood_started + sizes.flood_s - time.monotonic())
            )  # the flood's length
            health_during = await asyncio.to_thread(_health, base)
            flood_ended = time.monotonic()
            run.rss.sample()
            slow_state = slow.state.name
            # the code the gateway closed it with, when it did (4013: answers left unread)
            slow_close = slow.close_code
            flood_closed = Counter(ws.close_code for ws in connections if ws.close_code)
            await asyncio.gather(
                *(asyncio.wait_for(ws.close(), 5) for ws in [slow, *connections]),
                return_exceptions=True,
            )
            for task in readers:
                task.cancel()
            stop.set()
            await publisher
            # every observer must end with every district's last seq
            await wait_until(
                lambda: all(o.last.get(c) == final[c] for o in observers for c in codes), 30
            )
            for task in observing:
                task.cancel()
            await asyncio.gather(*observing, return_exceptions=True)
            run.rss.sample()
            rss_after = run.rss.last.get("gateway", 0) / 2**20
            before = [d for o in observers for t, d in o.delays if t < flood_started]
            during = [
                d for o in observers for t, d in o.delays if flood_started <= t <= flood_ended
            ]
            stale = sum(1 for o in observers for c in codes if o.last.get(c) != final[c])
            figures = Tally(
                sent=len(published),
                valid=len(published),
                scored=min(
                    len({(d, s) for (d, s) in published}), max(len(o.delays) for o in observers)
                ),
                lost=stale,
                double_counted=sum(o.repeated for o in observers),
            )
            peak = run.rss.peak_mib("gateway") or 0.0
            p99 = _p(during, 0.99)
            if stale:
                figures.failures.append(f"{stale} (observer, district) pairs ended stale")
            if p99 is None or p99 > DELAY_BOUND_S:
                figures.failures.append(
                    f"observers' p99 delay during the flood {p99} s > {DELAY_BOUND_S} s"
                )
            if peak - rss_before > RSS_BOUND_MIB:
                figures.failures.append(
                    f"gateway RSS grew {peak - rss_before:.0f} MiB > {RSS_BOUND_MIB}"
                )
            if not gateway.alive:
                figures.failures.append(f"the gateway died:\n{gateway.log_tail()}")
            if health_during != 200:
                figures.failures.append(f"/healthz answered {health_during} during the flood")
            return run.result(
                figures,
                connections_opened=len(connections),
                connections_refused_by_status=refused,
                seconds_to_open_them=opened_s,
                observer_delay_s={
                    "before_flood_p50": _p(before, 0.5),
                    "before_flood_p99": _p(before, 0.99),
                    "during_flood_p50": _p(during, 0.5),
                    "during_flood_p99": p99,
                    "during_flood_max": round(max(during), 3) if during else None,
                    "mean_all": round(statistics.fmean(before + during), 3)
                    if before + during
                    else None,
                },
                observers_closed=[o.closed for o in observers if o.closed],
                slow_client_state_at_end=slow_state,
                slow_client_close_code=slow_close,
                flood_closed_by_code={str(k): v for k, v in flood_closed.items()},
                gateway_rss_mib={
                    "before_flood": round(rss_before, 1),
                    "peak": peak,
                    "after_closing": round(rss_after, 1),
                },
                healthz_during_flood=health_during,
            )
        finally:
            await run.close()
            servers.close()
            await drop_database(server, dsn)


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(SHORT if short else FULL, workdir))
