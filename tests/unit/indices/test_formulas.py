"""Each formula of the index model at its anchor points, and input validation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from indices import (
    District,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    InvalidConfig,
    InvalidEvent,
    ModelParams,
    ReadingIn,
    grade,
    vulnerability,
)
from indices.formulas import (
    any_of,
    background_load,
    background_rate,
    coping_lack,
    either,
    facility_lack,
    fade,
    freshness,
    incident_hazard,
    incident_reference,
    mark,
    risk,
    sensor_hazard,
    structural_hazard,
)
from indices.taxonomy import DOMAINS, INCIDENT_TYPES

PARAMS = ModelParams(river_stages={"gauge-1": (2.0, 3.0, 4.0, 5.0)})


@pytest.mark.parametrize(
    ("kind", "anchors"),
    [
        # 30 mm/h 집중호우 -> 5, 50 mm/h extreme-rain text alert -> 8
        ("rainfall_mm_1h", [(0, 0), (30, 5), (50, 8), (80, 10)]),
        # heat-wave advisory 33 °C -> 5, warning 35 °C -> 8
        ("apparent_temperature_c", [(31, 0), (33, 5), (35, 8), (38, 10)]),
        # strong-wind advisory 14 m/s -> 5, warning 21 m/s -> 8
        ("wind_ms", [(9, 0), (14, 5), (21, 8), (26, 10)]),
        # fine-dust advisory -> 5, warning -> 8
        ("pm10_ugm3", [(80, 0), (150, 5), (300, 8), (500, 10)]),
        ("pm25_ugm3", [(35, 0), (75, 5), (150, 8), (250, 10)]),
        # river: 0 at half the attention stage, then 2.5 / 5 / 7.5 / 10 at the four stages
        ("river_level_m", [(1.0, 0), (2.0, 2.5), (3.0, 5), (4.0, 7.5), (5.0, 10)]),
    ],
)
def test_sensor_curves_hit_their_anchors_and_clamp_outside(
    kind: str, anchors: list[tuple[float, float]]
) -> None:
    for value, hazard in anchors:
        assert sensor_hazard(kind, value, "gauge-1", PARAMS) == pytest.approx(hazard, abs=1e-12)
    (x0, y0), (x1, y1) = anchors[0], anchors[1]
    middle = sensor_hazard(kind, (x0 + x1) / 2, "gauge-1", PARAMS)
    assert middle == pytest.approx((y0 + y1) / 2, abs=1e-12)
    assert sensor_hazard(kind, x0 - 100, "gauge-1", PARAMS) == y0
    assert sensor_hazard(kind, anchors[-1][0] + 1000, "gauge-1", PARAMS) == 10.0


def test_river_gauge_without_stages_has_no_hazard() -> None:
    assert sensor_hazard("river_level_m", 100.0, "gauge-unknown", PARAMS) == 0.0


def test_fade_holds_then_falls_linearly_to_zero_at_twice_validity() -> None:
    assert fade(-50.0, 3600.0) == 1.0
    assert fade(3600.0, 3600.0) == 1.0
    assert fade(5400.0, 3600.0) == 0.5
    assert fade(7200.0, 3600.0) == 0.0
    assert fade(1e9, 3600.0) == 0.0


@pytest.mark.parametrize(
    ("severity", "casualties", "expected"),
    [
        (1, 0, 1.0),
        (2, 0, 2.0),
        (3, 0, 4.0),
        (4, 0, 8.0),
        (5, 0, 16.0),
        (3, 2, 8.0),
        (5, 10, 96.0),
        (5, 500, 96.0),
    ],
)
def test_mark_doubles_per_severity_and_caps_casualties(
    severity: int, casualties: int, expected: float
) -> None:
    assert mark(severity, casualties, PARAMS) == expected


def test_background_load_is_rate_times_mean_mark_times_lifetime() -> None:
    # crime: 0.27 per 10,000 per day, 4 units of 10,000, E[a] 1.8, tau = 72 h / ln 2 in days
    assert background_rate(40_000, "crime", PARAMS) == pytest.approx(1.08)
    tau = 72 / 24 / math.log(2)
    assert PARAMS.lifetime_days("crime") == pytest.approx(tau)
    assert background_load(40_000, "crime", PARAMS) == pytest.approx(1.08 * 1.8 * tau)
    assert background_load(80_000, "crime", PARAMS) == pytest.approx(
        2 * background_load(40_000, "crime", PARAMS)
    )
    assert background_load(0, "crime", PARAMS) == 0.0
    assert background_load(40_000, "air_quality", PARAMS) == 0.0  # no incident type maps there


def test_incident_reference_is_excess_times_background_floored() -> None:
    crime = background_load(40_000, "crime", PARAMS)
    assert incident_reference(40_000, "crime", PARAMS) == pytest.approx(4.0 * crime)
    # a small background: the floor, 2.5 severity-4 marks
    assert incident_reference(40_000, "fire", PARAMS) == 20.0
    assert incident_reference(0, "crime", PARAMS) == 20.0
    at_ref = 10 * (1 - math.exp(-1))
    assert incident_hazard(20.0, 40_000, "fire", PARAMS) == pytest.approx(at_ref)
    assert incident_hazard(4 * crime, 40_000, "crime", PARAMS) == pytest.approx(at_ref)
    assert incident_hazard(0.0, 40_000, "fire", PARAMS) == 0.0
    assert incident_hazard(1e6, 40_000, "fire", PARAMS) == 10.0


@pytest.mark.parametrize("domain", DOMAINS)
def test_calibration_background_single_incident_and_cluster(domain: str) -> None:
    """The documented targets in a district of 40,000 residents."""
    background = background_load(40_000, domain, PARAMS)

    def hazard(extra: float) -> float:
        return incident_hazard(background + extra, 40_000, domain, PARAMS)

    # routine background alone at steady state: 10 (1 - e^(-1/4)) = 2.21 where it sets the
    # reference (crime), less where the floor does
    assert hazard(0.0) <= 10 * (1 - math.exp(-1 / 4)) + 1e-12
    assert 3.0 <= hazard(mark(4, 0, PARAMS)) <= 4.0  # one severity-4 incident
    assert hazard(3 * mark(4, 0, PARAMS)) >= 6.0  # a cluster: three severity-4 in a half-life
    if domain == "crime":
        assert hazard(0.0) == pytest.approx(2.212, abs=1e-3)


def test_routine_incidents_at_the_background_rate_read_low() -> None:
    """A seeded Poisson stream of routine crime reports in a 40,000 district stays near 2."""
    rng = np.random.default_rng(7)
    rate = background_rate(40_000, "crime", PARAMS)  # per day
    days = 400
    times = np.sort(rng.uniform(0, days, rng.poisson(rate * days)))
    marks = np.asarray(PARAMS.severity_weight)[rng.choice(3, times.size, p=[0.5, 0.35, 0.15])]
    omega = 1 / PARAMS.lifetime_days("crime")
    hazards = []
    for at in np.arange(30.0, days, 0.5):  # after a month of warm-up, twice a day
        past = times <= at
        load = float(np.sum(marks[past] * np.exp(-omega * (at - times[past]))))
        hazards.append(incident_hazard(load, 40_000, "crime", PARAMS))
    assert 1.5 <= float(np.mean(hazards)) <= 2.5
    assert float(np.percentile(hazards, 95)) < 3.5


@pytest.mark.parametrize(
    ("population", "area", "expected"),
    [(100, 1.0, 4.0), (10_000, 1.0, 8.0), (1_000_000, 1.0, 10.0), (0, 1.0, 0.0), (5, 10.0, 0.0)],
)
def test_vulnerability_is_two_log10_density(population: int, area: float, expected: float) -> None:
    district = District("4157000000", "test", population=population, area_km2=area)
    assert vulnerability(district, PARAMS) == pytest.approx(expected)


def test_facility_lack_is_ten_without_facilities_and_five_at_reference_coverage() -> None:
    assert facility_lack({}, 40_000, PARAMS) == 10.0
    # 40,000 residents: coverage 20 per 10,000 needs weight 80, e.g. 8 fire stations
    assert facility_lack({"fire_station": 8}, 40_000, PARAMS) == pytest.approx(5.0)
    assert facility_lack({"cctv": 40, "police_box": 5}, 40_000, PARAMS) == pytest.approx(5.0)
    assert facility_lack({"cctv": 10}, 0, PARAMS) < 0.1  # empty district: no division by zero


def test_structural_hazard_from_grades() -> None:
    assert structural_hazard({}, PARAMS) == 0.0
    assert structural_hazard({"A": 50, "B": 50}, PARAMS) == 0.0
    # share = weighted / (inspected + 5 pseudo-structures); 6.3 at share 0.5
    assert structural_hazard({"D": 5, "A": 5, "B": 5}, PARAMS) == pytest.approx(
        10 * (1 - math.exp(-(5 / 20) / 0.5))
    )
    assert structural_hazard({"E": 1}, PARAMS) == pytest.approx(
        10 * (1 - math.exp(-(2.5 / 6) / 0.5))
    )
    # a district is judged by the state of its structures, not by how many it has
    few = structural_hazard({"D": 2, "B": 18}, PARAMS)
    many = structural_hazard({"D": 20, "B": 180}, PARAMS)
    assert few < many < 10 * (1 - math.exp(-(20 / 200) / 0.5)) + 1e-12
    assert many == pytest.approx(10 * (1 - math.exp(-(20 / 205) / 0.5)))


def test_coping_lack_combines_facilities_and_structures() -> None:
    assert coping_lack({"fire_station": 8}, {}, 40_000, PARAMS) == pytest.approx(5.0)
    # every structure at E: structural 10*(1 - exp(-2.5/0.5)) ~ 9.93, combined with lack 5
    all_e = 10 * (1 - math.exp(-(2500 / 1005) / 0.5))
    assert coping_lack({"fire_station": 8}, {"E": 1000}, 40_000, PARAMS) == pytest.approx(
        5.0 + all_e - 5.0 * all_e / 10
    )
    assert either(5.0, 5.0) == 7.5
    assert either(0.0, 3.0) == 3.0
    assert either(10.0, 0.0) == 10.0


def test_any_of_is_either_folded_and_associative() -> None:
    assert any_of([]) == 0.0
    assert any_of([4.0]) == pytest.approx(4.0)
    assert any_of([2.0, 3.0, 4.0]) == pytest.approx(either(either(2.0, 3.0), 4.0))
    assert any_of([2.0, 3.0, 4.0]) == pytest.approx(any_of([any_of([2.0, 3.0]), 4.0]))
    assert any_of([10.0, 0.0, 3.0]) == 10.0


def test_freshness_factor_per_kind() -> None:
    factors = freshness(
        {"wind_ms": 3600.0, "pm10_ugm3": 3 * 3600.0, "rainfall_mm_1h": -5.0}, PARAMS
    )
    assert factors == {"wind_ms": 1.0, "pm10_ugm3": 0.5, "rainfall_mm_1h": 1.0}


def test_risk_is_the_floored_geometric_mean() -> None:
    assert risk(10.0, 10.0, 10.0, PARAMS) == pytest.approx(10.0)
    assert risk(8.0, 1.0, 1.0, PARAMS) == pytest.approx(2.0)
    # epsilon keeps a zero hazard or a perfect coping score from erasing the product
    assert risk(0.0, 8.0, 0.0, PARAMS) == pytest.approx((0.1 * 8.0 * 0.1) ** (1 / 3))
    assert risk(5.0, 0.0, 5.0, PARAMS) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, 1),
        (1.999, 1),
        (2.0, 2),
        (3.499, 2),
        (3.5, 3),
        (4.999, 3),
        (5.0, 4),
        (6.499, 4),
        (6.5, 5),
        (10.0, 5),
    ],
)
def test_grade_uses_inform_absolute_classes(value: float, expected: int) -> None:
    assert grade(value, PARAMS) == expected


def test_default_params_are_as_documented() -> None:
    params = ModelParams()
    assert dict(params.half_life_h) == {
        "fire": 12.0,
        "flood_weather": 6.0,
        "traffic": 6.0,
        "crime": 72.0,
        "living_safety": 24.0,
        "air_quality": 6.0,
    }
    assert params.severity_weight == (1.0, 2.0, 4.0, 8.0, 16.0)
    assert params.grade_cuts == (2.0, 3.5, 5.0, 6.5)
    assert params.epsilon == 0.1
    assert dict(params.river_stages) == {}
    assert dict(params.background_per_10k_day) == {
        "fire": 0.02,
        "flood_weather": 0.005,
        "traffic": 0.105,
        "crime": 0.27,
        "living_safety": 0.08,
        "air_quality": 0.0,
    }
    assert set(params.mean_mark.values()) == {1.8, 2.7}
    assert (params.excess_ref, params.min_reference) == (4.0, 20.0)
    assert params.min_reference == 2.5 * mark(4, 0, params)
    assert dict(params.incident_domain) == INCIDENT_TYPES
    assert params.decay_rate("fire") == pytest.approx(math.log(2) / (12 * 3600))
    assert params.horizon_s("crime") == 40 * 72 * 3600
    assert ModelParams() == ModelParams()


def test_params_are_read_only_and_replaceable() -> None:
    params = ModelParams()
    with pytest.raises(TypeError):
        params.half_life_h["fire"] = 1.0  # type: ignore[index]
    changed = replace(params, half_life_h={**params.half_life_h, "crime": 48.0})
    assert changed.half_life_h["crime"] == 48.0
    assert params.half_life_h["crime"] == 72.0


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"half_life_h": {"fire": 12.0}}, "half_life_h: missing flood_weather"),
        ({"mean_mark": {**ModelParams().mean_mark, "fire": 0.0}}, "mean_mark.fire"),
        ({"severity_weight": (1.0, 2.0, 4.0)}, "severity_weight:"),
        ({"grade_cuts": (2.0, 2.0, 5.0, 6.5)}, "grade_cuts:"),
        ({"epsilon": 0.0}, "epsilon:"),
        ({"river_stages": {"g": (3.0, 2.0, 4.0, 5.0)}}, "river_stages.g:"),
        ({"river_stages": {"g": (0.0, 2.0, 4.0, 5.0)}}, "river_stages.g:"),
        (
            {"sensor_curves": {**ModelParams().sensor_curves, "wind_ms": ((9.0, 0.0),)}},
            "sensor_curves.wind_ms:",
        ),
        (
            {
                "sensor_curves": {
                    **ModelParams().sensor_curves,
                    "wind_ms": ((9.0, 5.0), (14.0, 0.0)),
                }
            },
            "sensor_curves.wind_ms:",
        ),
        ({"validity_s": {**ModelParams().validity_s, "wind_ms": -1.0}}, "validity_s.wind_ms:"),
        (
            {"facility_weight": {**ModelParams().facility_weight, "drone": 1.0}},
            "facility_weight.drone: unknown facility kind 'drone'",
        ),
        (
            {"background_per_10k_day": {**ModelParams().background_per_10k_day, "fire": -0.1}},
            "background_per_10k_day.fire: must be >= 0",
        ),
        ({"mean_mark": {**ModelParams().mean_mark, "crime": 0.0}}, "mean_mark.crime: must be > 0"),
        ({"excess_ref": 0.0}, "excess_ref: must be > 0"),
        ({"min_reference": math.nan}, "min_reference: must be > 0"),
        ({"incident_domain": {"meteor": "fire"}}, "incident_domain.meteor: unknown incident type"),
        ({"incident_domain": {"fall": "falls"}}, "incident_domain.fall: unknown domain 'falls'"),
    ],
)
def test_invalid_params_are_refused_naming_the_path(change: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidConfig) as error:
        ModelParams(**change)  # type: ignore[arg-type]
    assert str(error.value).startswith(path)


def test_incident_domain_may_remap_and_leave_out_types() -> None:
    params = ModelParams(incident_domain={"fall": "traffic", "theft": "crime"})
    assert dict(params.incident_domain) == {"fall": "traffic", "theft": "crime"}


@pytest.mark.parametrize(
    "build",
    [
        lambda: IncidentIn("a:1", "meteor", 3, 0.0),
        lambda: IncidentIn("a:1", "fire", 0, 0.0),
        lambda: IncidentIn("a:1", "fire", 6, 0.0),
        lambda: IncidentIn("a:1", "fire", True, 0.0),
        lambda: IncidentIn("a:1", "fire", 3, math.nan),
        lambda: IncidentIn("a:1", "fire", 3, 0.0, casualties=-1),
        lambda: ReadingIn("s", "noise_db", 3.0, 0.0),
        lambda: ReadingIn("s", "wind_ms", math.inf, 0.0),
        lambda: FacilityIn("a:1", "f", "drone", True, 0.0),
        lambda: InspectionIn("a:1", "s", "F", 0.0),
    ],
)
def test_invalid_events_are_refused(build: object) -> None:
    with pytest.raises(InvalidEvent):
        build()  # type: ignore[operator]


def test_invalid_districts_are_refused() -> None:
    with pytest.raises(InvalidConfig):
        District("x", "x", population=10, area_km2=0.0)
    with pytest.raises(InvalidConfig):
        District("x", "x", population=-1, area_km2=1.0)
