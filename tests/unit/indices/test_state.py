"""DistrictState: outcomes, newest-wins rules, decay, contributions, pruning, persistence."""

from __future__ import annotations

import json
import math

import pytest

from indices import (
    District,
    DistrictState,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    InvalidConfig,
    InvalidEvent,
    InvalidState,
    ModelParams,
    ReadingIn,
    StateLimits,
    score_batch,
)
from indices.formulas import any_of, incident_hazard, risk
from indices.taxonomy import GROUPS

HOUR = 3600.0
T0 = 1_795_000_000.0  # an epoch instant in 2026
PARAMS = ModelParams(river_stages={"gauge-1": (2.0, 3.0, 4.0, 5.0)})
DISTRICT = District("4157056000", "장기동", population=40_000, area_km2=4.0)


def fed(*events: object) -> DistrictState:
    state = DistrictState.new()
    for event in events:
        state.apply(event, PARAMS)  # type: ignore[arg-type]
    return state


def test_incident_outcomes_applied_duplicate_conflict() -> None:
    state = DistrictState.new()
    fire = IncidentIn("fire:1", "fire", 3, T0)
    assert state.apply(fire, PARAMS) == "applied"
    before = state.to_dict()
    assert state.apply(IncidentIn("fire:1", "fire", 3, T0), PARAMS) == "duplicate"
    assert state.apply(IncidentIn("fire:1", "fire", 4, T0), PARAMS) == "conflict"
    assert state.apply(IncidentIn("fire:1", "fire", 3, T0, casualties=1), PARAMS) == "conflict"
    assert state.to_dict() == before  # neither changed anything; the first one stays


def test_fact_outcomes_share_one_key_space() -> None:
    state = DistrictState.new()
    cctv = FacilityIn("city:7", "cam-1", "cctv", True, T0)
    assert state.apply(cctv, PARAMS) == "applied"
    assert state.apply(cctv, PARAMS) == "duplicate"
    assert state.apply(InspectionIn("city:7", "bridge-1", "D", T0), PARAMS) == "conflict"
    # incident keys are a separate space: the same "source:id" on the incident topic is fine
    assert state.apply(IncidentIn("city:7", "sinkhole", 2, T0), PARAMS) == "applied"


def test_new_keys_beyond_the_limits_are_refused_and_known_ones_still_count() -> None:
    limits = StateLimits(max_incidents=2, max_sensors=1, max_facts=1)
    state = DistrictState.new()
    assert [
        state.apply(IncidentIn(f"fire:{n}", "fire", 3, T0 + n), PARAMS, limits) for n in range(3)
    ] == ["applied", "applied", "over_capacity"]
    assert state.apply(IncidentIn("fire:1", "fire", 3, T0 + 1), PARAMS, limits) == "duplicate"
    assert state.apply(IncidentIn("fire:1", "fire", 4, T0 + 1), PARAMS, limits) == "conflict"
    assert state.apply(ReadingIn("aws-1", "rainfall_mm_1h", 5.0, T0), PARAMS, limits) == "applied"
    # a known sensor's newer reading is not a new entry
    assert state.apply(ReadingIn("aws-1", "rainfall_mm_1h", 9.0, T0 + 60), PARAMS, limits) == (
        "applied"
    )
    assert state.apply(ReadingIn("aws-2", "rainfall_mm_1h", 5.0, T0), PARAMS, limits) == (
        "over_capacity"
    )
    assert state.apply(FacilityIn("c:1", "cam-1", "cctv", True, T0), PARAMS, limits) == "applied"
    before = state.to_dict()
    assert state.apply(FacilityIn("c:2", "cam-2", "cctv", True, T0), PARAMS, limits) == (
        "over_capacity"
    )
    assert state.to_dict() == before
    assert state.sizes() == {"incidents": 2, "sensors": 1, "facts": 1}
    # pruning frees room: an old incident forgotten lets a new one in
    state.prune(PARAMS, T0 + PARAMS.horizon_s("fire") + 10)
    assert state.apply(IncidentIn("fire:9", "fire", 3, T0 + 9e9), PARAMS, limits) == "applied"
    with pytest.raises(InvalidConfig, match="max_incidents"):
        StateLimits(max_incidents=0)


