"""Every tunable number of the index model, with its default and the reason for it.

``ModelParams()`` gives the defaults. Change a value with :func:`dataclasses.replace`, passing a
complete mapping for mapping fields::

    params = replace(ModelParams(), river_stages={"gauge-jeonryu": (3.0, 4.5, 6.0, 7.5)})
    params = replace(params, half_life_h={**params.half_life_h, "crime": 48.0})

Mappings are stored as read-only :class:`types.MappingProxyType`, so a ``ModelParams`` is immutable;
it is not hashable (mapping proxies are not). Keep one ``ModelParams`` for the lifetime of a
:class:`~indices.DistrictState`: the state stores intensities decayed with the half-lives it was
fed with, so after changing ``half_life_h`` rebuild states by replaying events (or ``score_batch``).

>>> ModelParams().half_life_h["crime"]
72.0
>>> ModelParams(grade_cuts=(2.0, 1.0, 5.0, 6.5))
Traceback (most recent call last):
...
indices.errors.InvalidConfig: grade_cuts must be 4 strictly increasing values in (0, 10)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import TypeVar

from indices.errors import InvalidConfig
from indices.taxonomy import DOMAINS, FACILITY_KINDS, INSPECTION_GRADES, SENSOR_KINDS

__all__ = ["RIVER_KIND", "Anchors", "ModelParams"]

V = TypeVar("V")

RIVER_KIND = "river_level_m"  # the one sensor kind whose curve is set per gauge (river_stages)
HOUR_S = 3600.0

Anchors = tuple[tuple[float, float], ...]  # (value, hazard 0-10) points of a piecewise-linear curve

# Decay half-life of an incident's weight, hours. Project choices; the reason for each is given.
DEFAULT_HALF_LIFE_H: Mapping[str, float] = {
    # A fire holds crews and the block for hours (overhaul, rekindle watch); 12 h keeps a serious
    # fire visible through the next shift and faded by the following day.
    "fire": 12.0,
    # Weather damage follows the weather; KMA heavy-rain criteria are 3 h and 12 h sums, and live
    # sensors carry the current state, so incidents fade on the scale of one rain band: 6 h.
    "flood_weather": 6.0,
    # An accident site is usually cleared within hours; 6 h spans one rush period.
    "traffic": 6.0,
    # Near-repeat victimisation lasts days (Mohler et al. 2011, JASA 106: 100-108).
    "crime": 72.0,
    # Gas leaks, sinkholes and water-main breaks stay hazards until repaired, commonly within a day.
    "living_safety": 24.0,
    # No incident type maps here yet (taxonomy); kept for uniformity. Fine-dust alerts look at
    # hourly means over 2 h, so 6 h lets a reported dust incident outlive one alert cycle.
    "air_quality": 6.0,
}

# Decayed, severity-weighted intensity at which incident hazard reaches 10*(1 - 1/e) ~ 6.3 in a
# district of reference_population. 20: a cluster (e.g. one severity-5 incident with casualties, or
# five severity-3 ones within a half-life); a single severity-4 incident (mark 8) reads as 3.3.
# Crime 40: its long half-life accumulates routine reports (Gimpo ~20/day, ~1.7/day in a district of
# 40,000 with 72 h half-life -> a background of ~10), which alone should stay low (~2.2).
DEFAULT_INTENSITY_REF: Mapping[str, float] = {
    "fire": 20.0,
    "flood_weather": 20.0,
    "traffic": 20.0,
    "crime": 40.0,
    "living_safety": 20.0,
    "air_quality": 20.0,
}

# Hazard curves anchored on official Korean thresholds (docs/index-model.md has the table).
DEFAULT_SENSOR_CURVES: Mapping[str, Anchors] = {
    # 30 mm/h: "intense rain" 집중호우; 50 mm/h: KMA extreme-rain text alert (with 90 mm in 3 h).
    "rainfall_mm_1h": ((0.0, 0.0), (30.0, 5.0), (50.0, 8.0), (80.0, 10.0)),
    # KMA heat-wave advisory 33 °C, warning 35 °C (daily max apparent temperature).
    "apparent_temperature_c": ((31.0, 0.0), (33.0, 5.0), (35.0, 8.0), (38.0, 10.0)),
    # KMA strong-wind advisory 14 m/s, warning 21 m/s (gusts 20 / 26 m/s).
    "wind_ms": ((9.0, 0.0), (14.0, 5.0), (21.0, 8.0), (26.0, 10.0)),
    # Ministry of Environment fine-dust advisory 150, warning 300 µg/m³ (PM10).
    "pm10_ugm3": ((80.0, 0.0), (150.0, 5.0), (300.0, 8.0), (500.0, 10.0)),
    # PM2.5 advisory 75, warning 150 µg/m³; 35 is where an advisory is lifted ("bad" band starts).
    "pm25_ugm3": ((35.0, 0.0), (75.0, 5.0), (150.0, 8.0), (250.0, 10.0)),
}

# How long a reading counts at full weight, seconds; it then fades linearly to 0 at twice that.
DEFAULT_VALIDITY_S: Mapping[str, float] = {
    "rainfall_mm_1h": 2 * HOUR_S,  # an hourly sum; tolerate one missed hourly cycle
    "river_level_m": 1 * HOUR_S,  # gauges report every 10 min; a flood wave moves within the hour
    "apparent_temperature_c": 3 * HOUR_S,  # changes slowly over the day
    "wind_ms": 1 * HOUR_S,  # wind changes quickly; stale wind data misleads
    "pm10_ugm3": 2 * HOUR_S,  # alerts are judged on hourly means persisting 2 h
    "pm25_ugm3": 2 * HOUR_S,
}

# Coping-capacity weight of one facility in service. A fire station or police box serves the whole
# district; a CCTV camera or hydrant covers a block; lights and bells a street.
DEFAULT_FACILITY_WEIGHT: Mapping[str, float] = {
    "cctv": 1.0,
    "security_light": 0.5,
    "emergency_bell": 0.5,
    "shelter": 2.0,
    "hydrant": 1.0,
    "fire_station": 10.0,
    "police_box": 8.0,
    "aed": 1.0,
}

# Weight of one structure by its newest inspection grade. D and E are managed as disaster-risk
# facilities under 시설물안전법; C is fair but needs repairs.
DEFAULT_STRUCTURE_WEIGHT: Mapping[str, float] = {"A": 0.0, "B": 0.0, "C": 0.2, "D": 1.0, "E": 2.5}


def _frozen(mapping: Mapping[str, V]) -> Mapping[str, V]:
    return MappingProxyType(dict(mapping))


def _default(mapping: Mapping[str, V]) -> Mapping[str, V]:
    return field(default_factory=lambda: _frozen(mapping))


@dataclass(frozen=True)
class ModelParams:
    """The index model's parameters; ``ModelParams()`` gives the documented defaults.

    Raises :class:`~indices.errors.InvalidConfig` on construction if a value is out of range or a
    mapping misses a domain, sensor kind, facility kind or grade.
    """

    half_life_h: Mapping[str, float] = _default(DEFAULT_HALF_LIFE_H)
    # Mark a = severity_weight[severity-1] * (1 + casualty_weight*min(casualties, casualty_cap)):
    # each severity step doubles the weight, like a magnitude scale.
    severity_weight: tuple[float, float, float, float, float] = (1.0, 2.0, 4.0, 8.0, 16.0)
    casualty_weight: float = 0.5
    casualty_cap: int = 10  # a mass-casualty event should not swamp the scale for weeks
    intensity_ref: Mapping[str, float] = _default(DEFAULT_INTENSITY_REF)
    # I_ref scales with population / reference_population (about one Gimpo 동), floored at
    # min_exposure_scale so a tiny population does not make single incidents extreme.
    reference_population: float = 40_000.0
    min_exposure_scale: float = 0.25
    sensor_curves: Mapping[str, Anchors] = _default(DEFAULT_SENSOR_CURVES)
    # Per gauge (attention 관심, caution 주의, alert 경계, serious 심각) stages in metres.
    # Readings of river_level_m from a gauge not listed here are rejected: "unknown_gauge".
    river_stages: Mapping[str, tuple[float, float, float, float]] = _default({})
    river_stage_hazard: tuple[float, float, float, float] = (2.5, 5.0, 7.5, 10.0)
    river_zero_fraction: float = 0.5  # hazard 0 at this fraction of the attention stage
    validity_s: Mapping[str, float] = _default(DEFAULT_VALIDITY_S)
    facility_weight: Mapping[str, float] = _default(DEFAULT_FACILITY_WEIGHT)
    coverage_per_residents: float = 10_000.0  # coverage is weighted facilities per this many people
    coverage_ref: float = 20.0  # coverage at which lack of facilities is 5 (half of 10)
    structure_weight: Mapping[str, float] = _default(DEFAULT_STRUCTURE_WEIGHT)
    # Structural weakness is the weighted share of bad structures among those inspected, with
    # structure_prior pseudo-structures of grade B so one bad bridge in a tiny sample does not
    # saturate it; a share of structure_scale gives 6.3 (e.g. half the structures at D).
    structure_scale: float = 0.5
    structure_prior: float = 5.0
    # INFORM's absolute risk classes:
    # very low < 2.0 <= low < 3.5 <= medium < 5.0 <= high < 6.5 <= very high.
    grade_cuts: tuple[float, float, float, float] = (2.0, 3.5, 5.0, 6.5)
    epsilon: float = 0.1  # floor of hazard and lack of coping in the geometric mean (INFORM)
    # Dedup keys are forgotten after this many half-lives: 2**-40 < 1e-12 of the mark is left.
    horizon_half_lives: float = 40.0

    def __post_init__(self) -> None:
        for name in (
            "half_life_h",
            "intensity_ref",
            "sensor_curves",
            "river_stages",
            "validity_s",
            "facility_weight",
            "structure_weight",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("severity_weight", "river_stage_hazard", "grade_cuts"):
            object.__setattr__(self, name, tuple(float(x) for x in getattr(self, name)))
        object.__setattr__(
            self,
            "sensor_curves",
            _frozen(
                {
                    k: tuple((float(x), float(y)) for x, y in v)
                    for k, v in self.sensor_curves.items()
                }
            ),
        )
        object.__setattr__(
            self,
            "river_stages",
            _frozen({k: tuple(float(x) for x in v) for k, v in self.river_stages.items()}),
        )
        self._validate_scalars()
        self._validate_mappings()
        self._validate_curves()

    # --- derived values ---------------------------------------------------------------------

    def decay_rate(self, domain: str) -> float:
        """ω = ln 2 / half-life, per second, of ``domain``'s incident kernel."""
        return math.log(2.0) / (self.half_life_h[domain] * HOUR_S)

    def horizon_s(self, domain: str) -> float:
        """Age in seconds after which an incident of ``domain`` is forgotten by ``prune``."""
        return self.horizon_half_lives * self.half_life_h[domain] * HOUR_S

    def fact_horizon_s(self) -> float:
        """Age after which a superseded fact's key is forgotten: the longest domain horizon."""
        return max(self.horizon_s(domain) for domain in DOMAINS)

    # --- validation ---------------------------------------------------------------------------

    def _validate_scalars(self) -> None:
        _require(
            len(self.severity_weight) == 5 and all(w > 0 for w in self.severity_weight),
            "severity_weight must be 5 positive weights, for severities 1..5",
        )
        _require(
            self.casualty_weight >= 0 and self.casualty_cap >= 0,
            "casualty_weight and casualty_cap must be >= 0",
        )
        _require(
            self.reference_population > 0 and self.min_exposure_scale > 0,
            "reference_population and min_exposure_scale must be > 0",
        )
        _require(
            self.coverage_per_residents > 0
            and self.coverage_ref > 0
            and self.structure_scale > 0
            and self.structure_prior >= 0,
            "coverage_per_residents, coverage_ref and structure_scale must be > 0, "
            "structure_prior >= 0",
        )
        _require(
            _increasing(self.grade_cuts, 4) and self.grade_cuts[0] > 0 and self.grade_cuts[-1] < 10,
            "grade_cuts must be 4 strictly increasing values in (0, 10)",
        )
        _require(0 < self.epsilon <= 10, "epsilon must be in (0, 10]")
        _require(self.horizon_half_lives > 0, "horizon_half_lives must be > 0")
        _require(0 <= self.river_zero_fraction < 1, "river_zero_fraction must be in [0, 1)")
        _require(
            _increasing(self.river_stage_hazard, 4)
            and self.river_stage_hazard[0] > 0
            and self.river_stage_hazard[-1] <= 10,
            "river_stage_hazard must be 4 strictly increasing values in (0, 10]",
        )

    def _validate_mappings(self) -> None:
        _require_keys(self.half_life_h, DOMAINS, "half_life_h", positive=True)
        _require_keys(self.intensity_ref, DOMAINS, "intensity_ref", positive=True)
        _require_keys(self.validity_s, tuple(SENSOR_KINDS), "validity_s", positive=True)
        _require_keys(self.facility_weight, FACILITY_KINDS, "facility_weight", positive=False)
        _require_keys(self.structure_weight, INSPECTION_GRADES, "structure_weight", positive=False)

    def _validate_curves(self) -> None:
        kinds = tuple(kind for kind in SENSOR_KINDS if kind != RIVER_KIND)
        _require(
            set(self.sensor_curves) == set(kinds),
            f"sensor_curves needs exactly the kinds {', '.join(kinds)} "
            f"({RIVER_KIND} is set per gauge in river_stages)",
        )
        for kind, anchors in self.sensor_curves.items():
            xs = tuple(x for x, _ in anchors)
            ys = tuple(y for _, y in anchors)
            _require(
                len(anchors) >= 2
                and _increasing(xs, len(xs))
                and _monotone(ys)
                and all(0 <= y <= 10 for y in ys),
                f"sensor_curves[{kind!r}] needs >= 2 anchors with strictly increasing values "
                "and non-decreasing hazards in [0, 10]",
            )
        for gauge, stages in self.river_stages.items():
            _require(
                _increasing(stages, 4) and stages[0] > 0,
                f"river_stages[{gauge!r}] must be 4 strictly increasing positive levels "
                "(attention, caution, alert, serious) in metres",
            )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidConfig(message)


def _increasing(values: tuple[float, ...], length: int) -> bool:
    finite = all(math.isfinite(v) for v in values)
    return finite and len(values) == length and all(a < b for a, b in _pairs(values))


def _monotone(values: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in _pairs(values))


def _pairs(values: tuple[float, ...]) -> Iterable[tuple[float, float]]:
    return pairwise(values)


def _require_keys(
    mapping: Mapping[str, float], keys: tuple[str, ...], name: str, *, positive: bool
) -> None:
    missing = sorted(set(keys) - set(mapping))
    extra = sorted(set(mapping) - set(keys))
    _require(
        not missing and not extra,
        f"{name} must have exactly the keys {', '.join(keys)}; missing {missing}, "
        f"unknown {extra}. Pass a complete mapping, e.g. {{**params.{name}, key: value}}",
    )
    bad = [k for k, v in mapping.items() if not math.isfinite(v) or v < 0 or (positive and v == 0)]
    _require(not bad, f"{name} values must be {'> 0' if positive else '>= 0'}; bad: {sorted(bad)}")
