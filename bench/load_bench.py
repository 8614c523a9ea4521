"""``load_latency``: incidents at a sustained rate through the whole system to many websocket
clients (issue 18: "at a sustained 1,000 events/s and 1,000 connected websocket clients: produce →
browser latency p50/p99, and every client ends with every district's final state").

``python -m bench.load_bench [--quick]`` prints one JSON object like ``python -m bench``.

The servers: the embedded Tansu broker, a fresh PostgreSQL database (the accounts: one viewer,
whose bearer token every client uses, and an admin that reads the gateway's ``/metrics``), one
``riskmon worker`` child process (its Prometheus port open) and one ``riskmon gateway`` child
process with ``RISKMON_MAX_CONNECTIONS`` and ``RISKMON_MAX_CONNECTIONS_PER_USER`` raised to the
client count and the open-file limit raised (the children inherit it). Both run on topics of their
own and on Gimpo: its official boundaries from ``../shared/data/gimpo`` beside the repository
when that folder is there, else the built-in approximate Gimpo (same 14 districts; ``city`` says
which). The clients are :mod:`bench.fanout_clients` processes (``processes`` of them, ``clients``
/ ``processes`` lean clients each), reading each ``scores`` message's (district, seq) pairs with
``bytes.find`` (``--parse find``; one message in 64 also decoded with ``json.loads`` and
compared: ``verify.mismatches`` must be 0); with ``--deflate`` they offer permessage-deflate as
browsers do, inflate every compressed message, and ``frame_kib_wire_mean`` is a frame's size as
it came. The method:

1. The worker publishes every district (the bench reads the scores topic from the start, in a
   plain aiokafka consumer without group, stamping each record's arrival with
   ``time.monotonic``); the gateway starts and is ready; the clients connect and take their
   snapshots (``connect_s``, failures).
2. ``rate_per_s`` incidents a second for ``duration_s``, produced with aiokafka (``acks=all``,
   ``linger_ms=0``) to the incidents topic, paced: incident *i* is due ``i / rate_per_s`` after
   the start, and the producer sends whatever is due, then sleeps until the next is (never a
   burst; ``produce_lateness_ms`` is how late each left against its schedule). Incidents are
   realistic: a random type of the taxonomy, severity 1–5, a point uniform over the city (each
   district gets its share by area, as in ``pipeline_throughput``), ``occurred_at`` about when
   it is sent (at most the few seconds of building them before), a status, a short description
   and now and then casualties. Each one's produce time *t_i* is ``time.monotonic()`` just
   before ``producer.send``. Then ``settle_s`` for stragglers.
3. Which score update first contains an incident: at the end the bench reads the located topic
   (each incident's located partition and offset, matched by ``source:id``) and the scores
   topic it recorded. A ScoreUpdate's ``basis`` says it reflects every located record of
   partition ``basis.partition`` below ``basis.next_offset``; the incident's **covering update**
   is the first update of its district with that partition and a ``next_offset`` above its
   offset: the update of the worker batch that applied it. ``scores_topic_ms`` is *t_i* → that
   update's arrival at the bench's consumer (the pipeline's part); the worker kept up when every
   incident was covered and the backlog (produced − covered, each second) never exceeded one
   second's worth of incidents once the run was under way (``worker``).
4. Latency of a (client, incident) pair: *t_i* → the arrival at that client (``time.monotonic``
   when the frame's bytes reach its protocol; one clock for every process of the machine) of the
   first ``scores`` frame carrying the incident's district at the covering update's seq **or a
   newer one**. A district's state is cumulative and its seq strictly increasing, so any newer
   state includes the incident; and the gateway coalesces (a client gets at most one frame per
   ``RISKMON_WS_COALESCE_MS``, with the newest state of each district changed since its previous
   one), so the covering update itself may never be sent to a client that is sent its successor.
   Why not "the first frame naming the incident as a driver": the worker names at most 25 drivers
   per update (the largest contributions of its batch), and the hub carries a missed update's
   drivers into the newest one only for the last 8 updates of a district and up to 50 drivers
   (``dashboard_ws/hub.py``, ``Hub._part``): an incident outside those is never named to a client
   although its effect arrives, so naming would leave out exactly the pairs of busy moments.
   ``driver_check`` counts, for the record, how many incidents an update on the scores topic
   named and whether always the covering one. Every pair is counted: ``latency_ms`` p50/p95/p99
   come from 0.1 ms buckets over all (client, incident) pairs; a pair with no such frame, or
   whose incident no update covered, is undelivered (it ranks above every latency; a percentile
   falling among them is ``null``); ``latency_delivered_ms``: the same over the delivered pairs
   only (how late those were). ``exact_seq_share``: pairs whose covering seq itself arrived.
   ``scores_topic_to_client_ms``, the gateway's part: the same pairs timed from the covering
   update's arrival at the bench's consumer instead of *t_i* (approximate: that consumer's own
   fetch delay is taken off the gateway's part; below 0 counts as 0).
5. Final state: once settled, each district's last seq on the scores topic (the bench's
   consumer caught up with the topic's end offsets), then 2 s for it to reach the clients; a
   client has the final state when it got every district at that seq or a newer one.
   ``final_state_share`` is the share of the clients that have it (must be 1.0).

Reported besides: the achieved produce rate, the worker's throughput, backlog and its own
counters (``/metrics``: incidents ingested and applied, score updates by reason, batch sizes, its
read → published delay), the gateway's counters and RSS, frames per client per second and their
size, the cores each process used while producing (gateway, worker, broker, each client process,
this process: the producer and the scores consumer) and while connecting, the machine's busy
cores (other users' work included) and its load average before and after. The clients must not
be what is measured: their cores are reported, and with the gateway's they share the machine.

Targets (issue 18): latency p50 ≤ 60 ms and p99 ≤ 200 ms, every client with every district's
final state, every client connected and kept, the rate sustained (≥ 95 % of it achieved) and the
worker keeping up; ``checks`` says which held, ``met`` whether all did. ``--quick``: 100 clients,
100 incidents/s for 5 s, 5 s of settling (a smoke test, not a measurement); ``--clients``,
``--rate`` and ``--duration`` change a mode's sizes (the result's name stays ``load_latency``).

Every child process (broker, worker, gateway, client processes) is stopped by its PID, also on
error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import numpy as np
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import Result, machine, progress
from bench.fanout_bench import (
    ClientProcesses,
    _counters,
    _percentiles,
    _wait_ready,
    split,
)
from bench.gateway_bench import add_users, bearer_headers, gateway_settings, start_gateway
from bench.pipeline_bench import district_points, incident
from bench.rig import CpuMeter, WorkerProcess, postgres_database, raise_open_files
from streams.city.config import load_city_config
from streams.city.map import CityMap
from streams.ops.embedded import EmbeddedBroker, free_port, stop_process
from streams.ops.topics import create_topics
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "main", "run"]

NAME = "load_latency"
P50_TARGET_MS = 60.0
P99_TARGET_MS = 200.0
RATE_SHARE_TARGET = 0.95  # of the target rate, achieved: else the load was not the stated one
MIB = 1024 * 1024
SOURCE = "bench"
SHARED_GIMPO = Path(__file__).resolve().parents[2] / "shared" / "data" / "gimpo"
FINAL_GRACE_S = 2.0  # from reading each district's final seq to asking the clients
DESCRIPTIONS = (
    "신고 접수",
    "현장 출동 중",
    "주민 신고: 연기 목격",
    "교차로 부근",
    "아파트 단지 내",
    "112 신고",
    "119 신고",
)
STATUSES = ("reported", "responding", "contained")
WORKER_COUNTED = (
    "riskmon_ingested_total",
    "riskmon_scoring_events_total",
    "riskmon_score_updates_total",
    "riskmon_dead_letters_total",
    "riskmon_identity_decisions_total",
    "riskmon_score_delay_seconds_sum",
    "riskmon_score_delay_seconds_count",
    "riskmon_worker_batch_records_sum",
    "riskmon_worker_batch_records_count",
    "riskmon_score_batch_seconds_sum",
    "riskmon_score_batch_seconds_count",
)
DISTRICT_AT_START = re.compile(rb'^\{"district":"([^"\\]*)"')


@dataclass(frozen=True)
class Sizes:
    clients: int  # websocket clients
    processes: int  # client processes
    rate_per_s: float  # incidents produced per second
    duration_s: float  # of producing
    settle_s: float  # after the last incident, for stragglers
    deflate: bool = False  # the clients offer permessage-deflate, as browsers do


FULL = Sizes(clients=1000, processes=4, rate_per_s=1000.0, duration_s=30.0, settle_s=10.0)
QUICK = Sizes(clients=100, processes=4, rate_per_s=100.0, duration_s=5.0, settle_s=5.0)


# --- the city ------------------------------------------------------------------------------------


def gimpo() -> tuple[Path | None, CityMap, str]:
    """Gimpo's official boundaries beside the repository if they are there, else the built-in
    approximate Gimpo: (the folder for ``RISKMON_CITY`` or None, its map, a description)."""
    if (SHARED_GIMPO / "districts.geojson").is_file() and (
        SHARED_GIMPO / "population.csv"
    ).is_file():
        return SHARED_GIMPO, load_city_config(SHARED_GIMPO).city, f"exact Gimpo ({SHARED_GIMPO})"
    return None, load_city_config().city, "approximate Gimpo (built in)"


def incidents(city: CityMap, sizes: Sizes, first_due: datetime) -> tuple[list[str], list[bytes]]:
    """The run's incidents: (event ids, encoded payloads), ``occurred_at`` when each is due."""
    rng = np.random.default_rng(18)
    n = round(sizes.rate_per_s * sizes.duration_s)
    ids: list[str] = []
    payloads: list[bytes] = []
    for i, (_, lat, lon) in enumerate(district_points(city, n, rng)):
        number = f"ld-{i}"
        base = incident(number, lat, lon, rng)
        casualties = int(rng.integers(1, 4)) if rng.random() < 0.05 else 0
        event = base.model_copy(
            update={
                "occurred_at": first_due + timedelta(seconds=i / sizes.rate_per_s),
                "casualties": casualties,
                "status": STATUSES[int(rng.integers(len(STATUSES)))],
                "description": DESCRIPTIONS[int(rng.integers(len(DESCRIPTIONS)))],
            }
        )
        ids.append(f"{SOURCE}:{number}")
        payloads.append(event.model_dump_json().encode())
    return ids, payloads