def test_readings_newest_wins_and_unknown_gauges_are_rejected() -> None:
    state = DistrictState.new()
    new = ReadingIn("aws-1", "rainfall_mm_1h", 50.0, T0)
    assert state.apply(new, PARAMS) == "applied"
    assert state.apply(new, PARAMS) == "duplicate"
    assert state.apply(ReadingIn("aws-1", "rainfall_mm_1h", 0.0, T0 - HOUR), PARAMS) == "applied"
    assert state.evaluate(DISTRICT, PARAMS, T0).domains["flood_weather"].sensor_hazard == 8.0
    # a tie on time: the larger value wins, whatever the order
    assert state.apply(ReadingIn("aws-1", "rainfall_mm_1h", 80.0, T0), PARAMS) == "applied"
    assert state.evaluate(DISTRICT, PARAMS, T0).domains["flood_weather"].sensor_hazard == 10.0
    before = state.to_dict()
    assert state.apply(ReadingIn("gauge-9", "river_level_m", 9.0, T0), PARAMS) == "unknown_gauge"
    assert state.to_dict() == before
    assert state.apply(ReadingIn("gauge-1", "river_level_m", 4.0, T0), PARAMS) == "applied"


@pytest.mark.parametrize("removed_first", [True, False])
def test_facility_removal_wins_a_tie(removed_first: bool) -> None:
    added = FacilityIn("city:1", "station-1", "fire_station", True, T0)
    removed = FacilityIn("city:2", "station-1", "fire_station", False, T0)
    state = fed(removed, added) if removed_first else fed(added, removed)
    assert state.evaluate(DISTRICT, PARAMS, T0).coping_lack == 10.0


@pytest.mark.parametrize("worse_first", [True, False])
def test_worse_inspection_grade_wins_a_tie(worse_first: bool) -> None:
    good = InspectionIn("city:1", "bridge-1", "B", T0)
    bad = InspectionIn("city:2", "bridge-1", "E", T0)
    state = fed(bad, good) if worse_first else fed(good, bad)
    later = fed(good, bad, InspectionIn("city:3", "bridge-1", "A", T0 + 1))
    assert state.evaluate(DISTRICT, PARAMS, T0).coping_lack == 10.0  # no facilities at all
    with_station = FacilityIn("city:9", "station-1", "fire_station", True, T0)
    state.apply(with_station, PARAMS)
    later.apply(with_station, PARAMS)
    # after the repair (grade A, newer) the bridge no longer adds to lack of coping
    assert (
        later.evaluate(DISTRICT, PARAMS, T0).coping_lack
        < state.evaluate(DISTRICT, PARAMS, T0).coping_lack
    )


def test_facilities_raise_safety_and_removal_restores_it() -> None:
    state = fed(FacilityIn("city:1", "station-1", "fire_station", True, T0))
    with_station = state.evaluate(DISTRICT, PARAMS, T0)
    assert with_station.safety == pytest.approx(10 - 10 * 20 / (20 + 10 / 4))
    state.apply(FacilityIn("city:2", "station-1", "fire_station", False, T0 + 1), PARAMS)
    assert state.evaluate(DISTRICT, PARAMS, T0 + 1).safety == 0.0


def test_intensity_halves_each_half_life_and_late_events_commute() -> None:
    early = IncidentIn("police:1", "theft", 2, T0)
    late = IncidentIn("police:2", "assault", 4, T0 + 72 * HOUR)
    at = T0 + 144 * HOUR
    in_order = fed(early, late).evaluate(DISTRICT, PARAMS, at)
    reversed_ = fed(late, early).evaluate(DISTRICT, PARAMS, at)
    # crime half-life 72 h: 2 / 4 + 8 / 2
    assert in_order.domains["crime"].intensity == pytest.approx(0.5 + 4.0)
    expected = in_order.domains["crime"].intensity
    assert reversed_.domains["crime"].intensity == pytest.approx(expected)


