"""The public routes on the real stack (Kafka, worker, sink, PostgreSQL, gateway), without any
login: ``/public`` and ``/open/districts.geojson`` answer; the grades follow the delay rule (the
scores of incidents published now are not public now, and are an hour and more later: the
published grades are those of the stored history at the published hour, an oracle computed here
from the stored rows); ETag/304, cache and CORS headers; a restarted gateway answers the same
bytes; the Host check; the per-address rate limit; and **no incident-level data**: the whole
response is searched for the incidents' ids, descriptions, coordinates and H3 cells.
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dashboard_ws.server import Gateway
from streams.city.config import load_city_config
from streams.contract import Incident
from streams.persistence import db
from streams.persistence.sink import run_sink
from tests.integration.harness import WorkerProcess, eventually, isolated_settings, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DISTRICTS = 14
GROUPS = ("natural", "calamity", "crime")
# Points inside 장기동, 사우동 and 구래동 with six distinctive decimals each.
PLACES = [(37.638517, 126.679143), (37.618963, 126.726171), (37.645893, 126.628117)]


def incidents(token: str) -> list[Incident]:
    """Incidents whose ids, descriptions and points must never appear in public answers."""
    kinds = ("fire", "assault", "traffic_accident", "theft", "fire", "assault")
    return [
        Incident(
            id=f"PRIV{token}-{n}",
            source="gimpo-police" if kinds[n] in ("assault", "theft") else "gimpo-fire",
            type=kinds[n],
            severity=5,
            occurred_at=datetime.now(UTC),
            description=f"secret-note-{token}-{n} 비밀 메모",
            lat=PLACES[n % 3][0],
            lon=PLACES[n % 3][1],
        )
        for n in range(len(kinds))
    ]


class Clock:
    """The time the gateway's public routes publish for: real time moved by ``shift``."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


