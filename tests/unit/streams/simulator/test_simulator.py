"""The event simulator's pure core: determinism, contract, geography, rates, storms, duplicates."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from shapely.geometry import shape

from indices.taxonomy import INCIDENT_TYPES
from streams.contract import (
    SAFETY_FACT,
    FacilityFact,
    Incident,
    InputEvent,
    InspectionFact,
    SensorReading,
)
from streams.settings import Topics
from streams.simulator.core import KST, DistrictInput, SimConfig, SimEvent, Simulator
from streams.simulator.districts import districts_from_city, river_gauges_of
from streams.simulator.incidents import KINDS
from streams.simulator.producer import route
from tests.cities import exact_gimpo_config, shared_gimpo

START = datetime(2026, 11, 24, 9, 0, tzinfo=KST)  # November: no heat illness, modest haze


@pytest.fixture(scope="module")
def districts() -> list[DistrictInput]:
    return districts_from_city(exact_gimpo_config().city)


GAUGES = river_gauges_of(exact_gimpo_config())


@pytest.fixture(scope="module")
def polygons() -> dict[str, shapely.Geometry]:
    """District polygons read straight from the GeoJSON, independently of the simulator's loader."""
    text = (shared_gimpo() / "districts.geojson").read_text("utf-8")
    features = json.loads(text)["features"]
    return {f["properties"]["code"]: shape(f["geometry"]) for f in features}


@pytest.fixture(scope="module")
def calm_day(districts: list[DistrictInput]) -> list[SimEvent]:
    """One simulated day, no storms or haze, 40x incident rates, hourly readings."""
    config = SimConfig(
        rate_multiplier=40,
        storms_per_day=0,
        haze_per_day=0,
        reading_interval=timedelta(hours=1),
        river_gauges=GAUGES,
    )
    sim = Simulator(districts, seed=11, start=START, config=config)
    return sim.advance_with_districts(START + timedelta(days=1))


@pytest.fixture(scope="module")
def stormy(districts: list[DistrictInput]) -> list[SimEvent]:
    """Eight hours with one storm forced 30 minutes in, readings every 5 minutes."""
    config = SimConfig(
        rate_multiplier=10,
        storms_per_day=0,
        first_storm_after=timedelta(minutes=30),
        reading_interval=timedelta(minutes=5),
        river_gauges=GAUGES,
    )
    sim = Simulator(districts, seed=3, start=START, config=config)
    return sim.advance_with_districts(START + timedelta(hours=8))


def incidents(events: list[SimEvent]) -> list[tuple[Incident, str]]:
    """The incidents among ``events``, each with the district the simulator placed it in."""
    return [(e, d) for e, d in events if isinstance(e, Incident)]


def dumps(events: list[InputEvent]) -> list[str]:
    return [e.model_dump_json() for e in events]


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_and_calls_give_the_same_events(districts: list[DistrictInput]) -> None:
    config = SimConfig(rate_multiplier=20, first_storm_after=timedelta(minutes=20))
    runs = []
    for _ in range(2):
        sim = Simulator(districts, seed=7, start=START, config=config)
        steps = [sim.advance(START + timedelta(minutes=m)) for m in range(0, 91, 7)]
        runs.append([dumps(step) for step in steps])
    assert runs[0] == runs[1]
    assert sum(len(step) for step in runs[0]) > 10_000


def test_events_do_not_depend_on_step_size(districts: list[DistrictInput]) -> None:
    config = SimConfig(rate_multiplier=20, first_storm_after=timedelta(minutes=20))
    one = Simulator(districts, seed=7, start=START, config=config)
    many = Simulator(districts, seed=7, start=START, config=config)
    end = START + timedelta(hours=1)
    stepped = [e for s in range(0, 3601, 13) for e in many.advance(START + timedelta(seconds=s))]
    stepped += many.advance(end)
    assert dumps(one.advance(end)) == dumps(stepped)


def test_another_seed_gives_other_events_and_ids(districts: list[DistrictInput]) -> None:
    config = SimConfig(rate_multiplier=20)
    end = START + timedelta(hours=1)
    a = Simulator(districts, seed=1, start=START, config=config).advance(end)
    b = Simulator(districts, seed=2, start=START, config=config).advance(end)
    ids_a = {e.id for e in a if isinstance(e, Incident)}
    ids_b = {e.id for e in b if isinstance(e, Incident)}
    assert ids_a
    assert ids_b
    assert not ids_a & ids_b