def test_evaluation_never_runs_before_the_newest_event() -> None:
    state = fed(IncidentIn("fire:1", "fire", 3, T0))
    assert state.evaluate(DISTRICT, PARAMS, T0 - 10 * HOUR).domains["fire"].intensity == 4.0


def test_sensor_hazard_fades_after_validity_and_freshness_reports_age() -> None:
    state = fed(ReadingIn("aws-1", "wind_ms", 21.0, T0), ReadingIn("pm-1", "pm25_ugm3", 75.0, T0))
    wind = [
        state.evaluate(DISTRICT, PARAMS, T0 + h * HOUR).domains["flood_weather"].sensor_hazard
        for h in (0.0, 1.0, 1.5, 2.0)
    ]
    assert wind == [8.0, 8.0, 4.0, 0.0]
    scores = state.evaluate(DISTRICT, PARAMS, T0 + 900.0)
    assert scores.freshness_s == {"wind_ms": 900.0, "pm25_ugm3": 900.0}
    assert scores.domains["air_quality"].sensor_hazard == 5.0
    assert scores.domains["fire"].sensor_hazard == 0.0


def test_events_counts_distinct_incidents_inside_their_horizon() -> None:
    state = fed(
        IncidentIn("fire:1", "fire", 3, T0),
        IncidentIn("fire:1", "fire", 3, T0),
        IncidentIn("police:1", "theft", 1, T0),
    )
    assert state.evaluate(DISTRICT, PARAMS, T0).events == 2
    # fire's horizon is 40 * 12 h, crime's 40 * 72 h
    assert state.evaluate(DISTRICT, PARAMS, T0 + 500 * HOUR).events == 1
    assert state.evaluate(DISTRICT, PARAMS, T0 + 3000 * HOUR).events == 0


def test_contributions_of_incidents_sum_to_incident_hazard() -> None:
    events = [IncidentIn(f"fire:{i}", "fire", 1 + i % 5, T0 + i * HOUR) for i in range(6)]
    state = fed(*events)
    at = T0 + 10 * HOUR
    total = sum(state.contribution(e, DISTRICT, PARAMS, at) for e in events)
    intensity = state.evaluate(DISTRICT, PARAMS, at).domains["fire"].intensity
    assert total == pytest.approx(incident_hazard(intensity, 40_000, "fire", PARAMS), abs=1e-9)
    shares = [state.contribution(e, DISTRICT, PARAMS, at) for e in events]
    assert shares[4] == max(shares)  # severity 5, an hour before the newest (severity 1)


def test_contribution_is_zero_for_what_the_state_does_not_hold() -> None:
    fire = IncidentIn("fire:1", "fire", 3, T0)
    old = ReadingIn("aws-1", "rainfall_mm_1h", 60.0, T0 - HOUR)
    new = ReadingIn("aws-1", "rainfall_mm_1h", 30.0, T0)
    fact = FacilityIn("city:1", "cam-1", "cctv", True, T0)
    state = fed(fire, old, new, fact)
    assert state.contribution(IncidentIn("fire:2", "fire", 3, T0), DISTRICT, PARAMS, T0) == 0.0
    assert state.contribution(IncidentIn("fire:1", "fire", 5, T0), DISTRICT, PARAMS, T0) == 0.0
    assert state.contribution(old, DISTRICT, PARAMS, T0) == 0.0
    assert state.contribution(new, DISTRICT, PARAMS, T0) == 5.0
    assert state.contribution(fact, DISTRICT, PARAMS, T0) == 0.0
    assert state.contribution(fire, DISTRICT, PARAMS, T0) > 0.0


