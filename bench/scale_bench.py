"""Scale benchmarks: a country-sized city (3,500 synthetic districts, Korea's 읍면동 count) on one
worker process.

The city is :func:`streams.city.synth.random_city` (Voronoi cells, deterministic per seed); every
figure is measured in this process on the pure steps the worker runs, except ``scale_worker``,
which runs ``riskmon worker`` on the embedded Tansu broker as :mod:`bench.pipeline_bench` does:

* ``scale_scoring``: located incidents -> :meth:`PartitionScorer.process` (one scorer per
  partition, as a worker holding every partition has them), in batches of ``batch_max``; with and
  without decoding the located JSON and encoding the score updates (the worker does both); and
  one decay tick over every district.
* ``scale_memory``: ``tracemalloc`` and RSS of the scorers once every district holds a realistic
  state (``incidents``/``sensors``/``facts`` per district, plus what was last published).
* ``scale_checkpoint``: what the worker writes per partition (:meth:`PartitionScorer.to_checkpoint`
  as JSON): bytes per partition and per district, build+encode time, the PostgreSQL save
  (:func:`~streams.persistence.checkpoints.save_checkpoint` into a fresh database) and the
  load + restore.
* ``scale_alerts``: :meth:`CityAlerts.observe` (the single-partition alert stage) fed the score
  updates of every district, round after round, then a storm round that opens alerts; per-update
  cost, the decode of each update from JSON, and the alert stage's checkpoint.
* ``scale_worker``: incidents/s through the real worker for the 3,500-district city.

Every section records the machine's load average before and after (other processes share the
cores) and the CPU time this process used (``cores_used`` = CPU seconds / wall seconds).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import Result, progress
from bench.rig import CpuMeter, WorkerProcess, bench_settings, postgres_database
from indices import DistrictState, FacilityIn, IncidentIn, InspectionIn, ReadingIn, taxonomy
from streams.city.config import CityConfig, config_of_data, load_city_config
from streams.city.synth import random_city
from streams.cli.city import write_city_folder
from streams.contract import Incident, LocatedEvent, ScoreUpdate
from streams.contract.base import read_internal
from streams.ops.embedded import EmbeddedBroker
from streams.ops.topics import create_topics
from streams.persistence import db
from streams.persistence.checkpoints import load_checkpoint, save_checkpoint, state_json
from streams.pipeline.alerting import AlertingContext, CityAlerts
from streams.pipeline.scoring import (
    PartitionScorer,
    ScoringContext,
    model_fingerprint,
)
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "run"]

SEED = 18
INCIDENT_TYPES = tuple(taxonomy.INCIDENT_TYPES)
# Sensor kinds whose readings need no per-sensor configuration (river gauges need stages).
SENSOR_KINDS = ("rainfall_mm_1h", "wind_ms", "apparent_temperature_c", "pm10_ugm3", "pm25_ugm3")
SENSOR_VALUES = {
    "rainfall_mm_1h": (0.0, 40.0),
    "wind_ms": (0.0, 15.0),
    "apparent_temperature_c": (-5.0, 33.0),
    "pm10_ugm3": (10.0, 120.0),
    "pm25_ugm3": (5.0, 60.0),
}


@dataclass(frozen=True)
class Sizes:
    districts: int
    incidents: int  # through the pure scoring path
    incidents_per_district: int  # the realistic state of every district
    sensors_per_district: int
    facts_per_district: int
    alert_rounds: int  # score updates of every district fed to the alert stage, per round
    storm_share: float  # districts hit by a burst of severe incidents in the storm round
    worker_incidents: int  # through the real worker (0: skip it)
    worker_ready_within_s: float


FULL = Sizes(3500, 20_000, 50, 10, 20, 3, 0.1, 20_000, 600.0)
QUICK = Sizes(300, 2_000, 50, 10, 20, 2, 0.1, 0, 120.0)


# --- measuring ------------------------------------------------------------------------------------


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (what else ran on the machine's cores)."""
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Span:
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def cores(self) -> float:
        return round(self.cpu_s / self.wall_s, 2) if self.wall_s else 0.0


