"""History API benchmark: a week of score history stored, queries timed over real HTTP.

Seeds a fresh database (``RISKMON_PG_DSN``, else the machine's server on 127.0.0.1:5432, else an
embedded one) with a week of points for every Gimpo district and every series the worker writes
(composite, safety, 6 domains, 3 groups), one update per district every ``interval_s`` seconds:
the worst case of the worker's 5-second tick, where every district moves on every tick. Full
updates for time travel are seeded every ``updates_every_s`` seconds with a real message as payload.
Then it starts a gateway (with the embedded broker, which the API does not use) and times
``GET /api/districts/{code}/history`` for random 24-hour windows at 1-minute steps, and
``GET /api/scores?at=`` at random moments. Target: 24 h at 1-min steps in under 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import Result, progress
from bench.rig import postgres_database
from dashboard_ws.server import Gateway
from indices import ModelParams
from indices.taxonomy import DOMAINS, GROUPS
from streams.city.config import load_city_config
from streams.contract import Incident, LocatedEvent
from streams.ops.embedded import EmbeddedBroker
from streams.persistence import db, writes
from streams.pipeline.scoring import PartitionScorer, ScoringContext
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "run"]

TARGET_MS = 100.0
END = datetime(2026, 11, 25, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    days: float
    interval_s: int
    updates_every_s: int
    requests: int


FULL = Sizes(days=7, interval_s=5, updates_every_s=60, requests=60)
QUICK = Sizes(days=0.5, interval_s=60, updates_every_s=600, requests=5)
SERIES = ["composite", "safety", *DOMAINS, *(f"group:{g}" for g in GROUPS)]

SEED_POINTS = """
INSERT INTO score_points (series, district, domain, as_of, seq, value, grade, lo, hi, n,
                          model_version)
SELECT 'live', d, dom, t, (extract(epoch FROM t) * 1000000)::bigint, v,
       CASE WHEN dom = 'safety' THEN NULL ELSE least(5, 1 + floor(v / 2))::int2 END, v, v, 1,
       'riskmon-index/0.2'
FROM unnest($1::text[]) AS d, unnest($2::text[]) AS dom,
     generate_series($3::timestamptz, $4::timestamptz - interval '1 microsecond',
                     make_interval(secs => $5)) AS t,
     LATERAL (SELECT greatest(0, least(10, 4 + 3 * sin(extract(epoch FROM t) / 13750.0
                     + (hashtext(d || dom) % 97)) + random()))::float8 AS v) AS x
"""

SEED_UPDATES = """
INSERT INTO score_updates (series, district, seq, as_of, reason, composite, grade, safety,
                           model_version, payload, epoch, basis_partition, basis_offset)
SELECT 'live', d, (extract(epoch FROM t) * 1000000)::bigint, t, 'tick', 3.0, 2, 6.0,
       'riskmon-index/0.2',
       jsonb_set(jsonb_set($3::jsonb, '{district}', to_jsonb(d)), '{as_of}', to_jsonb(t)),
       1, 0, 0
FROM unnest($1::text[]) AS d,
     generate_series($4::timestamptz, $5::timestamptz - interval '1 microsecond',
                     make_interval(secs => $2)) AS t