def test_prune_forgets_old_keys_but_keeps_newest_facts() -> None:
    station = FacilityIn("city:1", "station-1", "fire_station", True, T0)
    moved = FacilityIn("city:2", "station-1", "fire_station", True, T0 + HOUR)
    lone = FacilityIn("city:3", "station-2", "fire_station", True, T0)
    fire = IncidentIn("fire:1", "fire", 3, T0)
    theft = IncidentIn("police:1", "theft", 1, T0)
    state = fed(station, moved, lone, fire, theft)
    assert state.prune(PARAMS, T0 + 100 * HOUR) == 0
    at = T0 + 600 * HOUR  # past fire's horizon (480 h), inside crime's (2880 h)
    before = state.evaluate(DISTRICT, PARAMS, at)
    assert state.prune(PARAMS, at) == 1
    assert state.evaluate(DISTRICT, PARAMS, at) == before
    far = T0 + 5000 * HOUR
    before = state.evaluate(DISTRICT, PARAMS, far)
    assert state.prune(PARAMS, far) == 2  # the theft and the superseded station fact
    assert state.prune(PARAMS, far) == 0
    assert state.evaluate(DISTRICT, PARAMS, far) == before
    assert set(state.to_dict()["facts"]) == {"city:2", "city:3"}  # type: ignore[call-overload]
    # a forgotten incident redelivered adds less than 1e-12 of its mark
    state.apply(fire, PARAMS)
    assert state.evaluate(DISTRICT, PARAMS, far).domains["fire"].intensity < 4.0 * 1e-12


def test_evaluate_and_contribution_only_read() -> None:
    fire = IncidentIn("fire:1", "fire", 3, T0)
    state = fed(fire, ReadingIn("aws-1", "wind_ms", 15.0, T0))
    before = json.dumps(state.to_dict(), sort_keys=True)
    state.evaluate(DISTRICT, PARAMS, T0 + 5 * HOUR)
    state.contribution(fire, DISTRICT, PARAMS, T0 + 5 * HOUR)
    assert json.dumps(state.to_dict(), sort_keys=True) == before


def _json_safe(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int) and not isinstance(value, bool)


def test_to_dict_is_json_safe_and_round_trips_exactly() -> None:
    state = fed(
        IncidentIn("fire:1", "fire", 3, T0 + 0.125, casualties=2),
        IncidentIn("police:1", "robbery", 4, T0 - 1e-3),
        ReadingIn("gauge-1", "river_level_m", 3.3, T0),
        FacilityIn("city:1", "cam-1", "cctv", False, T0),
        InspectionIn("city:2", "bridge-1", "D", T0),
    )
    data = state.to_dict()
    assert _json_safe(data)
    restored = DistrictState.from_dict(json.loads(json.dumps(data)))
    assert restored == state
    assert restored.to_dict() == data
    at = T0 + 7 * HOUR
    assert restored.evaluate(DISTRICT, PARAMS, at) == state.evaluate(DISTRICT, PARAMS, at)
    assert DistrictState.from_dict(DistrictState.new().to_dict()) == DistrictState.new()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"format": 99},
        {"format": 1, "incidents": []},
        {"format": 1, "incidents": {"k": ["fire", 3, 0.0]}},
        {"format": 1, "incidents": {"k": ["meteor", 3, 0.0, 0]}},
        {"format": 1, "intensity": {"fire": [-1.0, 0.0]}},
        {"format": 1, "intensity": {"volcano": [1.0, 0.0]}},
        {"format": 1, "readings": {"s": ["wind_ms", "fast", 0.0]}},
        {"format": 1, "facts": {"k": ["facility", "f", "cctv", "maybe", 0.0]}},
        {"format": 1, "facts": {"k": ["inspection", "s", "Z", 0.0]}},
        {"format": 1, "facts": {"k": ["permit", "s"]}},
        {"format": 1, "incidents": {"k": ["fire", 3, 0.0, 0]}},  # no intensity for fire
        {"format": 2, "incidents": {"k": ["fire", 3, 0.0, 0]}},  # format 2 keeps the domain
        {"format": 2, "incidents": {"k": ["fire", 3, 0.0, 0, "volcano"]}},
        {"format": 2, "incidents": {"k": ["fire", 3, 0.0, 0, "fire"]}},  # no intensity
    ],
)
def test_from_dict_refuses_malformed_data(data: dict[str, object]) -> None:
    with pytest.raises(InvalidState):
        DistrictState.from_dict(data)


