"""The map's data on a real PostgreSQL through the gateway's API shell: the city document, the
heat layer (coarse for viewers, fine for analysts) and the statistics map, each checked against
a count made in Python from the same random events (the oracle)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import pytest
import shapely

from dashboard_ws.api.service import HistoryApi
from streams.city.config import CityConfig
from streams.contract import Incident, LocatedEvent
from streams.persistence import db, writes
from streams.settings import Settings
from tests.cities import exact_gimpo_config
from tests.principals import ADMIN, VIEWER, principal

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
TYPES = ("fire", "theft", "traffic_accident", "assault")


def random_events(config: CityConfig, rng: random.Random, count: int) -> list[writes.StoredEvent]:
    """Incidents at random points of random districts over the last 48 h; some by code only."""
    city = config.city
    stored = []
    for n in range(count):
        code = rng.choice(city.codes)
        at = NOW - timedelta(minutes=rng.randrange(48 * 60))
        kind = rng.choice(TYPES)
        if n % 7 == 0:  # placed by its district code: no point, no cell
            incident = Incident(
                id=f"M-{n}", source="gimpo-police", type=kind, severity=1 + n % 5,
                occurred_at=at, code=code,
            )  # fmt: skip
            cell = None
        else:
            point = city.districts[code].geometry.representative_point()
            lat, lon = point.y + rng.uniform(-1e-4, 1e-4), point.x + rng.uniform(-1e-4, 1e-4)
            incident = Incident(
                id=f"M-{n}", source="gimpo-police", type=kind, severity=1 + n % 5,
                occurred_at=at, lat=lat, lon=lon,
            )  # fmt: skip
            cell = city.h3_cell(lat, lon)
        event = LocatedEvent(
            kind="incident",
            district=code,
            h3=cell,
            received_at=at,
            origin=f"riskmon.incidents/0/{n}",
            incident=incident,
        )
        stored.append(writes.StoredEvent(event, partition=0, offset=n))
    return stored


@pytest.fixture
async def seeded(pg_dsn: str) -> Any:
    config = exact_gimpo_config()
    events = random_events(config, random.Random(7), 400)
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await writes.write_events(conn, 1, events)
    finally:
        await conn.close()
    api = HistoryApi(
        Settings(pg_dsn=pg_dsn, base_map_url="https://{s}.tiles.example/{z}/{x}/{y}.png"),
        config.city.codes,
        ["composite"],
        city=config,
    )
    yield api, config, [s.event for s in events]
    await api.close()


def in_range(events: list[LocatedEvent], start: datetime, end: datetime) -> list[LocatedEvent]:
    return [e for e in events if e.incident is not None and start <= e.incident.occurred_at < end]


async def get(api: HistoryApi, path: str, query: str, who: Any = ADMIN) -> Any:
    status, body = await api.handle(path, query.replace("+", "%2B"), who)
    assert status == 200, body
    return json.loads(body)


async def test_the_city_document_draws_every_district(seeded: Any) -> None:
    api, config, _ = seeded
    city = await get(api, "/api/city", "", VIEWER)
    features = city["districts"]["features"]
    assert [f["properties"]["code"] for f in features] == list(config.city.codes)
    for feature in features:
        shape = shapely.geometry.shape(feature["geometry"])
        original = config.city.districts[feature["properties"]["code"]].geometry
        assert abs(shape.area - original.area) / original.area < 1e-4
        assert feature["properties"]["population"] > 0
    assert (city["timezone"], city["language"]) == ("Asia/Seoul", "ko")
    assert city["base_map"]["url"].startswith("https://{s}.tiles.example/")
    assert len(city["bounds"]) == 4
    assert city["grade_cuts"] == list(config.params.grade_cuts)


async def test_heat_cells_count_every_located_incident_once(seeded: Any) -> None:
    api, _, events = seeded
    start, end = NOW - timedelta(hours=24), NOW
    query = f"from={start.isoformat()}&to={end.isoformat()}"
    expected = in_range(events, start, end)
    for who, resolution in ((ADMIN, 9), (principal("analyst"), 9), (VIEWER, 7)):
        heat = await get(api, "/api/heat", query, who)
        assert heat["resolution"] == resolution
        oracle: Counter[str] = Counter()
        severity: Counter[str] = Counter()
        for e in expected:
            if e.h3 is None or e.incident is None:
                continue
            cell = e.h3 if resolution == 9 else h3.cell_to_parent(e.h3, resolution)
            oracle[cell] += 1
            severity[cell] += e.incident.severity
        assert {c["h3"]: c["count"] for c in heat["cells"]} == dict(oracle)
        assert {c["h3"]: c["intensity"] for c in heat["cells"]} == dict(severity)
        assert all(h3.get_resolution(c["h3"]) == resolution for c in heat["cells"])
    fires = await get(api, "/api/heat", query + "&type=fire", ADMIN)
    assert sum(c["count"] for c in fires["cells"]) == sum(
        1 for e in expected if e.h3 and e.incident and e.incident.type == "fire"
    )


async def test_statistics_per_district_and_type_match_a_count_and_export_as_csv(
    seeded: Any,
) -> None:
    api, config, events = seeded
    start, end = NOW - timedelta(hours=36), NOW - timedelta(hours=6)
    query = f"from={start.isoformat()}&to={end.isoformat()}"
    stats = await get(api, "/api/stats", query, VIEWER)
    oracle: Counter[tuple[str, str]] = Counter(
        (e.district, e.incident.type) for e in in_range(events, start, end) if e.incident
    )
    assert [d["district"] for d in stats["districts"]] == list(config.city.codes)
    for row in stats["districts"]:
        expected = {t: n for (d, t), n in oracle.items() if d == row["district"]}
        assert row["by_type"] == expected
        assert row["total"] == sum(expected.values())
        population = config.city.districts[row["district"]].population
        assert row["per_10k"] == pytest.approx(row["total"] * 10_000 / population, abs=1e-3)
    type_totals = Counter(t for (_, t), n in oracle.items() for _ in range(n))
    assert stats["types"] == sorted(type_totals, key=lambda t: (-type_totals[t], t))

    status, body = await api.handle("/api/stats", query.replace("+", "%2B") + "&format=csv", VIEWER)
    assert status == 200
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(table) == len(config.city.codes)
    assert sum(int(r["total"]) for r in table) == sum(oracle.values())
    thefts = await get(api, "/api/stats", query + "&type=theft", VIEWER)
    assert thefts["types"] in ([], ["theft"])
    assert sum(d["total"] for d in thefts["districts"]) == sum(
        n for (_, t), n in oracle.items() if t == "theft"
    )