# --- the scores topic, recorded -------------------------------------------------------------------


@dataclass
class ScoresTape:
    """Every record of the scores topic with its arrival (``time.monotonic``), read from the
    start by a consumer without group; decoded only at the end (the districts seen are taken
    from each record's first bytes, to know when the worker has published every district)."""

    settings: Settings
    records: list[tuple[float, bytes]] = field(default_factory=list)
    districts: set[str] = field(default_factory=set)
    consumer: AIOKafkaConsumer | None = None
    partitions: list[TopicPartition] = field(default_factory=list)

    async def run(self) -> None:
        settings = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.require_bootstrap(),
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=8 * MIB,
            **settings.kafka_client_options(),
        )
        await consumer.start()
        try:
            topic = settings.topics.scores
            self.partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(self.partitions)
            await consumer.seek_to_beginning(*self.partitions)
            self.consumer = consumer
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=10_000)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        value = record.value
                        if value is None:
                            continue
                        self.records.append((now, value))
                        found = DISTRICT_AT_START.match(value[:64])
                        if found:
                            self.districts.add(found.group(1).decode())
        finally:
            self.consumer = None
            await consumer.stop()

    async def caught_up(self, within_s: float = 30.0) -> None:
        """Wait until everything on the topic now has been read."""
        deadline = time.monotonic() + within_s
        while self.consumer is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the scores consumer did not start")
            await asyncio.sleep(0.1)
        consumer = self.consumer
        ends = await consumer.end_offsets(self.partitions)
        while await _behind(consumer, ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scores consumer did not catch up within {within_s} s")
            await asyncio.sleep(0.1)


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether ``consumer`` has yet to read up to ``ends`` on some partition."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


class Update(NamedTuple):
    arrival: float  # at the bench's consumer, time.monotonic
    district: str
    seq: int
    reason: str
    partition: int  # basis: located partition ...
    next_offset: int  # ... and the offset below which its events are included
    drivers: tuple[str, ...]


def decode(records: Sequence[tuple[float, bytes]]) -> list[Update]:
    out: list[Update] = []
    for arrival, raw in records:
        update = json.loads(raw)
        basis = update.get("basis") or {}
        out.append(
            Update(
                arrival,
                str(update["district"]),
                int(update["seq"]),
                str(update["reason"]),
                int(basis.get("partition", -1)),
                int(basis.get("next_offset", -1)),
                tuple(str(d["event_id"]) for d in update["drivers"]),
            )
        )
    return out


async def read_located(settings: Settings) -> dict[str, tuple[str, int, int]]:
    """Every incident on the located topic: event id -> (district, partition, first offset)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=8 * MIB,
        **settings.kafka_client_options(),
    )
    await consumer.start()
    found: dict[str, tuple[str, int, int]] = {}
    try:
        topic = settings.topics.located
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + 120
        while await _behind(consumer, ends):
            if time.monotonic() > deadline:
                raise TimeoutError("the located topic was not read within 120 s")
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    located = json.loads(record.value or b"{}")
                    event = located.get("incident")
                    if located.get("kind") != "incident" or not event:
                        continue
                    key = f"{event['source']}:{event['id']}"
                    if key not in found or record.offset < found[key][2]:
                        found[key] = (str(located["district"]), tp.partition, record.offset)
    finally:
        await consumer.stop()
    return found


def covering(
    updates: Sequence[Update], located: dict[str, tuple[str, int, int]], ids: Sequence[str]
) -> list[Update | None]:
    """Per incident (in ``ids`` order) its covering update: the first of its district whose
    basis is its located partition and whose ``next_offset`` lies above its located offset (None:
    not located, or no update covers it yet)."""
    by_key: dict[tuple[str, int], list[Update]] = {}
    for update in updates:
        by_key.setdefault((update.district, update.partition), []).append(update)
    offsets: dict[tuple[str, int], list[int]] = {}
    for key, listed in by_key.items():
        running = -1
        ends = []
        for update in listed:  # monotone by construction; a step back (a new owner) is ignored
            running = max(running, update.next_offset)
            ends.append(running)
        offsets[key] = ends
    out: list[Update | None] = []
    for event_id in ids:
        where = located.get(event_id)
        if where is None:
            out.append(None)
            continue
        district, partition, offset = where
        key = (district, partition)
        ends = offsets.get(key, [])
        at = bisect_right(ends, offset)
        out.append(by_key[key][at] if at < len(ends) else None)
    return out


# --- producing ------------------------------------------------------------------------------------


@dataclass
class Produced:
    times: list[float]  # time.monotonic just before send, per incident
    lateness_s: list[float]  # against its schedule
    failures: Counter[str]
    wall_start: float


async def produce(settings: Settings, payloads: Sequence[bytes], rate: float) -> Produced:
    """Send ``payloads`` at ``rate`` a second, each when due (``i / rate`` after the start)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_bootstrap(),
        acks="all",
        linger_ms=0,
        **settings.kafka_client_options(),
    )
    await producer.start()
    topic = settings.topics.incidents
    times: list[float] = []
    lateness: list[float] = []
    futures: list[asyncio.Future[Any]] = []
    failures: Counter[str] = Counter()
    try:
        start = time.monotonic()
        wall_start = time.time()
        total = len(payloads)
        i = 0
        while i < total:
            due_now = min(total, int((time.monotonic() - start) * rate) + 1)
            while i < due_now:
                now = time.monotonic()
                times.append(now)
                lateness.append(now - (start + i / rate))
                futures.append(await producer.send(topic, payloads[i]))
                i += 1
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        await producer.flush()
        for outcome in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(outcome, BaseException):
                failures[type(outcome).__name__] += 1
    finally:
        await producer.stop()
    return Produced(times, lateness, failures, wall_start)