def test_objects_that_are_not_events_are_refused() -> None:
    with pytest.raises(InvalidEvent):
        DistrictState.new().apply("fire!", PARAMS)  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent):
        score_batch(DISTRICT, ["fire!"], PARAMS, T0)  # type: ignore[list-item]


def test_unmapped_incident_types_are_not_counted() -> None:
    params = ModelParams(incident_domain={"fire": "fire", "fall": "traffic"})
    state = DistrictState.new()
    theft = IncidentIn("police:1", "theft", 3, T0)
    assert state.apply(theft, params) == "unmapped_type"
    assert state.to_dict() == DistrictState.new().to_dict()
    fall = IncidentIn("119:1", "fall", 4, T0)
    assert state.apply(fall, params) == "applied"
    scores = state.evaluate(DISTRICT, params, T0)
    assert scores.domains["traffic"].intensity == 8.0
    assert scores.domains["living_safety"].intensity == 0.0
    assert state.contribution(theft, DISTRICT, params, T0) == 0.0
    assert state.contribution(fall, DISTRICT, params, T0) == scores.domains["traffic"].hazard
    assert score_batch(DISTRICT, [theft, fall], params, T0) == scores


def test_format_1_states_are_read_with_the_default_taxonomy() -> None:
    fire = IncidentIn("fire:1", "fire", 3, T0, casualties=1)
    state = fed(fire, ReadingIn("aws-1", "wind_ms", 15.0, T0))
    data = state.to_dict()
    assert data["format"] == 2
    old = json.loads(json.dumps(data))
    old["format"] = 1
    old["incidents"] = {"fire:1": ["fire", 3, T0, 1]}
    restored = DistrictState.from_dict(old)
    assert restored == state
    assert restored.apply(fire, PARAMS) == "duplicate"


def test_drivers_rank_the_incidents_of_one_domain() -> None:
    events = [IncidentIn(f"fire:{i}", "fire", 1 + i % 5, T0 + i * HOUR) for i in range(8)]
    state = fed(*events, IncidentIn("police:1", "theft", 5, T0))
    at = T0 + 10 * HOUR
    everything = state.drivers("fire", DISTRICT, PARAMS, at, limit=100)
    assert len(everything) == 8
    scores = state.evaluate(DISTRICT, PARAMS, at)
    assert sum(c for _, _, c in everything) == pytest.approx(
        scores.domains["fire"].incident_hazard, abs=1e-9
    )
    assert [c for _, _, c in everything] == sorted((c for _, _, c in everything), reverse=True)
    top = state.drivers("fire", DISTRICT, PARAMS, at, limit=3)
    assert top == everything[:3]
    assert top[0][:2] == ("fire:4", "fire")  # severity 5, five hours before evaluation
    by_key = {key: value for key, _, value in everything}
    assert by_key == {e.key: state.contribution(e, DISTRICT, PARAMS, at) for e in events}
    assert state.drivers("fire", DISTRICT, PARAMS, at, limit=0) == []
    assert state.drivers("air_quality", DISTRICT, PARAMS, at) == []
    with pytest.raises(InvalidConfig):
        state.drivers("fyre", DISTRICT, PARAMS, at)


def test_drivers_include_readings_and_break_ties_by_id() -> None:
    state = fed(
        ReadingIn("aws-2", "rainfall_mm_1h", 30.0, T0),
        ReadingIn("aws-1", "rainfall_mm_1h", 30.0, T0),
        ReadingIn("aws-3", "rainfall_mm_1h", 0.0, T0),  # no hazard: not a driver
        ReadingIn("pm-1", "pm10_ugm3", 150.0, T0),  # another domain
        IncidentIn("119:1", "flood", 1, T0),
    )
    drivers = state.drivers("flood_weather", DISTRICT, PARAMS, T0)
    assert [d[:2] for d in drivers] == [
        ("aws-1", "rainfall_mm_1h"),
        ("aws-2", "rainfall_mm_1h"),
        ("119:1", "flood"),
    ]
    assert drivers[0][2] == drivers[1][2] == 5.0