@contextmanager
def timed() -> Iterator[Span]:
    span = Span()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield span
    finally:
        span.wall_s = time.perf_counter() - wall
        span.cpu_s = time.process_time() - cpu


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def micro(seconds: float, count: int) -> float:
    return round(seconds / count * 1e6, 1) if count else 0.0


# --- the city and its events ------------------------------------------------------------------


def synthetic_city(n: int) -> tuple[CityConfig, float]:
    """The configuration of ``n`` random districts and the seconds it took to make."""
    with timed() as span:
        config = config_of_data(random_city(n, SEED), source=f"random_city({n}, {SEED})")
    return config, span.wall_s


def scorers_of(config: CityConfig, partitions: int) -> dict[int, PartitionScorer]:
    return {
        p: PartitionScorer(p, config.city.codes_of_partition(p, partitions))
        for p in range(partitions)
    }


def located_incidents(
    config: CityConfig, n: int, now: datetime, rng: random.Random
) -> list[LocatedEvent]:
    """``n`` located incidents in districts drawn uniformly, as ingest writes them."""
    codes = list(config.city.codes)
    out = []
    for i in range(n):
        code = rng.choice(codes)
        incident = Incident(
            id=f"s-{i}",
            source="bench",
            type=INCIDENT_TYPES[rng.randrange(len(INCIDENT_TYPES))],
            severity=rng.randint(1, 5),
            occurred_at=now - timedelta(seconds=rng.uniform(0, 3600)),
            code=code,
        )
        out.append(
            LocatedEvent(
                kind="incident",
                district=code,
                received_at=now,
                origin=f"bench/0/{i}",
                incident=incident,
            )
        )
    return out


def fill_state(
    state: DistrictState,
    code: str,
    sizes: Sizes,
    ctx: ScoringContext,
    at: float,
    rng: random.Random,
) -> None:
    """A realistic district: recent incidents, sensors with a fresh reading, safety facts."""
    for i in range(sizes.incidents_per_district):
        state.apply(
            IncidentIn(
                key=f"police:{code}-{i}",
                type=INCIDENT_TYPES[rng.randrange(len(INCIDENT_TYPES))],
                severity=rng.randint(1, 5),
                t=at - rng.uniform(0, 3 * 86_400),
                casualties=0,
            ),
            ctx.params,
            ctx.limits,
        )
    for i in range(sizes.sensors_per_district):
        kind = SENSOR_KINDS[i % len(SENSOR_KINDS)]
        low, high = SENSOR_VALUES[kind]
        state.apply(
            ReadingIn(f"aws-{code}-{i}", kind, rng.uniform(low, high), at - rng.uniform(0, 600)),
            ctx.params,
            ctx.limits,
        )
    for i in range(sizes.facts_per_district):
        t = at - rng.uniform(0, 365 * 86_400)
        if i % 4 == 0:
            fact: Any = InspectionIn(
                f"city:insp-{code}-{i}", f"bridge-{code}-{i}", "ABCDE"[i % 5], t
            )
        else:
            kinds = taxonomy.FACILITY_KINDS
            fact = FacilityIn(
                f"city:fac-{code}-{i}", f"fac-{code}-{i}", kinds[i % len(kinds)], True, t
            )
        state.apply(fact, ctx.params, ctx.limits)


def realistic_scorers(
    config: CityConfig, sizes: Sizes, ctx: ScoringContext, partitions: int, now: datetime
) -> dict[int, PartitionScorer]:
    """Scorers whose every district holds a realistic state and has published once."""
    rng = random.Random(SEED)
    scorers = scorers_of(config, partitions)
    at = now.timestamp()
    for scorer in scorers.values():
        for code, slot in scorer.slots.items():
            fill_state(slot.state, code, sizes, ctx, at, rng)
        scorer.publish_all(ctx, now)
    return scorers