# --- helpers --------------------------------------------------------------------------------------


def _http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as answer:
        return int(answer.code), answer.read()
    except OSError:
        return 0, b""


async def worker_counters(port: int) -> dict[str, float]:
    """The worker's counters of what it ingested, scored and published (its ``/metrics``)."""
    status, body = await asyncio.to_thread(_http_get, f"http://127.0.0.1:{port}/metrics")
    found: dict[str, float] = {}
    if status != 200:
        return found
    for line in body.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(WORKER_COUNTED) and "_created" not in name:
            with contextlib.suppress(ValueError):
                found[name] = float(value)
    return found


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 6) for k, v in after.items() if v - before.get(k, 0.0)}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _summary_ms(values_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in ms of seconds (rank ``int(q/100 * n)`` of the sorted values)."""
    if not values_s:
        return {"p50": None, "p95": None, "p99": None, "max": None, "samples": 0}
    ordered = sorted(values_s)
    n = len(ordered)

    def pct(q: float) -> float:
        return round(ordered[min(n - 1, int(q / 100 * n))] * 1000, 1)

    return {
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": round(ordered[-1] * 1000, 1),
        "samples": n,
    }


def _rss(pid: int) -> int | None:
    with contextlib.suppress(psutil.Error):
        return int(psutil.Process(pid).memory_info().rss)
    return None


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


# --- the worker's part ----------------------------------------------------------------------------


def worker_figures(
    sizes: Sizes, produced: Produced, covered: Sequence[Update | None], end: float
) -> dict[str, Any]:
    """Throughput and backlog of the worker, from when each incident's covering update reached
    the scores topic."""
    times = produced.times
    t0, t_last = times[0], times[-1]
    window = max(t_last - t0, 1e-9)
    scored_at = sorted(u.arrival for u in covered if u is not None)
    in_window = bisect_right(scored_at, t_last)
    backlog: list[int] = []
    second = 1
    while t0 + second <= end:
        at = t0 + second
        backlog.append(bisect_right(times, at) - bisect_right(scored_at, at))
        second += 1
    unscored = sum(u is None for u in covered)
    # once under way: the first second fills the pipeline
    steady = backlog[1 : int(sizes.duration_s)] or backlog
    most = max(steady, default=0)
    return {
        "incidents_covered": len(scored_at),
        "incidents_unscored": unscored,
        "scored_per_s_while_producing": round(in_window / window, 1),
        "backlog_incidents_per_s": backlog,
        "backlog_max_incidents": max(backlog, default=0),
        "backlog_max_s": round(most / sizes.rate_per_s, 2),
        "last_scored_after_last_produced_s": (
            round(scored_at[-1] - t_last, 2) if scored_at else None
        ),
        "kept_up": unscored == 0 and most <= sizes.rate_per_s,
    }


def driver_check(
    updates: Sequence[Update], ids: Sequence[str], covered: Sequence[Update | None]
) -> dict[str, int]:
    """How many incidents a score update named as a driver, and whether always in the update
    that covers them (what "the first update naming it" would have measured)."""
    first_named: dict[str, int] = {}
    most = 0
    for update in updates:
        most = max(most, len(update.drivers))
        for event_id in update.drivers:
            first_named.setdefault(event_id, update.seq)
    named = agree = 0
    for event_id, cover in zip(ids, covered, strict=True):
        seq = first_named.get(event_id)
        if seq is None:
            continue
        named += 1
        agree += cover is not None and cover.seq == seq
    return {
        "incidents": len(ids),
        "named_as_driver": named,
        "named_first_in_covering_update": agree,
        "most_drivers_in_one_update": most,
    }


def client_figures(
    results: Sequence[dict[str, Any]], n: int, unscored: int, incidents_n: int
) -> dict[str, Any]:
    """The client processes' results over every (client, incident) pair, the incidents no update
    covered counted undelivered for every client."""
    histogram: Counter[int] = Counter()
    gateway_part: Counter[int] = Counter()
    for r in results:
        histogram.update({int(k): int(v) for k, v in r["latency_hist"].items()})
        part = r.get("also", {}).get("from_scores_topic", {})
        gateway_part.update({int(k): int(v) for k, v in part.get("latency_hist", {}).items()})

    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    def part_total(key: str) -> int:
        return sum(int(r.get("also", {}).get("from_scores_topic", {}).get(key, 0)) for r in results)

    served = sum(int(r["clients"]) for r in results)
    undelivered = total("undelivered") + unscored * served
    pairs = total("pairs") + unscored * served
    frames, in_frames = total("scores_frames"), total("updates_in_frames")
    rates = [float(x) for r in results for x in r["frame_rates"]]
    closed: Counter[str] = Counter()
    verify: Counter[str] = Counter()
    for r in results:
        closed.update(r["closed_by_gateway"])
        verify.update({k: v for k, v in r["verify"].items() if k != "every"})
    return {
        "latency_ms": {
            **_percentiles(histogram, undelivered),
            "max": max((float(r["latency_max_ms"]) for r in results), default=None),
            "pairs": pairs,
        },
        "latency_delivered_ms": {
            **_percentiles(histogram, 0),
            "pairs": sum(histogram.values()),
        },
        "scores_topic_to_client_ms": {
            **_percentiles(gateway_part, part_total("undelivered")),
            "max": max(
                (
                    float(r.get("also", {}).get("from_scores_topic", {}).get("latency_max_ms", 0))
                    for r in results
                ),
                default=None,
            ),
            "pairs": part_total("pairs"),
        },
        "pairs_expected": n * incidents_n,
        "undelivered_pairs": undelivered,
        "undelivered_share": round(undelivered / pairs, 6) if pairs else None,
        "exact_seq_share": round(total("exact") / pairs, 4) if pairs else None,
        "final_state_share": round(total("clients_with_final_state") / n, 4),
        "frames_per_client_per_s": {
            "mean": round(sum(rates) / len(rates), 2) if rates else None,
            "min": round(min(rates), 2) if rates else None,
            "max": round(max(rates), 2) if rates else None,
        },
        "updates_per_frame": round(in_frames / frames, 2) if frames else None,
        "frame_kib_mean": round(total("scores_bytes") / frames / 1024, 1) if frames else None,
        "frame_kib_wire_mean": (
            round(total("scores_wire_bytes") / frames / 1024, 1) if frames else None
        ),
        "clients_inflating": total("clients_inflating"),
        "heartbeats": total("heartbeats"),
        "other_messages": total("other_messages"),
        "seq_not_increasing": total("seq_not_increasing"),
        "closed_by_gateway": dict(closed),
        "still_open_at_end": total("still_open"),
        "verify": dict(verify),
    }


# --- the run --------------------------------------------------------------------------------------


async def _wait_every_district(
    tape: ScoresTape, task: asyncio.Task[None], codes: set[str], worker: WorkerProcess
) -> float:
    started = time.monotonic()
    while not codes <= tape.districts:
        if task.done():
            task.result()
            raise RuntimeError("the scores consumer stopped")
        worker.check_alive()
        if time.monotonic() - started > 120:
            raise TimeoutError("the worker did not publish every district within 120 s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def _measure(
    broker: EmbeddedBroker, pg_dsn: str, workdir: Path, sizes: Sizes, city_dir: Path | None
) -> Result:
    n = sizes.clients
    city = load_city_config(city_dir).city
    codes = set(city.codes)
    settings = gateway_settings(
        broker,
        pg_dsn,
        workdir,
        max_connections=n,
        max_connections_per_user=n,
        city=city_dir,
    )
    await create_topics(settings)
    await add_users(pg_dsn, ("bench", "viewer"), ("root", "admin"))
    token = bearer_headers(settings, "bench", "viewer")["Authorization"].removeprefix("Bearer ")
    admin = bearer_headers(settings, "root", "admin")
    metrics_port = free_port()
    worker = WorkerProcess(
        settings.model_copy(update={"metrics_port": metrics_port}), workdir / "worker.log"
    )
    tape = ScoresTape(settings)
    tape_task = asyncio.create_task(tape.run(), name="bench-scores-tape")
    gateway_log = workdir / "gateway.log"
    gateway: subprocess.Popen[bytes] | None = None
    clients = ClientProcesses()
    label = NAME
    try:
        progress(f"{label}: starting the worker")
        await asyncio.to_thread(worker.start)
        ready_s = await _wait_every_district(tape, tape_task, codes, worker)
        progress(f"{label}: worker published every district after {ready_s:.1f} s")
        gateway = await asyncio.to_thread(start_gateway, settings, gateway_log)
        base = f"http://127.0.0.1:{settings.gateway_port}"
        await _wait_ready(base, len(codes), gateway)
        await asyncio.sleep(2.0)
        assert worker.process is not None
        pids = {"gateway": gateway.pid, "worker": worker.process.pid, "broker": broker.process.pid}
        rss_gateway_idle = _rss(gateway.pid)
        counts = split(n, sizes.processes)
        load_connect = _loadavg()
        progress(
            f"{label}: gateway RSS {_mib(rss_gateway_idle)} MiB; connecting {n} clients "
            f"({len(counts)} processes); load {load_connect}"
        )
        clients.start(
            settings.gateway_port,
            counts,
            token,
            workdir / "clients.log",
            ("--parse", "find", *(("--deflate",) if sizes.deflate else ())),
        )
        pids.update({f"clients_{i + 1}": pid for i, pid in enumerate(clients.pids)})
        connect_cpu = CpuMeter(dict(pids))
        connect_cpu.start()
        hello = await clients.read_all(60 + n / 20)
        connect_cores = connect_cpu.shares()
        connected = sum(int(h["clients"]) for h in hello)
        client_loop = ",".join(sorted({str(h.get("loop", "asyncio")) for h in hello}))
        failures: Counter[str] = Counter()
        for h in hello:
            failures.update(h["failures"])
        lives = [float(h["last_live"]) for h in hello if h["clients"]]
        connect_s = max(lives) - min(float(h["first_start"]) for h in hello) if lives else None
        await asyncio.sleep(2.0)
        rss_gateway_connected = _rss(gateway.pid)
        status, body = await asyncio.to_thread(_http_get, f"{base}/healthz")
        gateway_clients = json.loads(body).get("clients") if status == 200 else None
        progress(
            f"{label}: {connected} connected in {connect_s or 0:.1f} s (failures "
            f"{dict(failures)}); gateway RSS {_mib(rss_gateway_connected)} MiB"
        )

        first_due = datetime.now(UTC) + timedelta(seconds=1)
        ids, payloads = await asyncio.to_thread(incidents, city, sizes, first_due)
        await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds()))
        gateway_before = await _counters(base, admin)
        worker_before = await worker_counters(metrics_port)
        updates_before = len(tape.records)
        load_before = _loadavg()
        progress(
            f"{label}: producing {len(payloads):,} incidents at {sizes.rate_per_s:g}/s for "
            f"{sizes.duration_s:g} s; load {load_before}"
        )
        cpu = CpuMeter(dict(pids))
        psutil.cpu_percent()  # machine-wide, from here
        cpu.start()
        produced = await produce(settings, payloads, sizes.rate_per_s)
        cores = cpu.shares()
        machine_busy = psutil.cpu_percent() / 100 * (os.cpu_count() or 1)
        t0, t_last = produced.times[0], produced.times[-1]
        updates_while_producing = len(tape.records) - updates_before
        progress(f"{label}: produced; settling {sizes.settle_s:g} s")
        settle_cpu = CpuMeter(dict(pids))
        settle_cpu.start()
        await asyncio.sleep(sizes.settle_s)
        settle_cores = settle_cpu.shares()
        settled_at = time.monotonic()
        load_after = _loadavg()
        gateway_after = await _counters(base, admin)
        worker_after = await worker_counters(metrics_port)
        rss_gateway_after = _rss(gateway.pid)
        worker.check_alive()

        await tape.caught_up()
        final_read_at = time.monotonic()
        updates = decode(list(tape.records))
        final: dict[str, int] = {}
        for update in updates:
            final[update.district] = max(final.get(update.district, 0), update.seq)
        located = await read_located(settings)
        covered = covering(updates, located, ids)
        sent = [
            (update.district, update.seq, t)
            for update, t in zip(covered, produced.times, strict=True)
            if update is not None
        ]
        sent_path = workdir / "sent.json"
        sent_path.write_text(json.dumps(sent))
        from_scores = [
            (update.district, update.seq, update.arrival) for update in covered if update
        ]
        from_scores_path = workdir / "from-scores.json"
        from_scores_path.write_text(json.dumps(from_scores))
        await asyncio.sleep(max(0.0, final_read_at + FINAL_GRACE_S - time.monotonic()))
        progress(f"{label}: {len(sent):,} of {len(ids):,} incidents covered; clients summing up")
        clients.tell_all(
            {
                "sent": str(sent_path),
                "t0": t0,
                "t_last": t_last,
                "final": final,
                "also": {"from_scores_topic": str(from_scores_path)},
            }
        )
        results = await clients.read_all(900)
    except BaseException:
        for what, path in (("worker", workdir / "worker.log"), ("gateway", gateway_log)):
            tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
            progress(f"{label}: failed; {what} log tail:\n{tail}")
        raise
    finally:
        clients.stop()
        if gateway is not None:
            stop_process(gateway, timeout=15)
        await asyncio.to_thread(worker.stop)
        tape_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await tape_task

    scores_latency = [
        update.arrival - t
        for update, t in zip(covered, produced.times, strict=True)
        if update is not None
    ]
    work = worker_figures(sizes, produced, covered, settled_at)
    work["ready_s"] = round(ready_s, 1)
    work["score_updates_while_producing_per_s"] = round(
        updates_while_producing / max(t_last - t0, 1e-9), 1
    )
    work["score_updates_by_reason"] = dict(Counter(u.reason for u in updates))
    work["counted"] = _diff(worker_after, worker_before)
    window = t_last - t0
    achieved = (len(produced.times) - 1) / window if window > 0 else 0.0
    figures = client_figures(results, n, work["incidents_unscored"], len(ids))
    latency = figures["latency_ms"]
    p50, p99 = latency.get("p50"), latency.get("p99")
    checks = {
        "latency_p50": p50 is not None and p50 <= P50_TARGET_MS,
        "latency_p99": p99 is not None and p99 <= P99_TARGET_MS,
        "final_state_every_client": figures["final_state_share"] == 1.0,
        "every_client_connected_and_kept": (
            connected == n and not figures["closed_by_gateway"] and not failures
        ),
        "rate_sustained": achieved >= RATE_SHARE_TARGET * sizes.rate_per_s
        and not produced.failures,
        "worker_kept_up": bool(work["kept_up"]),
        "frames_parsed_right": figures["verify"].get("mismatches", 0) == 0
        and figures["seq_not_increasing"] == 0,
    }
    result: Result = {
        "clients": n,
        "client_processes": len(results),
        "connected": connected,
        "client_loop": client_loop,
        "connect_failures": dict(failures),
        "connect_s": None if connect_s is None else round(connect_s, 2),
        "gateway_clients_reported": gateway_clients,
        "rate_target_per_s": sizes.rate_per_s,
        "duration_s": sizes.duration_s,
        "settle_s": sizes.settle_s,
        "incidents_produced": len(produced.times),
        "produce_rate_per_s": round(achieved, 1),
        "produce_lateness_ms": _summary_ms(produced.lateness_s),
        "produce_failures": dict(produced.failures),
        "incidents_located": sum(event_id in located for event_id in ids),
        **figures,
        "scores_topic_ms": _summary_ms(scores_latency),
        "driver_check": driver_check(updates, ids, covered),
        "districts_final_seq": len(final),
        "worker": work,
        "gateway": {
            "rss_idle_mib": _mib(rss_gateway_idle),
            "rss_connected_mib": _mib(rss_gateway_connected),
            "rss_after_mib": _mib(rss_gateway_after),
            "counted": _diff(gateway_after, gateway_before),
        },
        "cores": cores,
        "cores_clients_total": round(
            sum(v or 0.0 for k, v in cores.items() if k.startswith("clients_")), 2
        ),
        "cores_ours_total": round(sum(v or 0.0 for v in cores.values()), 2),
        "machine_cores_busy": round(machine_busy, 2),
        "settle_cores": settle_cores,
        "connect_cores": connect_cores,
        "loadavg_connect": load_connect,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "checks": checks,
        "target": (
            f"at {sizes.rate_per_s:g} incidents/s and {n:,} clients: produce → client latency "
            f"p50 ≤ {P50_TARGET_MS:g} ms and p99 ≤ {P99_TARGET_MS:g} ms, every client with every "
            "district's final state, none refused or dropped, the rate sustained and the worker "
            "keeping up (issue 18: 1,000 incidents/s, 1,000 clients)"
        ),
        "met": all(checks.values()),
    }
    progress(
        f"{label}: p50/p99 {p50}/{p99} ms (scores topic p50/p99 "
        f"{result['scores_topic_ms']['p50']}/{result['scores_topic_ms']['p99']} ms), final "
        f"state {figures['final_state_share']}, worker kept up {work['kept_up']}, cores {cores}"
    )
    return result


def run(quick: bool = False, sizes: Sizes | None = None) -> dict[str, Result]:
    """Start the broker and a database, the worker, the gateway and the clients; measure; stop
    them all (by PID, also on error). ``sizes`` replaces :data:`FULL` / :data:`QUICK`."""
    if sizes is None:
        sizes = QUICK if quick else FULL
    n = sizes.clients
    files = raise_open_files(4 * n + 1024)
    if files < n + 512:
        raise RuntimeError(
            f"the open-file limit is {files} and cannot be raised to {n + 512}: too low for a "
            f"gateway with {n} clients"
        )
    city_dir, _, city_name = gimpo()
    started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = _loadavg()
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-load-") as tmp:
        workdir = Path(tmp)
        progress(f"{NAME}: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, origin):
                result = asyncio.run(_measure(broker, pg_dsn, workdir, sizes, city_dir))
        finally:
            broker.stop()
    result.update(
        {
            "started_utc": started_utc,
            "loadavg_at_start": load_start,
            "open_files_limit": files,
            "postgres": origin,
            "broker": "tansu (embedded)",
            "city": city_name,
            "quick": quick,
            "clients_offer_deflate": sizes.deflate,
        }
    )
    return {NAME: result}


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: child processes are stopped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load_bench",
        description="Incidents at a sustained rate to many websocket clients: produce → client "
        "latency and every client's final state (issue 18).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke test, not a measurement"
    )
    parser.add_argument("--clients", type=int, help="websocket clients instead of the mode's")
    parser.add_argument("--rate", type=float, help="incidents a second instead of the mode's")
    parser.add_argument("--duration", type=float, help="seconds of producing instead")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="clients offer permessage-deflate as browsers do (frame_kib_wire_mean: as sent)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    changes = {
        name: value
        for name, value in (
            ("clients", args.clients),
            ("rate_per_s", args.rate),
            ("duration_s", args.duration),
            ("deflate", args.deflate or None),
        )
        if value is not None
    }
    sizes = replace(sizes, **changes)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.perf_counter()
    results = run(quick=args.quick, sizes=sizes)
    progress(f"done in {time.perf_counter() - started:.1f} s")
    report = {"machine": machine(), "quick": args.quick, "results": results}
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