def test_time_must_be_aware_and_going_back_returns_nothing(
    districts: list[DistrictInput],
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Simulator(districts, seed=1, start=datetime(2026, 11, 24, 9, 0))
    sim = Simulator(districts, seed=1, start=START, config=SimConfig(rate_multiplier=20))
    assert sim.advance(START + timedelta(hours=1))
    assert sim.advance(START + timedelta(minutes=30)) == []
    assert sim.now == START + timedelta(hours=1)


# --- contract ------------------------------------------------------------------------------------


def test_every_message_round_trips_through_the_contract(
    calm_day: list[SimEvent], stormy: list[SimEvent]
) -> None:
    seen: Counter[str] = Counter()
    for event, _ in calm_day + stormy:
        text = event.model_dump_json()
        if isinstance(event, InspectionFact | FacilityFact):
            again: InputEvent = SAFETY_FACT.validate_json(text)
        else:
            again = type(event).model_validate_json(text)
        assert again == event
        fields = json.loads(text)
        moment = fields.get("occurred_at") or fields.get("observed_at") or fields["effective_at"]
        assert moment.endswith("+09:00")
        seen[type(event).__name__] += 1
    assert set(seen) == {"Incident", "SensorReading", "FacilityFact", "InspectionFact"}


def test_route_keys_by_source_id(calm_day: list[SimEvent]) -> None:
    topics = Topics()
    for event, _ in calm_day[:20_000]:
        topic, key = route(event, topics)
        if isinstance(event, Incident):
            assert (topic, key) == (topics.incidents, event.id.encode())
        elif isinstance(event, SensorReading):
            assert (topic, key) == (topics.readings, event.sensor_id.encode())
        elif isinstance(event, FacilityFact):
            assert (topic, key) == (topics.safety, event.facility_id.encode())
        else:
            assert (topic, key) == (topics.safety, event.structure_id.encode())


# --- geography and rates -------------------------------------------------------------------------


def test_every_point_lies_inside_its_district(
    calm_day: list[SimEvent], stormy: list[SimEvent], polygons: dict[str, shapely.Geometry]
) -> None:
    outside = []
    for event, district in calm_day + stormy:
        assert event.lat is not None
        assert event.lon is not None
        if not shapely.contains_xy(polygons[district], event.lon, event.lat):
            outside.append((type(event).__name__, district, event.lat, event.lon))
    assert outside == []
    assert {d for _, d in incidents(calm_day)} == set(polygons)


def test_incident_rates_follow_population(
    calm_day: list[SimEvent], districts: list[DistrictInput]
) -> None:
    unique = {(e.source, e.id): d for e, d in incidents(calm_day)}
    counts = Counter(unique.values())
    total = sum(counts.values())
    expected_total = 40 * sum(kind.per_day for kind in KINDS.values())
    assert 0.85 * expected_total < total < 1.15 * expected_total
    population = {d.code: d.population for d in districts}
    city = sum(population.values())
    for code, residents in population.items():
        expected = total * residents / city
        # clusters over-disperse counts: allow 4 sd of a Poisson with twice the variance
        assert abs(counts[code] - expected) < 4 * math.sqrt(2 * expected), code
    by_type = Counter(e.type for e, _ in incidents(calm_day))
    assert set(by_type) <= set(INCIDENT_TYPES)
    assert by_type["theft"] > by_type["traffic_accident"] > by_type["fire"] > 0


def test_severities_skew_low(calm_day: list[SimEvent]) -> None:
    severity = Counter(e.severity for e, _ in incidents(calm_day))
    total = sum(severity.values())
    assert (severity[1] + severity[2]) / total > 0.75
    assert severity[1] > severity[2] > severity[3] > severity[4] + severity[5]


def test_duplicates_share_id_and_content(calm_day: list[SimEvent]) -> None:
    sent: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for event, _ in incidents(calm_day):
        sent[(event.source, event.id)].append(event.model_dump_json())
    resent = [copies for copies in sent.values() if len(copies) > 1]
    assert all(len(set(copies)) == 1 for copies in resent)
    assert 0.02 < len(resent) / len(sent) < 0.09


# --- sensors and storms --------------------------------------------------------------------------


def test_stations_report_every_interval(stormy: list[SimEvent]) -> None:
    times: defaultdict[str, list[datetime]] = defaultdict(list)
    for event, _ in stormy:
        if isinstance(event, SensorReading):
            times[event.sensor_id].append(event.observed_at)
    assert {"river-gimpo-1", "river-gimpo-2"} <= set(times)
    kinds = {e.kind for e, _ in stormy if isinstance(e, SensorReading)}
    assert kinds == {
        "rainfall_mm_1h",
        "river_level_m",
        "apparent_temperature_c",
        "wind_ms",
        "pm10_ugm3",
        "pm25_ugm3",
    }
    for observed in times.values():
        assert len(observed) == 8 * 12 + 1
        gaps = {b - a for a, b in itertools.pairwise(observed)}
        assert gaps == {timedelta(minutes=5)}


def test_a_storm_brings_heavy_rain_high_rivers_and_floods(stormy: list[SimEvent]) -> None:
    def peak(prefix: str, before: datetime | None = None) -> float:
        return max(
            e.value
            for e, _ in stormy
            if isinstance(e, SensorReading)
            and e.sensor_id.startswith(prefix)
            and (before is None or e.observed_at < before)
        )

    storm_start = START + timedelta(minutes=30)
    assert peak("rain-", before=storm_start) == 0
    assert peak("rain-") > 30
    assert peak("river-gimpo-1") > peak("river-gimpo-1", before=storm_start) + 1.0
    assert peak("wind-") > peak("wind-", before=storm_start)
    floods = [e for e, _ in incidents(stormy) if e.type == "flood"]
    assert len(floods) >= 3
    assert all(f.occurred_at >= storm_start for f in floods)


def test_readings_stay_in_plausible_ranges(calm_day: list[SimEvent]) -> None:
    ranges = {
        "rainfall_mm_1h": (0, 0),
        "river_level_m": (0, 2.5),
        "apparent_temperature_c": (-25, 25),  # a late-November day
        "wind_ms": (0, 12),
        "pm10_ugm3": (1, 300),
        "pm25_ugm3": (1, 150),
    }
    for event, _ in calm_day:
        if isinstance(event, SensorReading):
            low, high = ranges[event.kind]
            assert low <= event.value <= high, event


# --- safety facts --------------------------------------------------------------------------------


def test_the_register_at_start_and_its_changes(
    calm_day: list[SimEvent], districts: list[DistrictInput]
) -> None:
    at_start = [e for e, _ in calm_day if isinstance(e, FacilityFact) and e.effective_at == START]
    assert all(f.action == "added" for f in at_start)
    kinds = Counter(f.facility for f in at_start)
    assert kinds["fire_station"] == 8
    assert kinds["police_box"] == 11
    assert kinds["cctv"] > 3000
    assert kinds["security_light"] > kinds["cctv"]
    cctv_per_district = Counter(
        d for e, d in calm_day if isinstance(e, FacilityFact) and e.facility == "cctv"
    )
    densest = max(districts, key=lambda d: d.population).code
    sparsest = min(districts, key=lambda d: d.population).code
    assert cctv_per_district[densest] > 5 * cctv_per_district[sparsest]

    grades = Counter(e.grade for e, _ in calm_day if isinstance(e, InspectionFact))
    assert (grades["A"] + grades["B"] + grades["C"]) / sum(grades.values()) > 0.85
    assert grades["D"] > grades["E"]

    later = [
        e
        for e, _ in calm_day
        if isinstance(e, FacilityFact | InspectionFact) and e.effective_at > START
    ]
    actions = Counter(e.action if isinstance(e, FacilityFact) else "inspection" for e in later)
    assert actions["added"]
    assert actions["removed"]
    assert actions["inspection"]
    removed = {
        e.facility_id for e in later if isinstance(e, FacilityFact) and e.action == "removed"
    }
    announced = {e.facility_id for e, _ in calm_day if isinstance(e, FacilityFact)}
    assert removed <= announced


def test_other_timezones_are_accepted(districts: list[DistrictInput]) -> None:
    start = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    sim = Simulator(districts, seed=5, start=start, config=SimConfig(rate_multiplier=20))
    events = sim.advance(start.astimezone(KST) + timedelta(hours=1))
    assert events
    assert all(
        e.observed_at.utcoffset() == timedelta(hours=9)
        for e in events
        if isinstance(e, SensorReading)
    )


def test_any_city_folder_is_simulated_with_its_own_gauges() -> None:
    """A made-up city: gauges named by [model.river_stages] stand in the first and last district
    (or where [city] river_gauges puts them), and every event lies in a district of that city."""
    from streams.city.config import config_of_data
    from streams.city.synth import random_city

    data = random_city(40, seed=9)
    data = type(data)(
        data.name,
        data.districts,
        model={"river_stages": {"gauge-a": [2.0, 3.0, 4.0, 5.0], "gauge-b": [1.0, 2.0, 3.0, 4.0]}},
        river_gauges={"gauge-b": data.districts[5].code},
    )
    config = config_of_data(data, source="test")
    gauges = river_gauges_of(config)
    assert [g.sensor_id for g in gauges] == ["gauge-a", "gauge-b"]
    sim = Simulator(
        districts_from_city(config.city),
        seed=1,
        start=START,
        config=SimConfig(rate_multiplier=50, river_gauges=gauges),
    )
    events = sim.advance_with_districts(START + timedelta(hours=2))
    codes = set(config.city.codes)
    assert events
    assert all(district in codes for _, district in events)
    placed = {e.sensor_id: d for e, d in events if isinstance(e, SensorReading)}
    assert placed["gauge-a"] == config.city.codes[0]
    assert placed["gauge-b"] == data.districts[5].code