async def fetch(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` without credentials: status, headers (lower-case names), body."""

    def get() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                return answer.status, _lower(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, _lower(exc.headers.items()), exc.read()

    return await asyncio.to_thread(get)


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


async def stored_rows(dsn: str, at: datetime) -> dict[str, dict[str, Any]]:
    """Each district's last live update at or before ``at``, as stored (the oracle's input)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT DISTINCT ON (district) district, payload FROM score_updates
               WHERE series = 'live' AND as_of <= $1
               ORDER BY district, as_of DESC, seq DESC""",
            at,
        )
    finally:
        await conn.close()
    return {r["district"]: json.loads(r["payload"]) for r in rows}


async def count_rows(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def expected_grades(payload: dict[str, Any], cuts: list[float]) -> dict[str, int]:
    """The public grades of a stored update, computed here from the model's grade cuts."""

    def band(value: float) -> int:
        return 1 + sum(1 for cut in cuts if value >= cut)

    grades = {"overall": payload["composite"]["grade"], "safety": band(10.0 - payload["safety"])}
    for group in GROUPS:
        grades[group] = payload["groups"][group]["grade"]
    return grades


def no_floats_outside_geometry(doc: Any, where: str = "") -> list[str]:
    """Paths of every non-integer number outside the geometries (grades are integers)."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key != "geometry":
                found += no_floats_outside_geometry(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            found += no_floats_outside_geometry(value, f"{where}[{n}]")
    elif isinstance(doc, float):
        found.append(where)
    return found


async def test_public_grades_are_delayed_cached_limited_and_carry_no_incident(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    config = load_city_config(settings.city)
    cuts = list(config.params.grade_cuts)
    token = uuid.uuid4().hex[:10]
    sent = incidents(token)
    clock = Clock()
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)  # as the sink would; before, the route says 503 (no tables)
    finally:
        await conn.close()
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        async with Gateway(settings, public_clock=clock) as gateway:
            base = f"http://127.0.0.1:{gateway.port}"
            url = base + "/open/districts.geojson"

            # the page and the data answer without any login
            status, _, page = await fetch(base + "/public")
            assert status == 200
            assert "우리 동네 안전 지도".encode() in page
            status, headers, body = await fetch(url)
            assert status == 200, body
            assert headers["content-type"] == "application/geo+json"
            before = json.loads(body)
            assert len(before["features"]) == DISTRICTS

            # incidents now, and the worker's scores of them stored
            await produce(settings, settings.topics.incidents, sent)

            async def scored() -> bool:
                mine = await count_rows(
                    pg_dsn, "SELECT count(*) FROM score_updates WHERE payload::text LIKE $1",
                    f"%PRIV{token}-%",
                )  # fmt: skip
                every = await count_rows(
                    pg_dsn, "SELECT count(DISTINCT district) FROM score_updates"
                )
                return mine > 0 and every == DISTRICTS

            await eventually(scored, within=120, interval=1.0, watch=[worker])

            # now: the published hour is before every stored score: nothing is public yet
            status, _, body = await fetch(url)
            now_doc = json.loads(body)
            as_of = datetime.fromisoformat(now_doc["as_of"])
            assert as_of <= datetime.now(UTC) - timedelta(hours=1)
            assert await stored_rows(pg_dsn, as_of) == {}
            for feature in now_doc["features"]:
                assert set(feature["properties"]["grades"].values()) == {None}

            # stop the worker (and let the sink store its last updates): the history is final
            worker.stop()
            await eventually(_settled(pg_dsn), within=30, interval=1.0)

            # two hours later the published hour lies after every score: the grades are public,
            # and they are the stored history's at that hour
            clock.shift = timedelta(hours=2)
            status, headers, body = await fetch(url)
            assert status == 200
            doc = json.loads(body)
            as_of = datetime.fromisoformat(doc["as_of"])
            assert (as_of.minute, as_of.second) == (0, 0)
            assert as_of <= clock() - timedelta(hours=1)
            stored = await stored_rows(pg_dsn, as_of)
            assert len(stored) == DISTRICTS
            for feature in doc["features"]:
                props = feature["properties"]
                assert props["grades"] == expected_grades(stored[props["code"]], cuts), props
                assert props["model_version"] == stored[props["code"]]["model_version"]
            assert any(f["properties"]["grades"]["overall"] for f in doc["features"])
            assert doc["boundaries"]["license"] == config.license
            assert doc["boundaries"]["attribution"] == config.attribution

            # no incident-level data anywhere in the bytes (district boundaries are fine)
            cells = {config.city.h3_cell(lat, lon) for lat, lon in PLACES}
            secrets = [token, "secret-note", "비밀 메모", "PRIV", *cells]
            secrets += [f"{x:.6f}" for place in PLACES for x in place]
            for text in secrets:
                assert text.encode() not in body, f"{text!r} is in the public answer"
                assert text.encode() not in page, f"{text!r} is in the public page"
            for key in ("drivers", "contributors", "event_id", "description", "intensity"):
                assert key.encode() not in body, f"{key!r} is in the public answer"
            assert no_floats_outside_geometry(doc) == []

            # caching: ETag and Last-Modified, 304 for a current copy; CORS for everyone
            etag = headers["etag"]
            assert headers["access-control-allow-origin"] == "*"
            assert headers["cross-origin-resource-policy"] == "cross-origin"
            max_age = int(headers["cache-control"].split("max-age=")[1])
            assert 0 < max_age <= 600
            published = parsedate_to_datetime(headers["last-modified"])
            assert published == as_of + timedelta(hours=1)
            status, again, empty = await fetch(url, {"If-None-Match": etag})
            assert (status, empty, again["etag"]) == (304, b"", etag)
            status, _, _ = await fetch(url, {"If-Modified-Since": headers["last-modified"]})
            assert status == 304
            status, _, full = await fetch(url, {"If-None-Match": '"stale"'})
            assert (status, full) == (200, body)

            # the Host check applies as on every route
            status, _, _ = await fetch(url, {"Host": "evil.example"})
            assert status == 403

        # a new gateway (nothing kept in memory) answers the same bytes for the same hour
        async with Gateway(settings, public_clock=clock) as second:
            status, headers, same = await fetch(
                f"http://127.0.0.1:{second.port}/open/districts.geojson"
            )
            assert (status, headers["etag"], same) == (200, etag, body)

            # the per-address limit: 429 with Retry-After, readable cross-origin
            limited = None
            for _ in range(second.public.limiter.per_window + 1):
                answer = await fetch(f"http://127.0.0.1:{second.port}/open/districts.geojson")
                if answer[0] == 429:
                    limited = answer
                    break
            assert limited is not None, "no 429 within the limit"
            retry = int(limited[1]["retry-after"])
            assert 0 < retry <= math.ceil(second.public.limiter.window_s)
            assert limited[1]["access-control-allow-origin"] == "*"
            assert json.loads(limited[2])["error"] == "rate_limited"
    except BaseException as exc:
        exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
        raise
    finally:
        stop_sink.set()
        await sink
        worker.stop()


def _settled(dsn: str) -> Callable[[], Any]:
    """A check that is true once the number of stored updates stopped changing."""
    last: list[int] = []

    async def check() -> bool:
        count = await count_rows(dsn, "SELECT count(*) FROM score_updates")
        last.append(count)
        return len(last) >= 3 and last[-1] == last[-2] == last[-3]

    return check
