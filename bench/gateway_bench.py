"""``gateway_fanout``: one gateway pushing score updates to many websocket clients.

Starts the embedded Tansu broker and ``riskmon gateway`` as a child process (with a fresh
PostgreSQL database for its accounts: the clients log in with a bearer token), seeds the scores
topic with one update per district, then for each client count N: connects N websocket clients in
this process, produces score updates to the scores topic at a fixed rate (a storm's worth: far
above Gimpo's usual rate), and records when each client receives each one. Reported per N: produce
-> client latency over every (client, update) pair, the share of updates each client received (a
slow client's queue keeps only the newest update per district, so it may legitimately skip
superseded ones), and the cores the gateway used.

Clients run in this process and share the machine's two cores with the gateway and the broker;
their own JSON parsing is part of what is measured. Times on both sides are ``time.monotonic``
(CLOCK_MONOTONIC, one clock for every process of the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import websockets
from aiokafka import AIOKafkaProducer

from bench import Result, progress
from bench.rig import CpuMeter, postgres_database, raise_open_files, settings_env
from dashboard_ws.security.roles import Role
from dashboard_ws.security.sessions import TokenSigner
from streams.city.config import load_city_config
from streams.ops.embedded import EmbeddedBroker, free_port, stop_process
from streams.ops.topics import create_topics
from streams.persistence import accounts, db
from streams.settings import Settings, Topics

__all__ = ["FULL", "QUICK", "Sizes", "run"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    clients: tuple[int, ...]  # client counts, one phase each
    updates: int  # score updates produced per phase
    rate_per_s: float  # production rate
    settle_s: float  # wait after the last update for stragglers


FULL = Sizes(clients=(1, 50, 200, 500), updates=300, rate_per_s=30.0, settle_s=3.0)
QUICK = Sizes(clients=(1, 5), updates=20, rate_per_s=20.0, settle_s=1.0)


def score_update(code: str, name: str, seq: int) -> bytes:
    """A ScoreUpdate of realistic size (six domains, three groups, contributors and drivers)."""
    value = (seq % 97) / 10.0
    domain = {
        "hazard": value,
        "risk": value,
        "grade": 1 + seq % 5,
        "intensity": value,
        "sensor_hazard": 0.0,
    }
    domains = ["fire", "flood_weather", "traffic", "crime", "living_safety", "air_quality"]
    drivers = [
        {
            "event_id": f"gimpo-fire:F-{seq}-{i}",
            "type": "fire",
            "domain": "fire",
            "contribution": 0.5 + i,
        }
        for i in range(3)
    ]
    update = {
        "district": code,
        "name": name,
        "seq": seq,
        "as_of": datetime.now(UTC).isoformat(),
        "model_version": "riskmon-index/0.2",
        "reason": "events",
        "composite": {"value": value, "grade": 1 + seq % 5},
        "domains": {d: domain for d in domains},
        "groups": {
            g: {"hazard": value, "risk": value, "grade": 2}
            for g in ("natural", "calamity", "crime")
        },
        "vulnerability": 6.1,
        "coping_lack": 2.2,
        "safety": 7.4,
        "confidence": 1.0,
        "freshness_s": {"rainfall_mm_1h": 120.0, "pm10_ugm3": 300.0},
        "stale_feeds": [],
        "events": 3,
        "contributors": {"fire": drivers},
        "delta": {"composite": 0.1, "safety": 0.0, "domains": {"fire": 0.1}},
        "drivers": drivers,
    }
    return json.dumps(update).encode()


@dataclass
class Client:
    """One websocket client: arrival time of each (district, seq) it receives."""

    url: str
    headers: dict[str, str]
    arrivals: dict[tuple[str, int], float] = field(default_factory=dict)
    live: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with websockets.connect(
            self.url, max_size=None, additional_headers=self.headers
        ) as ws:
            async for raw in ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message["type"] == "snapshot":
                    self.live.set()
                elif message["type"] == "scores":  # coalesced: newest state per district
                    for update in message["districts"]:
                        self.arrivals[(update["district"], update["seq"])] = now


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


async def _wait_gateway(base: str, districts: int, gateway: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited with {gateway.returncode}")
        with contextlib.suppress(OSError, ValueError):
            health = await asyncio.to_thread(_get_json, f"{base}/healthz")
            if health.get("districts") == districts:
                return
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway did not serve every district within 60 s")
        await asyncio.sleep(0.2)


async def phase(
    settings: Settings, url: str, clients_n: int, seq0: int, sizes: Sizes, cpu: CpuMeter
) -> tuple[Result, int]:
    city = load_city_config().city
    codes = sorted(city.codes)
    headers = bearer_headers(settings, "bench", "viewer")
    clients = [Client(url, headers) for _ in range(clients_n)]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_bootstrap(), linger_ms=0)
    await producer.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(c.live.wait() for c in clients)), 60)
        progress(f"gateway_fanout: {clients_n} clients live; {sizes.updates} updates")
        sent: dict[tuple[str, int], float] = {}
        cpu.start()
        started = time.monotonic()
        for i in range(sizes.updates):
            code = codes[i % len(codes)]
            seq = seq0 + i
            due = started + i / sizes.rate_per_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent[(code, seq)] = time.monotonic()
            await producer.send(
                settings.topics.scores,
                score_update(code, city.districts[code].name_ko, seq),
                key=code.encode(),
            )
        await producer.flush()
        await asyncio.sleep(sizes.settle_s)
        shares = cpu.shares()
    finally:
        await producer.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [
        (client.arrivals[key] - t) * 1000
        for client in clients
        for key, t in sent.items()
        if key in client.arrivals
    ]
    received = [sum(key in client.arrivals for key in sent) / len(sent) for client in clients]
    result: Result = {
        "clients": clients_n,
        "updates": len(sent),
        "rate_per_s": sizes.rate_per_s,
        "latency_ms": _summary(latencies),
        "received_share": {
            "min": round(min(received), 4),
            "mean": round(statistics.fmean(received), 4),
        },
        "cores": shares,
        "target": None,
        "met": None,
    }
    p50 = result["latency_ms"]["p50"]
    progress(f"gateway_fanout: {clients_n} clients: p50 {p50} ms, min share {min(received):.3f}")
    return result, seq0 + sizes.updates


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)

    return {
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": round(ordered[-1], 1),
        "samples": len(ordered),
    }


async def _seed(settings: Settings) -> None:
    city = load_city_config().city
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_bootstrap())
    await producer.start()
    try:
        for code in sorted(city.codes):
            await producer.send(
                settings.topics.scores,
                score_update(code, city.districts[code].name_ko, 1),
                key=code.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


def _start_gateway(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "gateway"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def gateway_settings(
    broker: EmbeddedBroker, pg_dsn: str, workdir: Path, **overrides: object
) -> Settings:
    """Settings of a benchmark's gateway: topics of this run, a fresh token secret."""
    tag = uuid.uuid4().hex[:8]
    topics = Topics(**{n: f"g{tag}.{d}" for n, d in Topics().model_dump().items()})
    return Settings.model_validate(
        {
            "kafka_bootstrap": broker.bootstrap,
            "pg_dsn": pg_dsn,
            "topics": topics,
            "app_id": f"riskmon-bench-{tag}",
            "gateway_host": "127.0.0.1",
            "gateway_port": free_port(),
            "data_dir": workdir / "data",
            "auth_secret": secrets.token_hex(32),
            **overrides,
        }
    )