def test_groups_combine_their_domains_and_composite_combines_all() -> None:
    state = fed(
        IncidentIn("fire:1", "fire", 4, T0),
        IncidentIn("road:1", "traffic_accident", 3, T0),
        ReadingIn("aws-1", "rainfall_mm_1h", 30.0, T0),
        IncidentIn("police:1", "robbery", 5, T0),
    )
    scores = state.evaluate(DISTRICT, PARAMS, T0)
    for group, members in GROUPS.items():
        expected = any_of(scores.domains[d].hazard for d in members)
        assert scores.groups[group].hazard == pytest.approx(expected, abs=1e-12)
        assert scores.groups[group].risk == risk(expected, 8.0, 10.0, PARAMS)
    assert scores.groups["natural"].hazard == 5.0
    assert scores.hazard == pytest.approx(any_of(g.hazard for g in scores.groups.values()))
    assert scores.composite == risk(scores.hazard, 8.0, 10.0, PARAMS)


def test_confidence_is_the_mean_freshness_of_the_kinds_seen() -> None:
    assert (
        fed(IncidentIn("fire:1", "fire", 4, T0)).evaluate(DISTRICT, PARAMS, T0 + 9e9).confidence
        == 1.0
    )
    state = fed(
        ReadingIn("aws-1", "wind_ms", 21.0, T0),  # valid 1 h
        ReadingIn("aws-1b", "wind_ms", 5.0, T0 - 5 * HOUR),  # older reading of the same kind
        ReadingIn("pm-1", "pm25_ugm3", 75.0, T0),  # valid 2 h
    )
    fresh = state.evaluate(DISTRICT, PARAMS, T0 + HOUR)
    assert (fresh.confidence, fresh.stale_feeds) == (1.0, ())
    fading = state.evaluate(DISTRICT, PARAMS, T0 + 1.5 * HOUR)
    assert fading.confidence == pytest.approx((0.5 + 1.0) / 2)
    assert fading.stale_feeds == ("wind_ms",)
    dead = state.evaluate(DISTRICT, PARAMS, T0 + 5 * HOUR)
    assert (dead.confidence, dead.stale_feeds) == (0.0, ("pm25_ugm3", "wind_ms"))


def test_events_counts_an_incident_exactly_at_its_horizon_and_not_a_tick_after() -> None:
    horizon = PARAMS.horizon_s("fire")
    state = fed(
        IncidentIn("a:1", "fire", severity=2, t=0.0),
        IncidentIn("a:2", "fire", severity=2, t=HOUR),
        IncidentIn("a:3", "theft", severity=2, t=0.0),
    )
    assert state.evaluate(DISTRICT, PARAMS, horizon).events == 3
    assert state.evaluate(DISTRICT, PARAMS, math.nextafter(horizon, math.inf)).events == 2
    assert state.evaluate(DISTRICT, PARAMS, horizon + HOUR).events == 2  # theft's horizon is longer
    later = horizon + HOUR + 1.0
    assert (
        state.evaluate(DISTRICT, PARAMS, later).events
        == score_batch(
            DISTRICT,
            [
                IncidentIn("a:1", "fire", severity=2, t=0.0),
                IncidentIn("a:2", "fire", severity=2, t=HOUR),
                IncidentIn("a:3", "theft", severity=2, t=0.0),
            ],
            PARAMS,
            later,
        ).events
    )


def test_after_prune_events_count_only_what_is_held_at_any_time() -> None:
    """Prune forgets expired incidents; counts at earlier times then match a state restored from
    the same held incidents (nothing forgotten lingers in the count)."""
    horizon = PARAMS.horizon_s("fire")
    state = fed(*(IncidentIn(f"a:{n}", "fire", severity=3, t=n * HOUR) for n in range(10)))
    assert state.prune(PARAMS, horizon + 4.5 * HOUR) == 5
    restored = DistrictState.from_dict(state.to_dict())
    for at in (0.0, 5 * HOUR, horizon, horizon + 7 * HOUR):
        assert (
            state.evaluate(DISTRICT, PARAMS, at).events
            == restored.evaluate(DISTRICT, PARAMS, at).events
        )
    assert state.evaluate(DISTRICT, PARAMS, 9 * HOUR).events == 5