"""


async def sink_write(dsn: str, batches: int, per_batch: int) -> dict[str, Any]:
    """The sink's write path alone: ``writes.write_batch`` of located incidents and the updates the
    scorer made of them, one transaction per batch as the sink does."""
    city = load_city_config().city
    ctx = ScoringContext(city.model_districts(), ModelParams())
    scorer = PartitionScorer(0, city.codes)
    rng = random.Random(3)
    types = ["fire", "theft", "traffic_accident", "assault", "fall", "gas_leak"]
    prepared = []
    offset, now = 0, END
    for b in range(batches):
        batch, stored = [], []
        for i in range(per_batch):
            code = rng.choice(city.codes)
            incident = Incident(
                id=f"b{b}-{i}",
                source="bench",
                type=rng.choice(types),
                severity=rng.randint(1, 5),
                occurred_at=now,
                code=code,
            )
            located = LocatedEvent(
                kind="incident",
                district=code,
                received_at=now,
                origin=f"bench/0/{offset}",
                incident=incident,
            )
            batch.append((offset, located))
            stored.append(writes.StoredEvent(located, 0, offset))
            offset += 1
        prepared.append((stored, scorer.process(batch, ctx, now).updates))
        now += timedelta(seconds=1)
    conn = await db.connect(dsn)
    try:
        await db.migrate(conn)
        timings = []
        for stored, updates in prepared:
            started = time.perf_counter()
            await writes.write_batch(conn, stored, updates, [])
            timings.append(time.perf_counter() - started)
    finally:
        await conn.close()
    total = sum(timings)
    update_count = sum(len(u) for _, u in prepared)
    return {
        "batches": batches,
        "events_per_batch": per_batch,
        "updates_per_batch": update_count // batches,
        "events_per_s": round(batches * per_batch / total),
        "batch_ms_p50": round(statistics.median(timings) * 1000, 1),
    }


async def seed(dsn: str, sizes: Sizes) -> dict[str, Any]:
    city = load_city_config().city
    codes = list(city.codes)
    scorer = PartitionScorer(0, codes)
    ctx = ScoringContext(city.model_districts(), ModelParams())
    sample = scorer.publish_all(ctx, END)[0].model_dump_json()
    start = END - timedelta(days=sizes.days)
    conn = await db.connect(dsn)
    try:
        await db.migrate(conn)
        started = time.perf_counter()
        day = start
        while day < END:
            upto = min(day + timedelta(days=1), END)
            await conn.execute(SEED_POINTS, codes, SERIES, day, upto, float(sizes.interval_s))
            await conn.execute(SEED_UPDATES, codes, float(sizes.updates_every_s), sample, day, upto)
            progress(
                f"api: seeded up to {upto.isoformat()} ({time.perf_counter() - started:.0f} s)"
            )
            day = upto
        await conn.execute("VACUUM ANALYZE score_points")
        await conn.execute("VACUUM ANALYZE score_updates")
        points = await conn.fetchval("SELECT count(*) FROM score_points")
        updates = await conn.fetchval("SELECT count(*) FROM score_updates")
        size = await conn.fetchval(
            """SELECT pg_total_relation_size('score_points')
                      + pg_total_relation_size('score_updates')"""
        )
        return {
            "seeded_points": points,
            "seeded_updates": updates,
            "seed_s": round(time.perf_counter() - started, 1),
            "stored_mb": round(size / 2**20),
        }
    finally:
        await conn.close()


def _get(url: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status, len(body)


def _summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def measure(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    rng = random.Random(11)
    codes = list(load_city_config().city.codes)
    start = END - timedelta(days=sizes.days)
    span = max(timedelta(0), END - start - timedelta(hours=24))
    async with Gateway(settings) as gateway:
        base = f"http://127.0.0.1:{gateway.port}"
        history: list[float] = []
        scores: list[float] = []
        sizes_bytes: list[int] = []
        first_ms = 0.0
        for n in range(sizes.requests + 1):
            window_start = start + span * rng.random()
            code, domain = rng.choice(codes), rng.choice(SERIES)
            query = urllib.parse.urlencode(
                {
                    "domain": domain,
                    "from": window_start.isoformat(),
                    "to": (window_start + timedelta(hours=24)).isoformat(),
                    "step": "1m",
                }
            )
            ms, status, size = await asyncio.to_thread(
                _get, f"{base}/api/districts/{code}/history?{query}"
            )
            assert status == 200
            if n == 0:
                first_ms = ms  # connection pool opened, caches cold
                continue
            history.append(ms)
            sizes_bytes.append(size)
            at = start + (END - start) * rng.random()
            ms, status, _ = await asyncio.to_thread(
                _get, f"{base}/api/scores?{urllib.parse.urlencode({'at': at.isoformat()})}"
            )
            assert status == 200
            scores.append(ms)
    return {
        "history_24h_1min": _summary(history)
        | {
            "points": 24 * 60,
            "bytes": int(statistics.median(sizes_bytes)),
            "first_ms": round(first_ms, 1),
        },
        "time_travel_14_districts": _summary(scores),
    }


def run(quick: bool = False) -> dict[str, Result]:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="riskmon-api-bench-") as tmp:
        workdir = Path(tmp)
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, origin):
                progress("api: timing the sink's writes")
                sink = asyncio.run(sink_write(pg_dsn, 5 if quick else 20, 500))
                seeded = asyncio.run(seed(pg_dsn, sizes))
                settings = Settings(kafka_bootstrap=broker.bootstrap, pg_dsn=pg_dsn, gateway_port=0)
                progress("api: timing requests")
                timed = asyncio.run(measure(settings, sizes))
        finally:
            broker.stop()
    p50 = timed["history_24h_1min"]["p50_ms"]
    p95 = timed["history_24h_1min"]["p95_ms"]
    return {
        "api_history": {
            "postgres": origin,
            "days": sizes.days,
            "districts": 14,
            "series_per_district": len(SERIES),
            "update_interval_s": sizes.interval_s,
            **seeded,
            **timed,
            "target": f"24 h at 1-min steps < {TARGET_MS:.0f} ms (p95)",
            "met": None if quick else p95 < TARGET_MS,
            "p50_ms": p50,
        },
        "sink_write": sink | {"postgres": origin, "target": None, "met": None},
    }


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2))