async def add_users(pg_dsn: str, *users: tuple[str, str]) -> None:
    """Migrate the database and add (name, role) users without passwords (bearer tokens)."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        for name, role in users:
            await accounts.add_user(conn, name, role, None, datetime.now(UTC))
    finally:
        await conn.close()


def bearer_headers(settings: Settings, user: str, role: str) -> dict[str, str]:
    """The handshake header of a user of :func:`add_users` (a token valid for a day)."""
    assert settings.auth_secret is not None
    signer = TokenSigner(settings.auth_secret.get_secret_value().encode())
    token = signer.issue(user, Role(role), datetime.now(UTC), 86_400)
    return {"Authorization": f"Bearer {token}"}


def start_gateway(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """``riskmon gateway`` with ``settings`` (logging warnings only)."""
    env = settings_env(settings)
    env["RISKMON_LOG_LEVEL"] = "WARNING"
    return _start_gateway(env, log_path)


async def _run(
    broker: EmbeddedBroker, pg_dsn: str, workdir: Path, sizes: Sizes
) -> dict[str, Result]:
    settings = gateway_settings(broker, pg_dsn, workdir)
    port = settings.gateway_port
    await create_topics(settings)
    await _seed(settings)
    await add_users(pg_dsn, ("bench", "viewer"))
    env = settings_env(settings)
    env["RISKMON_GATEWAY_PORT"] = str(port)
    env["RISKMON_LOG_LEVEL"] = "WARNING"
    # every client is the one bench user: lift the per-user (and per-gateway) limits to the run's
    most = max(sizes.clients)
    env["RISKMON_MAX_CONNECTIONS_PER_USER"] = str(max(most, 20))
    env["RISKMON_MAX_CONNECTIONS"] = str(max(most, 5000))
    raise_open_files(4 * most + 1024)
    log_path = workdir / "gateway.log"
    gateway = await asyncio.to_thread(_start_gateway, env, log_path)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_gateway(base, len(load_city_config().city.codes), gateway)
        cpu = CpuMeter({"gateway": gateway.pid, "broker": broker.process.pid})
        results: dict[str, Result] = {}
        seq = 2
        for n in sizes.clients:
            result, seq = await phase(settings, f"ws://127.0.0.1:{port}/ws", n, seq, sizes, cpu)
            results[f"gateway_fanout_{n}_clients"] = result
        return results
    except BaseException:
        progress("gateway_fanout: failed; gateway log tail:\n" + log_path.read_text()[-3000:])
        raise
    finally:
        stop_process(gateway, timeout=15)


def run(quick: bool = False) -> dict[str, Result]:
    """Start the broker and a gateway, measure every client count, stop both (by PID)."""
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-gw-") as tmp:
        workdir = Path(tmp)
        progress("gateway_fanout: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, _):
                return asyncio.run(_run(broker, pg_dsn, workdir, sizes))
        finally:
            broker.stop()