# --- the benchmarks -------------------------------------------------------------------------


def scoring(config: CityConfig, sizes: Sizes, settings: Settings) -> Result:
    ctx = ScoringContext(config.city.model_districts(), config.params)
    partitions = settings.partitions
    now = datetime.now(UTC)
    events = located_incidents(config, sizes.incidents, now, random.Random(1))
    wire = [event.model_dump_json().encode() for event in events]
    batch = settings.batch_max
    figures: Result = {}
    before = load()
    for label, with_wire in (("process_only", False), ("decode_process_encode", True)):
        scorers = scorers_of(config, partitions)
        scorers_next = dict.fromkeys(scorers, 0)
        updates = 0
        update_bytes = 0
        progress(f"scale_scoring: {len(events):,} incidents, {label}")
        gc.collect()
        with timed() as span:
            for start in range(0, len(events), batch):
                by_partition: dict[int, list[tuple[int, LocatedEvent]]] = {}
                for i in range(start, min(start + batch, len(events))):
                    located = read_internal(LocatedEvent, wire[i]) if with_wire else events[i]
                    p = config.city.partition_of(located.district, partitions)
                    by_partition.setdefault(p, []).append((scorers_next[p], located))
                    scorers_next[p] += 1
                for p, records in by_partition.items():
                    outcome = scorers[p].process(records, ctx, now)
                    updates += len(outcome.updates)
                    if with_wire:
                        update_bytes += sum(len(u.model_dump_json()) for u in outcome.updates)
        figures[label] = {
            "incidents_per_s": round(len(events) / span.wall_s),
            "score_updates": updates,
            "updates_per_batch": round(updates / -(-len(events) // batch), 1),
            "us_per_incident": micro(span.wall_s, len(events)),
            "wall_us_per_update": micro(span.wall_s, updates),
            "cores_used": span.cores,
        }
        if with_wire:
            figures[label]["update_json_bytes_mean"] = round(update_bytes / updates)
    # The decay tick re-evaluates every district (each tick_interval_s); on realistic states.
    progress("scale_scoring: one decay tick over every district (realistic states)")
    scorers = realistic_scorers(config, sizes, ctx, partitions, now)
    later = now + timedelta(seconds=settings.tick_interval_s)
    published = 0
    with timed() as span:
        for scorer in scorers.values():
            published += len(scorer.tick(ctx, later, settings.tick_min_change))
    tick_s = span.wall_s
    return {
        "districts": len(config.city.codes),
        "partitions": partitions,
        "batch_max": batch,
        **figures,
        "tick": {
            "districts": len(config.city.codes),
            "seconds": round(tick_s, 3),
            "us_per_district": micro(tick_s, len(config.city.codes)),
            "updates_published": published,
            "tick_interval_s": settings.tick_interval_s,
            "core_share_at_interval": round(tick_s / settings.tick_interval_s, 3),
        },
        "load_avg_before": before,
        "load_avg_after": load(),
        "target": None,
        "met": None,
    }


def memory(config: CityConfig, sizes: Sizes, settings: Settings) -> Result:
    ctx = ScoringContext(config.city.model_districts(), config.params)
    n = len(config.city.codes)
    now = datetime.now(UTC)
    progress(
        f"scale_memory: {n} districts x ({sizes.incidents_per_district} incidents, "
        f"{sizes.sensors_per_district} sensors, {sizes.facts_per_district} facts)"
    )
    before = load()
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        scorers = realistic_scorers(config, sizes, ctx, settings.partitions, now)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    gc.collect()
    rss_after = rss_bytes()
    held = {
        key: sum(s.state.sizes()[key] for sc in scorers.values() for s in sc.slots.values())
        for key in ("incidents", "sensors", "facts")
    }
    return {
        "districts": n,
        "per_district": {
            "incidents": sizes.incidents_per_district,
            "sensors": sizes.sensors_per_district,
            "facts": sizes.facts_per_district,
        },
        "held": held,
        "traced_bytes": traced,
        "bytes_per_district": round(traced / n),
        "rss_delta_bytes": rss_after - rss_before,
        "rss_bytes_per_district": round((rss_after - rss_before) / n),
        "load_avg_before": before,
        "load_avg_after": load(),
        "target": None,
        "met": None,
    }


async def _pg_round_trips(
    dsn: str, states: dict[int, dict[str, Any]], app_id: str, topic: str
) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn)
        saves: list[float] = []
        loads: list[float] = []
        for _ in range(3):  # the first save inserts, the others update (as a running worker)
            for partition, state in states.items():
                start = time.perf_counter()
                await save_checkpoint(conn, app_id, topic, partition, state, datetime.now(UTC))
                saves.append(time.perf_counter() - start)
        for partition in states:
            start = time.perf_counter()
            loaded = await load_checkpoint(conn, app_id, topic, partition)
            loads.append(time.perf_counter() - start)
            if loaded is None or loaded["next_offset"] != states[partition]["next_offset"]:
                raise RuntimeError(f"partition {partition}'s checkpoint did not read back")
        return {
            "save_s_median": round(sorted(saves)[len(saves) // 2], 4),
            "save_s_max": round(max(saves), 4),
            "load_s_median": round(sorted(loads)[len(loads) // 2], 4),
        }
    finally:
        await conn.close()


def checkpoint(config: CityConfig, sizes: Sizes, settings: Settings, pg_dsn: str) -> Result:
    ctx = ScoringContext(config.city.model_districts(), config.params)
    now = datetime.now(UTC)
    fingerprint = model_fingerprint(config.params)
    progress("scale_checkpoint: realistic states, to_checkpoint + JSON per partition")
    before = load()
    scorers = realistic_scorers(config, sizes, ctx, settings.partitions, now)
    states: dict[int, dict[str, Any]] = {}
    build_s: list[float] = []
    sizes_b: list[int] = []
    for partition, scorer in scorers.items():
        with timed() as span:
            state = scorer.to_checkpoint(fingerprint)
            text = state_json(state)  # what the worker writes
        build_s.append(span.wall_s)
        sizes_b.append(len(text.encode()))
        states[partition] = state
    restore_s: list[float] = []
    for partition, scorer in scorers.items():
        text = state_json(states[partition])
        with timed() as span:
            PartitionScorer.from_checkpoint(orjson.loads(text), scorer.slots)  # as the worker
        restore_s.append(span.wall_s)
    progress("scale_checkpoint: PostgreSQL save and load per partition")
    pg = asyncio.run(_pg_round_trips(pg_dsn, states, "riskmon-scale-bench", "bench.located"))
    n = len(config.city.codes)
    return {
        "districts": n,
        "partitions": len(scorers),
        "districts_per_partition": round(n / len(scorers)),
        "bytes_per_partition": round(sum(sizes_b) / len(sizes_b)),
        "bytes_per_district": round(sum(sizes_b) / n),
        "bytes_all_partitions": sum(sizes_b),
        "to_checkpoint_and_json_s_per_partition": round(sum(build_s) / len(build_s), 4),
        "json_load_and_restore_s_per_partition": round(sum(restore_s) / len(restore_s), 4),
        "postgres": pg,
        "checkpoint_interval_s": settings.checkpoint_interval_s,
        "load_avg_before": before,
        "load_avg_after": load(),
        "target": None,
        "met": None,
    }


def alerts(config: CityConfig, sizes: Sizes, settings: Settings) -> Result:
    ctx = ScoringContext(config.city.model_districts(), config.params)
    before = load()
    progress("scale_alerts: the alert context (adjacency of every district)")
    with timed() as span:
        alert_ctx = AlertingContext.for_city(config)
    context_s = span.wall_s
    start = datetime.now(UTC)
    # A calm city first (no incidents: nothing open), then a storm opens alerts in a share of
    # the districts; the busy city (every district's realistic state) is measured last, on its
    # own alert state: with 50 recent incidents each, most districts hold open alerts.
    scorers = scorers_of(config, settings.partitions)
    for scorer in scorers.values():
        scorer.publish_all(ctx, start)
    city = CityAlerts()
    rounds: list[dict[str, Any]] = []
    decode_s = 0.0
    decoded = 0

    def feed(city: CityAlerts, updates: list[ScoreUpdate], now: datetime, label: str) -> None:
        nonlocal decode_s, decoded
        wire = [u.model_dump_json().encode() for u in updates]
        with timed() as span:
            parsed = [read_internal(ScoreUpdate, raw) for raw in wire]
        decode_s += span.wall_s
        decoded += len(parsed)
        messages = 0
        with timed() as span:
            for update in parsed:
                messages += len(city.observe(update, alert_ctx, now))
        rounds.append(
            {
                "round": label,
                "updates": len(parsed),
                "us_per_update": micro(span.wall_s, len(parsed)),
                "alert_messages": messages,
                "open_alerts_after": len(city.engine.open_alerts()),
                "cores_used": span.cores,
            }
        )
        progress(f"scale_alerts: {label}: {micro(span.wall_s, len(parsed))} us per update")

    for number in range(sizes.alert_rounds):
        now = start + timedelta(minutes=number + 1)
        updates = [u for s in scorers.values() for u in s.publish_all(ctx, now, "tick")]
        feed(city, updates, now, f"calm: every district #{number + 1}")
    # A storm: a share of the districts get a burst of severe fires at once.
    rng = random.Random(7)
    hit = rng.sample(
        list(config.city.codes), max(1, int(len(config.city.codes) * sizes.storm_share))
    )
    now = start + timedelta(minutes=sizes.alert_rounds + 1)
    storm: list[ScoreUpdate] = []
    for code in hit:
        p = config.city.partition_of(code, settings.partitions)
        scorer = scorers[p]
        records = [
            (
                scorer.next_offset + i,
                LocatedEvent(
                    kind="incident",
                    district=code,
                    received_at=now,
                    origin="bench/0/0",
                    incident=Incident(
                        id=f"storm-{code}-{i}",
                        source="bench",
                        type="fire",
                        severity=5,
                        occurred_at=now,
                        casualties=3,
                        code=code,
                    ),
                ),
            )
            for i in range(5)
        ]
        storm.extend(scorer.process(records, ctx, now).updates)
    feed(city, storm, now, f"storm: {len(hit)} districts")
    # After the storm: every district again, with the storm's alerts open.
    now += timedelta(minutes=1)
    feed(
        city,
        [u for s in scorers.values() for u in s.publish_all(ctx, now, "tick")],
        now,
        "after storm",
    )
    with timed() as span:
        text = state_json(city.to_checkpoint())
    tick_now = now + timedelta(seconds=settings.tick_interval_s)
    with timed() as tick_span:
        city.tick(alert_ctx, tick_now)
    busy_city = CityAlerts()
    busy = realistic_scorers(config, sizes, ctx, settings.partitions, now)
    for number in range(2):
        now += timedelta(minutes=1)
        updates = [u for s in busy.values() for u in s.publish_all(ctx, now, "tick")]
        feed(busy_city, updates, now, f"busy: every district (realistic states) #{number + 1}")
    return {
        "districts": len(config.city.codes),
        "context_build_s": round(context_s, 2),
        "rounds": rounds,
        "decode_us_per_update": micro(decode_s, decoded),
        "tick_s": round(tick_span.wall_s, 4),
        "checkpoint_bytes": len(text.encode()),
        "busy_checkpoint_bytes": len(state_json(busy_city.to_checkpoint()).encode()),
        "checkpoint_json_s": round(span.wall_s, 3),
        "detectors": len(city.detectors),
        "load_avg_before": before,
        "load_avg_after": load(),
        "target": None,
        "met": None,
    }


def worker(
    sizes: Sizes, workdir: Path, pg_dsn: str, folder: Path, profile: Path | None = None
) -> Result:
    """Incidents/s through ``riskmon worker`` for the synthetic city (embedded Tansu broker)."""
    from bench import pipeline_bench

    config = load_city_config(folder)
    before = load()
    progress("scale_worker: starting the embedded Tansu broker")
    broker = EmbeddedBroker.start(workdir / "tansu")
    try:
        settings = bench_settings(broker.bootstrap, pg_dsn, workdir / "data").model_copy(
            update={"city": folder}
        )
        asyncio.run(create_topics(settings))
        process = WorkerProcess(settings, workdir / "scale-worker.log", profile)
        process.start()
        try:
            assert process.process is not None
            cpu = CpuMeter({"worker": process.process.pid, "broker": broker.process.pid})
            result = asyncio.run(_worker_run(settings, config, process, sizes, cpu, pipeline_bench))
        except BaseException:
            progress(f"scale_worker: failed; worker log tail:\n{process.log_tail()}")
            raise
        finally:
            process.stop()
    finally:
        broker.stop()
    result["worker_profiled"] = profile is not None
    result["load_avg_before"] = before
    result["load_avg_after"] = load()
    return result


async def _worker_run(
    settings: Settings,
    config: CityConfig,
    process: WorkerProcess,
    sizes: Sizes,
    cpu: CpuMeter,
    pipeline_bench: Any,
) -> Result:
    city = config.city
    watch = pipeline_bench.ScoresWatch(settings)
    async with pipeline_bench.background(watch) as task:
        started = time.perf_counter()

        def every_district() -> bool:
            if task.done():
                task.result()
            return set(city.codes) <= set(watch.events)

        progress(f"scale_worker: waiting for the worker to publish {len(city.codes)} districts")
        ready = await watch.until(every_district, sizes.worker_ready_within_s, process)
        ready_s = ready - started
        progress(f"scale_worker: ready after {ready_s:.1f} s")
        pb_sizes = pipeline_bench.Sizes(
            sizes.worker_incidents, 0, 0.0, sizes.worker_ready_within_s, 15.0, 1
        )
        result: Result = await pipeline_bench.throughput(
            settings, city, watch, process, pb_sizes, cpu
        )
    result["worker_ready_s"] = round(ready_s, 1)
    result["partitions"] = settings.partitions
    return result


def run(quick: bool = False, profile_worker: Path | None = None) -> dict[str, Result]:
    """Every scale figure; with ``profile_worker`` the ``scale_worker`` run is under cProfile
    (and slower), its profile written there."""
    sizes = QUICK if quick else FULL
    settings = Settings()
    progress(f"scale: synthesizing a city of {sizes.districts} districts")
    config, synth_s = synthetic_city(sizes.districts)
    common = {
        "city_synth_s": round(synth_s, 2),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    results: dict[str, Result] = {}
    steps: list[tuple[str, Callable[[], Result]]] = [
        ("scale_scoring", lambda: scoring(config, sizes, settings)),
        ("scale_memory", lambda: memory(config, sizes, settings)),
        ("scale_alerts", lambda: alerts(config, sizes, settings)),
    ]
    for name, step in steps:
        results[name] = {**step(), **common}
        gc.collect()
    with tempfile.TemporaryDirectory(prefix="riskmon-scale-") as tmp:
        workdir = Path(tmp)
        with postgres_database(workdir) as (pg_dsn, origin):
            results["scale_checkpoint"] = {
                **checkpoint(config, sizes, settings, pg_dsn),
                "postgres_origin": origin,
                **common,
            }
            if sizes.worker_incidents:
                folder = workdir / "city"
                write_city_folder(random_city(sizes.districts, SEED), folder)
                measured = worker(sizes, workdir, pg_dsn, folder, profile_worker)
                results["scale_worker"] = {**measured, **common}
    return results
