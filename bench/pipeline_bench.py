"""End-to-end benchmarks on real servers: Kafka (embedded Tansu) -> worker -> scores -> gateway.

Starts the embedded Tansu broker, uses PostgreSQL (``RISKMON_PG_DSN``, else the machine's server on
127.0.0.1:5432 if it answers, else an embedded one; a fresh database either way, dropped at the
end), creates unique topics, and runs ``riskmon worker`` as a child process configured through
``RISKMON_*`` variables, as tests/integration/harness.py does. Then:

* ``pipeline_throughput``: produce K incidents as fast as possible and wait until the scores topic
  shows, for every district, an update whose ``events`` equals the incidents sent to it. Then a
  bare aiokafka consumer reads the same K records :data:`BARE_PASSES` times (``json.loads``
  each): the ratio R is the median run's rate against the median of every run's passes.
* ``pipeline_latency``: with the system idle, send one incident at a time and time produce ->
  ScoreUpdate on the scores topic, and produce -> ``score`` message on a websocket client of an
  in-process gateway (both matched by the driver's event id).

Every child process is stopped by its PID at the end, also on error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import statistics
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from bench import Result, progress
from bench.gateway_bench import add_users, bearer_headers
from bench.rig import CpuMeter, WorkerProcess, bench_settings, postgres_database
from dashboard_ws.server import Gateway
from indices import taxonomy
from streams.city.config import load_city_config
from streams.city.map import CityMap
from streams.contract import Incident
from streams.ops.embedded import EmbeddedBroker, free_port
from streams.ops.topics import create_topics
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "run"]

SOURCE = "bench"
INCIDENT_TYPES = tuple(taxonomy.INCIDENT_TYPES)


@dataclass(frozen=True)
class Sizes:
    incidents: int  # produced at once for the throughput figure
    probes: int  # single incidents for the latency figures
    spacing_s: float  # idle time between two probes
    ready_within_s: float  # worker start (first update of every district)
    probe_within_s: float  # one probe's answer, on both paths
    runs: int  # throughput runs (median reported), each with a fresh worker, topics and group


FULL = Sizes(20_000, probes=100, spacing_s=0.05, ready_within_s=120, probe_within_s=15, runs=3)
BARE_PASSES = 7  # reads of the topic by the bare consumer per run (each ~0.1 s at 200,000/s)
QUICK = Sizes(1_000, probes=10, spacing_s=0.05, ready_within_s=120, probe_within_s=15, runs=1)


# --- events and the scores topic -------------------------------------------------------------


def district_points(
    city: CityMap, n: int, rng: np.random.Generator
) -> list[tuple[str, float, float]]:
    """``n`` (district, lat, lon) points, uniform over the city; each district gets some."""
    west, south, east, north = city.bounds
    points: list[tuple[str, float, float]] = []
    while len(points) < n:
        lat = round(float(rng.uniform(south, north)), 6)
        lon = round(float(rng.uniform(west, east)), 6)
        code = city.locate(lat, lon)
        if code is not None:
            points.append((code, lat, lon))
    return points


def incident(number: str, lat: float, lon: float, rng: np.random.Generator) -> Incident:
    return Incident(
        id=number,
        source=SOURCE,
        type=INCIDENT_TYPES[int(rng.integers(len(INCIDENT_TYPES)))],
        severity=int(rng.integers(1, 6)),
        occurred_at=datetime.now(UTC),
        lat=lat,
        lon=lon,
    )


@dataclass
class ScoresWatch:
    """Reads every partition of the scores topic; remembers, per district, the highest ``events``
    seen, and per driver event id, when its first update arrived (``time.perf_counter``)."""

    settings: Settings
    events: dict[str, int] = field(default_factory=dict)
    arrivals: dict[str, float] = field(default_factory=dict)
    updates: int = 0
    last_batch_at: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.topics.scores,
            bootstrap_servers=self.settings.require_bootstrap(),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **self.settings.kafka_client_options(),
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        if record.value is not None:
                            self._take(json.loads(record.value), now)
                if batches:
                    self.last_batch_at = now
                    self.changed.set()
        finally:
            await consumer.stop()

    def _take(self, update: dict[str, object], now: float) -> None:
        self.updates += 1
        self.reasons[str(update["reason"])] += 1
        district = str(update["district"])
        events = update["events"]
        assert isinstance(events, int)
        self.events[district] = max(self.events.get(district, 0), events)
        drivers = update["drivers"]
        assert isinstance(drivers, list)
        for driver in drivers:
            self.arrivals.setdefault(str(driver["event_id"]), now)

    async def until(self, done: Callable[[], bool], within: float, worker: WorkerProcess) -> float:
        """Wait until ``done()``; return the perf_counter time the deciding batch arrived."""
        deadline = time.perf_counter() + within
        while True:
            self.changed.clear()
            if done():
                return self.last_batch_at
            worker.check_alive()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"scores topic did not show what was expected in {within} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))


# --- the benchmarks -------------------------------------------------------------------------


async def _producer(settings: Settings, **options: object) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_bootstrap(),
        acks="all",
        **options,
        **settings.kafka_client_options(),
    )
    await producer.start()
    return producer


async def throughput(
    settings: Settings,
    city: CityMap,
    watch: ScoresWatch,
    worker: WorkerProcess,
    sizes: Sizes,
    cpu: CpuMeter,
) -> Result:
    rng = np.random.default_rng(11)
    points = district_points(city, sizes.incidents, rng)
    payloads = [
        incident(f"tp-{i}", lat, lon, rng).model_dump_json().encode()
        for i, (_, lat, lon) in enumerate(points)
    ]
    expected = Counter(code for code, _, _ in points)
    base = dict(watch.events)  # incidents already counted per district (none on fresh topics)
    target = {code: base.get(code, 0) + expected.get(code, 0) for code in city.codes}
    updates_before = watch.updates
    producer = await _producer(settings, linger_ms=5, max_batch_size=256 * 1024)
    try:
        progress(f"pipeline_throughput: producing {len(payloads):,} incidents")
        cpu.start()
        start = time.perf_counter()
        sent = [await producer.send(settings.topics.incidents, value) for value in payloads]
        await producer.flush()
        await asyncio.gather(*sent)
        produced = time.perf_counter()
    finally:
        await producer.stop()

    def all_counted() -> bool:
        return all(watch.events.get(code, 0) >= n for code, n in target.items())

    within = max(120.0, sizes.incidents / 100)
    done = await watch.until(all_counted, within, worker)
    cores = cpu.shares()
    seconds = done - start
    per_s = len(payloads) / seconds
    progress(f"pipeline_throughput: {per_s:,.0f} incidents/s ({seconds:.2f} s)")
    return {
        "incidents": len(payloads),
        "districts": len(target),
        "produce_s": round(produced - start, 3),
        "produce_per_s": round(len(payloads) / (produced - start)),
        "all_scored_s": round(seconds, 3),
        "incidents_per_s": round(per_s),
        "score_updates": watch.updates - updates_before,
        "cpu_cores_used": cores,
        "target": None,
        "met": None,
    }


@dataclass
class WsWatch:
    """A websocket client of the gateway; per driver event id, when its score message arrived."""

    url: str
    changed: asyncio.Event  # set on every message (shared with the ScoresWatch)
    arrivals: dict[str, float] = field(default_factory=dict)
    districts_in_snapshot: int = 0
    live: asyncio.Event = field(default_factory=asyncio.Event)
    headers: dict[str, str] = field(default_factory=dict)

    async def run(self) -> None:
        async with websockets.connect(
            self.url, max_size=None, additional_headers=self.headers
        ) as ws:
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message["type"] == "snapshot":
                    self.districts_in_snapshot = len(message["districts"])
                    self.live.set()
                    continue
                if message["type"] != "scores":  # alerts, heartbeats
                    continue
                # coalesced: only each district's newest update (and its drivers) is in it
                for update in message["districts"]:
                    for driver in update["drivers"]:
                        self.arrivals.setdefault(str(driver["event_id"]), now)
                self.changed.set()


async def latency(
    settings: Settings, city: CityMap, watch: ScoresWatch, worker: WorkerProcess, sizes: Sizes
) -> Result:
    rng = np.random.default_rng(12)
    points = district_points(city, sizes.probes, rng)
    scores_ms: list[float] = []
    ws_ms: list[float] = []
    # The gateway admits a websocket with credentials only: a viewer with a bearer token.
    settings = settings.model_copy(update={"auth_secret": SecretStr(secrets.token_hex(32))})
    await add_users(settings.require_pg_dsn(), ("bench-viewer", "viewer"))
    headers = bearer_headers(settings, "bench-viewer", "viewer")
    async with Gateway(settings) as gateway:
        deadline = time.perf_counter() + 60
        while gateway.hub.district_count < len(city.codes):
            if time.perf_counter() > deadline:
                raise TimeoutError("the gateway did not read every district within 60 s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let the gateway read the rest of the scores topic's backlog
        ws = WsWatch(f"ws://127.0.0.1:{gateway.port}/ws", watch.changed, headers=headers)
        client = asyncio.create_task(ws.run(), name="bench-ws-client")
        producer = await _producer(settings)  # linger 0: each probe leaves at once
        try:
            await asyncio.wait_for(ws.live.wait(), 30)
            progress(
                f"pipeline_latency: {sizes.probes} probes, {sizes.spacing_s * 1000:.0f} ms apart"
            )
            for i, (_, lat, lon) in enumerate(points):
                event_id = f"{SOURCE}:lat-{i}"
                value = incident(f"lat-{i}", lat, lon, rng).model_dump_json().encode()
                start = time.perf_counter()
                await producer.send_and_wait(settings.topics.incidents, value)
                deadline = start + sizes.probe_within_s
                while True:  # arrival times are stamped by the watchers, not by this loop
                    watch.changed.clear()
                    if event_id in watch.arrivals and event_id in ws.arrivals:
                        break
                    worker.check_alive()
                    if client.done():
                        client.result()  # raises what ended the websocket client
                        raise RuntimeError("the websocket client stopped")
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"probe {event_id} not seen in {sizes.probe_within_s} s")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(watch.changed.wait(), 0.5)
                scores_ms.append((watch.arrivals[event_id] - start) * 1000)
                ws_ms.append((ws.arrivals[event_id] - start) * 1000)
                await asyncio.sleep(sizes.spacing_s)
        finally:
            await producer.stop()
            client.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client
    progress(
        f"pipeline_latency: scores p50 {_pct(scores_ms, 50):.1f} ms, "
        f"websocket p50 {_pct(ws_ms, 50):.1f} ms"
    )
    return {
        "probes": len(scores_ms),
        "spacing_ms": sizes.spacing_s * 1000,
        "scores_topic_ms": _summary(scores_ms),
        "websocket_ms": _summary(ws_ms),
        "snapshot_districts": ws.districts_in_snapshot,
        "target": None,
        "met": None,
    }


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_pct(values, 50), 1),
        "p95": round(_pct(values, 95), 1),
        "p99": round(_pct(values, 99), 1),
        "mean": round(statistics.fmean(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


async def bare_consume(settings: Settings, passes: int = BARE_PASSES) -> list[tuple[int, float]]:
    """What the machine can do without riskmon: a plain aiokafka consumer (no group) reads every
    record of the incidents topic on the same broker and parses it with ``json.loads``,
    ``passes`` times from the beginning; the records read and the seconds each pass took (the
    yardstick of the pipeline's ratio R). One pass of 20,000 records lasts about 0.1 s, so a
    single one moves by a third between runs; the bench takes the median of many."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **settings.kafka_client_options(),
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(settings.topics.incidents, p)
            for p in sorted(consumer.partitions_for_topic(settings.topics.incidents) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        timed: list[tuple[int, float]] = []
        for _ in range(passes):
            await consumer.seek_to_beginning(*partitions)
            read = 0
            start = time.perf_counter()
            while read < total:
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for records in batches.values():
                    for record in records:
                        json.loads(record.value or b"")
                    read += len(records)
                if time.perf_counter() - start > 120:
                    break
            timed.append((read, time.perf_counter() - start))
        return timed
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def background(watch: ScoresWatch) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(watch.run(), name="bench-scores-watch")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def worker_metrics(settings: Settings) -> dict[str, dict[str, float]]:
    """From the worker's own metrics so far: mean records per batch of each agent
    (``riskmon_worker_batch_records``) and the records each stage got by in-process hand-off,
    left to its topic or read again (``riskmon_worker_handoff_records_total``); {} when it has
    no metrics port."""
    if not settings.metrics_port:
        return {}
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    handoff: dict[str, float] = {}
    for line in text.splitlines():
        match = BATCH_LINE.match(line)
        if match:
            part = sums if match["what"] == "sum" else counts
            part[match["agent"]] = float(match["value"])
        match = HANDOFF_LINE.match(line)
        if match:
            handoff[f"{match['stage']}_{match['outcome']}"] = float(match["value"])
    return {
        "mean_batch_records": {
            a: round(sums[a] / counts[a], 1) for a in sorted(counts) if counts[a] and a in sums
        },
        "handoff_records": dict(sorted(handoff.items())),
    }


BATCH_LINE = re.compile(
    r'riskmon_worker_batch_records_(?P<what>sum|count)\{agent="(?P<agent>[a-z]+)"\} (?P<value>\S+)'
)
HANDOFF_LINE = re.compile(
    r'riskmon_worker_handoff_records_total\{outcome="(?P<outcome>[a-z_]+)",'
    r'stage="(?P<stage>[a-z]+)"\} (?P<value>\S+)'
)


async def measure(
    settings: Settings, worker: WorkerProcess, sizes: Sizes, cpu: CpuMeter, with_latency: bool
) -> dict[str, Result]:
    """Throughput on a freshly started worker, then (``with_latency``) latency once it is idle."""
    city = load_city_config().city
    watch = ScoresWatch(settings)
    async with background(watch) as task:
        progress("pipeline: waiting for the worker to publish every district")
        started = time.perf_counter()

        def every_district() -> bool:
            if task.done():
                task.result()
            return set(city.codes) <= set(watch.events)

        ready_s = await watch.until(every_district, sizes.ready_within_s, worker) - started
        progress(f"pipeline: worker ready after {ready_s:.1f} s")
        results = {
            "pipeline_throughput": await throughput(settings, city, watch, worker, sizes, cpu)
        }
        results["pipeline_throughput"]["worker_ready_s"] = round(ready_s, 1)
        results["pipeline_throughput"].update(await worker_metrics(settings))
        passes = [read / seconds for read, seconds in await bare_consume(settings) if seconds > 0]
        bare = statistics.median(passes) if passes else 0.0
        scored = results["pipeline_throughput"]["incidents_per_s"]
        assert isinstance(scored, int)
        results["pipeline_throughput"]["bare_consume_parse_per_s"] = round(bare)
        results["pipeline_throughput"]["bare_passes_per_s"] = [round(p) for p in passes]
        results["pipeline_throughput"]["ratio_r"] = round(scored / bare, 4) if bare else None
        progress(
            f"pipeline: bare aiokafka consume + json.loads {bare:,.0f} records/s on the same "
            f"broker (median of {len(passes)} passes): R = "
            f"{scored / bare if bare else float('nan'):.3f}"
        )
        if with_latency:
            await asyncio.sleep(3.0)  # idle: the worker has drained everything
            results["pipeline_latency"] = await latency(settings, city, watch, worker, sizes)
        return results


def one_worker(
    broker: EmbeddedBroker,
    pg_dsn: str,
    workdir: Path,
    sizes: Sizes,
    with_latency: bool,
    profile: Path | None,
) -> dict[str, Result]:
    """Start a worker on topics and a consumer group of its own, measure, stop it by its PID."""
    settings = bench_settings(broker.bootstrap, pg_dsn, workdir / "data")
    settings = settings.model_copy(update={"metrics_port": free_port()})
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(settings, workdir / f"worker-{settings.app_id}.log", profile)
    worker.start()
    try:
        assert worker.process is not None
        cpu = CpuMeter({"worker": worker.process.pid, "broker": broker.process.pid})
        results = asyncio.run(measure(settings, worker, sizes, cpu, with_latency))
    except BaseException:
        progress(f"pipeline: failed; worker log tail:\n{worker.log_tail()}")
        raise
    finally:
        worker.stop()
    for result in results.values():
        result["partitions"] = settings.partitions
        result["handoff"] = settings.handoff
    return results


def run(quick: bool = False, profile_worker: Path | None = None) -> dict[str, Result]:
    """Start the servers, measure with fresh workers, stop everything (by PID); the results.

    Throughput is the median of ``runs`` workers; latency is measured on the last one. With
    ``profile_worker``, that last worker runs under cProfile and writes its profile there (its
    figures are then slower than without).
    """
    sizes = QUICK if quick else FULL
    runs: list[dict[str, Result]] = []
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-") as tmp:
        workdir = Path(tmp)
        progress("pipeline: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, pg_origin):
                for number in range(1, sizes.runs + 1):
                    last = number == sizes.runs
                    progress(f"pipeline: worker {number} of {sizes.runs}")
                    profile = profile_worker if last else None
                    runs.append(one_worker(broker, pg_dsn, workdir, sizes, last, profile))
        finally:
            broker.stop()
    rates = [outcome["pipeline_throughput"]["incidents_per_s"] for outcome in runs]
    median = sorted(range(len(runs)), key=lambda i: rates[i])[len(runs) // 2]
    # R of the whole bench: the median run against the median of every run's bare passes (one
    # run's passes alone still follow the machine's mood of that minute).
    passes = [p for outcome in runs for p in outcome["pipeline_throughput"]["bare_passes_per_s"]]
    bare = statistics.median(passes) if passes else 0.0
    results = {
        "pipeline_throughput": {
            **runs[median]["pipeline_throughput"],
            "runs_incidents_per_s": rates,
            "runs_ratio_r": [outcome["pipeline_throughput"]["ratio_r"] for outcome in runs],
            "bare_consume_parse_per_s": round(bare),
            "ratio_r": round(rates[median] / bare, 4) if bare else None,
        },
        "pipeline_latency": runs[-1]["pipeline_latency"],
    }
    for result in results.values():
        result["broker"] = "tansu (embedded)"
        result["postgres"] = pg_origin
        result["worker_profiled"] = profile_worker is not None
    return results
