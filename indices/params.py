"""Every tunable number of the index model, with its default and the reason for it.

``ModelParams()`` gives the defaults (their sources: :mod:`indices.defaults` and
docs/index-model.md). Change a value with :func:`dataclasses.replace`, passing a complete mapping
for mapping fields::

    params = replace(ModelParams(), river_stages={"gauge-jeonryu": (3.0, 4.5, 6.0, 7.5)})
    params = replace(params, half_life_h={**params.half_life_h, "crime": 48.0})

or build one from configuration data with :func:`indices.config.params_from_mapping`, where
mappings may be partial.

Mappings are stored as read-only :class:`types.MappingProxyType`, so a ``ModelParams`` is immutable;
it is not hashable (mapping proxies are not). Keep one ``ModelParams`` for the lifetime of a
:class:`~indices.DistrictState`: the state stores intensities decayed with the half-lives it was
fed with, so after changing ``half_life_h`` or ``incident_domain`` rebuild states by replaying
events (or ``score_batch``).

Invalid values raise :class:`~indices.errors.InvalidConfig` whose message starts with the path of
the bad value:

>>> ModelParams().half_life_h["crime"]
72.0
>>> ModelParams(grade_cuts=(2.0, 1.0, 5.0, 6.5))
Traceback (most recent call last):
...
indices.errors.InvalidConfig: grade_cuts: must be 4 strictly increasing values in (0, 10)
>>> ModelParams(incident_domain={"fall": "falls"})
Traceback (most recent call last):
...
indices.errors.InvalidConfig: incident_domain.fall: unknown domain 'falls'; known: fire, \
flood_weather, traffic, crime, living_safety, air_quality
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import TypeVar

from indices.defaults import (
    DEFAULT_BACKGROUND_PER_10K_DAY,
    DEFAULT_FACILITY_WEIGHT,
    DEFAULT_HALF_LIFE_H,
    DEFAULT_INCIDENT_DOMAIN,
    DEFAULT_MEAN_MARK,
    DEFAULT_SENSOR_CURVES,
    DEFAULT_STRUCTURE_WEIGHT,
    DEFAULT_VALIDITY_S,
    HOUR_S,
    Anchors,
)
from indices.errors import InvalidConfig
from indices.taxonomy import (
    DOMAINS,
    FACILITY_KINDS,
    INCIDENT_TYPES,
    INSPECTION_GRADES,
    SENSOR_KINDS,
)

__all__ = [
    "DEFAULT_BACKGROUND_PER_10K_DAY",
    "DEFAULT_FACILITY_WEIGHT",
    "DEFAULT_HALF_LIFE_H",
    "DEFAULT_INCIDENT_DOMAIN",
    "DEFAULT_MEAN_MARK",
    "DEFAULT_SENSOR_CURVES",
    "DEFAULT_STRUCTURE_WEIGHT",
    "DEFAULT_VALIDITY_S",
    "HOUR_S",
    "RIVER_KIND",
    "Anchors",
    "ModelParams",
    "StateLimits",
]

V = TypeVar("V")

RIVER_KIND = "river_level_m"  # the one sensor kind whose curve is set per gauge (river_stages)
DAY_S = 86_400.0

# What the keys of each keyed mapping are, for error messages.
KEY_LABELS = {
    "half_life_h": "domain",
    "background_per_10k_day": "domain",
    "mean_mark": "domain",
    "sensor_curves": "sensor kind",
    "validity_s": "sensor kind",
    "facility_weight": "facility kind",
    "structure_weight": "grade",
    "incident_domain": "incident type",
}

_MAPPINGS = (
    "half_life_h",
    "background_per_10k_day",
    "mean_mark",
    "sensor_curves",
    "river_stages",
    "validity_s",
    "facility_weight",
    "structure_weight",
    "incident_domain",
)


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
    # Deprecated since riskmon-index/0.2, read by no formula (see background_per_10k_day):
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
    # Background rate μ (Hawkes): routine incidents per 10,000 residents per day, and the expected
    # mark E[a] of one. The district's expected decayed load is B = μ (pop/10^4) E[a] τ, τ the mean
    # lifetime half_life/ln 2; hazard reaches 6.3 at excess_ref * B, never below min_reference
    # (2.5 severity-4 incidents: one severity-4 incident alone reads 3.3).
    background_per_10k_day: Mapping[str, float] = _default(DEFAULT_BACKGROUND_PER_10K_DAY)
    mean_mark: Mapping[str, float] = _default(DEFAULT_MEAN_MARK)
    excess_ref: float = 4.0  # background alone reads 10 (1 - e^(-1/4)) = 2.2 unless floored
    min_reference: float = 20.0
    # Incident type -> domain; types left out are not counted (apply answers "unmapped_type").
    incident_domain: Mapping[str, str] = _default(DEFAULT_INCIDENT_DOMAIN)

    def __post_init__(self) -> None:
        for name in _MAPPINGS:
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("severity_weight", "river_stage_hazard", "grade_cuts"):
            object.__setattr__(self, name, tuple(float(x) for x in getattr(self, name)))
        curves = {
            k: tuple((float(x), float(y)) for x, y in v) for k, v in self.sensor_curves.items()
        }
        stages = {k: tuple(float(x) for x in v) for k, v in self.river_stages.items()}
        object.__setattr__(self, "sensor_curves", _frozen(curves))
        object.__setattr__(self, "river_stages", _frozen(stages))
        self._validate_scalars()
        self._validate_ranges()
        self._validate_mappings()
        self._validate_curves()

    # --- derived values ---------------------------------------------------------------------

    def decay_rate(self, domain: str) -> float:
        """ω = ln 2 / half-life, per second, of ``domain``'s incident kernel."""
        return math.log(2.0) / (self.half_life_h[domain] * HOUR_S)

    def lifetime_days(self, domain: str) -> float:
        """τ = 1/ω = half-life / ln 2 in days: the integral of ``domain``'s kernel."""
        return 1.0 / (self.decay_rate(domain) * DAY_S)

    def horizon_s(self, domain: str) -> float:
        """Age in seconds after which an incident of ``domain`` is forgotten by ``prune``."""
        return self.horizon_half_lives * self.half_life_h[domain] * HOUR_S

    def fact_horizon_s(self) -> float:
        """Age after which a superseded fact's key is forgotten: the longest domain horizon."""
        return max(self.horizon_s(domain) for domain in DOMAINS)

    # --- validation ---------------------------------------------------------------------------

    def _validate_scalars(self) -> None:
        _require(
            len(self.severity_weight) == 5
            and all(_finite(w) and w > 0 for w in self.severity_weight),
            "severity_weight",
            "must be 5 positive weights, for severities 1..5",
        )
        _require(
            _increasing(self.grade_cuts, 4) and self.grade_cuts[0] > 0 and self.grade_cuts[-1] < 10,
            "grade_cuts",
            "must be 4 strictly increasing values in (0, 10)",
        )
        _require(
            _increasing(self.river_stage_hazard, 4)
            and self.river_stage_hazard[0] > 0
            and self.river_stage_hazard[-1] <= 10,
            "river_stage_hazard",
            "must be 4 strictly increasing values in (0, 10]",
        )
        _require(
            isinstance(self.casualty_cap, int) and self.casualty_cap >= 0,
            "casualty_cap",
            f"must be an integer >= 0, got {self.casualty_cap!r}",
        )

    def _validate_ranges(self) -> None:
        positive = (
            "coverage_per_residents",
            "coverage_ref",
            "structure_scale",
            "horizon_half_lives",
            "excess_ref",
            "min_reference",
        )
        for name in positive:
            value = getattr(self, name)
            _require(_finite(value) and value > 0, name, f"must be > 0, got {value!r}")
        for name in ("casualty_weight", "structure_prior"):
            value = getattr(self, name)
            _require(_finite(value) and value >= 0, name, f"must be >= 0, got {value!r}")
        _require(0 < self.epsilon <= 10, "epsilon", f"must be in (0, 10], got {self.epsilon!r}")
        fraction = self.river_zero_fraction
        _require(0 <= fraction < 1, "river_zero_fraction", f"must be in [0, 1), got {fraction!r}")

    def _validate_mappings(self) -> None:
        for name in ("half_life_h", "mean_mark"):
            _require_keys(getattr(self, name), DOMAINS, name, positive=True)
        _require_keys(
            self.background_per_10k_day, DOMAINS, "background_per_10k_day", positive=False
        )
        _require_keys(self.validity_s, tuple(SENSOR_KINDS), "validity_s", positive=True)
        _require_keys(self.facility_weight, FACILITY_KINDS, "facility_weight", positive=False)
        _require_keys(self.structure_weight, INSPECTION_GRADES, "structure_weight", positive=False)
        for kind, domain in self.incident_domain.items():
            path = f"incident_domain.{kind}"
            _require(
                kind in INCIDENT_TYPES,
                path,
                f"unknown incident type {kind!r}; known: {_known(INCIDENT_TYPES)}",
            )
            _require(
                domain in DOMAINS, path, f"unknown domain {domain!r}; known: {_known(DOMAINS)}"
            )

    def _validate_curves(self) -> None:
        kinds = tuple(kind for kind in SENSOR_KINDS if kind != RIVER_KIND)
        _require_known(self.sensor_curves, kinds, "sensor_curves")  # rivers: river_stages
        for kind, anchors in self.sensor_curves.items():
            xs = tuple(x for x, _ in anchors)
            ys = tuple(y for _, y in anchors)
            _require(
                len(anchors) >= 2
                and _increasing(xs, len(xs))
                and all(a <= b for a, b in pairwise(ys))
                and all(0 <= y <= 10 for y in ys),
                f"sensor_curves.{kind}",
                "needs >= 2 [value, hazard] anchors with strictly increasing values "
                "and non-decreasing hazards in [0, 10]",
            )
        for gauge, stages in self.river_stages.items():
            _require(
                _increasing(stages, 4) and stages[0] > 0,
                f"river_stages.{gauge}",
                "must be 4 strictly increasing positive levels "
                "(attention, caution, alert, serious) in metres",
            )


def _require(condition: bool, path: str, problem: str) -> None:
    if not condition:
        raise InvalidConfig(f"{path}: {problem}")


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _known(keys: Mapping[str, object] | tuple[str, ...]) -> str:
    return ", ".join(keys)


def _increasing(values: tuple[float, ...], length: int) -> bool:
    finite = all(math.isfinite(v) for v in values)
    return finite and len(values) == length and all(a < b for a, b in pairwise(values))


def _require_known(mapping: Mapping[str, object], keys: tuple[str, ...], name: str) -> None:
    """Every key of ``keys`` present, and no other."""
    label = KEY_LABELS[name]
    for key in mapping:
        _require(key in keys, f"{name}.{key}", f"unknown {label} {key!r}; known: {_known(keys)}")
    missing = [key for key in keys if key not in mapping]
    _require(
        not missing,
        name,
        f"missing {', '.join(missing)}; pass a complete mapping, e.g. "
        f"{{**params.{name}, key: value}}",
    )


def _require_keys(
    mapping: Mapping[str, float], keys: tuple[str, ...], name: str, *, positive: bool
) -> None:
    _require_known(mapping, keys, name)
    for key, value in mapping.items():
        ok = _finite(value) and (value > 0 if positive else value >= 0)
        _require(ok, f"{name}.{key}", f"must be {'> 0' if positive else '>= 0'}, got {value!r}")


@dataclass(frozen=True)
class StateLimits:
    """How much one district's state may hold of what senders choose the ids of; not part of the
    model (a checkpoint does not depend on them). Incident keys are also pruned with time
    (:meth:`DistrictState.prune`: ``horizon_half_lives``), superseded safety facts too; sensors
    and each facility's or structure's newest fact are kept for as long as they exist. A new key
    beyond a limit is refused (``apply`` answers ``"over_capacity"``; the worker dead-letters it
    as ``state_full`` and counts it): the state, a checkpoint and a partition's memory stay
    bounded whatever a sender makes up. The defaults are far above any real district's needs
    (a district of Seoul holds a few hundred sensors and a few thousand facilities).

    >>> StateLimits(max_sensors=0)
    Traceback (most recent call last):
    indices.errors.InvalidConfig: max_sensors: must be >= 1, got 0
    """

    max_incidents: int = 200_000
    max_sensors: int = 5_000
    max_facts: int = 50_000

    def __post_init__(self) -> None:
        for name in ("max_incidents", "max_sensors", "max_facts"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value >= 1, name, f"must be >= 1, got {value!r}")
