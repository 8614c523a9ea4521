"""The index model's formulas, one small function each, shared by the incremental state and the
batch twin. docs/index-model.md explains each with its source.

Both :class:`~indices.DistrictState` and :func:`~indices.score_batch` reduce events to the same
:class:`Components` (decayed intensities, sensor hazards, facility and grade counts), each in its
own way; :func:`compose` turns components into :class:`~indices.Scores`.

>>> params = ModelParams()
>>> sensor_hazard("rainfall_mm_1h", 30.0, "aws-1", params)
5.0
>>> grade(3.5, params)
3
>>> round(incident_hazard(8.0, 40_000, "fire", params), 2)  # one severity-4 fire
3.3
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from indices.model import District, DomainScores, GroupScores, Scores
from indices.params import RIVER_KIND, Anchors, ModelParams
from indices.taxonomy import DOMAINS, FACILITY_KINDS, GROUPS, INSPECTION_GRADES

__all__ = [
    "Components",
    "any_of",
    "background_load",
    "background_rate",
    "clamp",
    "compose",
    "coping_lack",
    "curve_anchors",
    "either",
    "facility_lack",
    "fade",
    "freshness",
    "grade",
    "incident_hazard",
    "incident_reference",
    "interpolate",
    "mark",
    "risk",
    "sensor_hazard",
    "structural_hazard",
    "vulnerability",
]

SCALE = 10.0  # every index is on 0..10, 10 worst (INFORM convention)
PER_RESIDENTS = 10_000.0  # background rates are per this many residents, as in official statistics


def clamp(value: float) -> float:
    """``value`` limited to [0, 10]."""
    return min(max(value, 0.0), SCALE)


def either(first: float, second: float) -> float:
    """Combine two 0-10 hazards like independent probabilities: 10*(1 - (1 - a/10)(1 - b/10)).

    Never below the larger one, 10 if either is 10, and 0 only if both are 0. Computed in the
    expanded form a + b - ab/10, which is exact when one of them is 0.

    >>> either(5.0, 5.0)
    7.5
    """
    return clamp(first + second - first * second / SCALE)


def any_of(hazards: Iterable[float]) -> float:
    """Combine 0-10 hazards like independent probabilities: 10 (1 - Π (1 - h/10)).

    Never below the largest; associative, so combining groups of combinations gives the same.

    >>> any_of([5.0, 5.0, 0.0])
    7.5
    """
    spared = 1.0  # the chance that none of the hazards materialises
    for hazard in hazards:
        spared *= 1.0 - hazard / SCALE
    return clamp(SCALE * (1.0 - spared))


# --- incidents -----------------------------------------------------------------------------------


def mark(severity: int, casualties: int, params: ModelParams) -> float:
    """An incident's weight a = w[severity] * (1 + casualty_weight * min(casualties, cap)).

    >>> mark(3, 2, ModelParams())
    8.0
    """
    capped = min(casualties, params.casualty_cap)
    return params.severity_weight[severity - 1] * (1.0 + params.casualty_weight * capped)


def background_rate(population: int, domain: str, params: ModelParams) -> float:
    """λ0 = μ_d · population / 10^4: routine incidents of ``domain`` expected per day.

    >>> round(background_rate(40_000, "crime", ModelParams()), 2)
    1.08
    """
    return params.background_per_10k_day[domain] * population / PER_RESIDENTS


def background_load(population: int, domain: str, params: ModelParams) -> float:
    """B_d = λ0 · E[a] · τ_d: the decayed load routine incidents keep up on average.

    A Poisson stream of rate λ0 (per day) with mean mark E[a] under the kernel e^{-t/τ} has
    expected intensity λ0 E[a] τ, τ = half-life / ln 2 in days (Campbell's theorem).

    >>> round(background_load(40_000, "crime", ModelParams()), 2)
    8.41
    """
    rate = background_rate(population, domain, params)
    return rate * params.mean_mark[domain] * params.lifetime_days(domain)


def incident_reference(population: int, domain: str, params: ModelParams) -> float:
    """The load R_d = max(excess_ref · B_d, min_reference) at which incident hazard reads 6.3."""
    load = background_load(population, domain, params)
    return max(params.excess_ref * load, params.min_reference)


def incident_hazard(intensity: float, population: int, domain: str, params: ModelParams) -> float:
    """Incident hazard HI = 10 (1 - exp(-I / R_d)), R_d from :func:`incident_reference`.

    At the background load alone (I = B_d) it reads 10 (1 - e^{-1/excess_ref}), 2.2 with the
    defaults, unless the floor ``min_reference`` applies (then less): a district is judged by how
    far its incidents exceed its own routine, and a single incident never saturates it.

    >>> params = ModelParams()
    >>> round(incident_hazard(background_load(40_000, "crime", params), 40_000, "crime", params), 2)
    2.21
    """
    reference = incident_reference(population, domain, params)
    return clamp(SCALE * (1.0 - math.exp(-intensity / reference)))


# --- sensors -------------------------------------------------------------------------------------


def interpolate(anchors: Anchors, value: float) -> float:
    """Piecewise-linear curve through ``anchors``, constant outside the first and last anchor."""
    xs = [x for x, _ in anchors]
    if value <= xs[0]:
        return anchors[0][1]
    if value >= xs[-1]:
        return anchors[-1][1]
    i = bisect_right(xs, value)
    (x0, y0), (x1, y1) = anchors[i - 1], anchors[i]
    return y0 + (y1 - y0) * (value - x0) / (x1 - x0)


def curve_anchors(kind: str, sensor_id: str, params: ModelParams) -> Anchors | None:
    """The hazard curve of a sensor, or ``None`` for a river gauge without configured stages.

    River gauges map their own (attention, caution, alert, serious) stages to 2.5, 5, 7.5, 10,
    with 0 at half the attention stage (``river_zero_fraction``).
    """
    if kind != RIVER_KIND:
        return params.sensor_curves[kind]
    stages = params.river_stages.get(sensor_id)
    if stages is None:
        return None
    zero = (params.river_zero_fraction * stages[0], 0.0)
    return (zero, *zip(stages, params.river_stage_hazard, strict=True))


def sensor_hazard(kind: str, value: float, sensor_id: str, params: ModelParams) -> float:
    """Hazard 0-10 of one reading before fading; 0 for a river gauge without stages."""
    anchors = curve_anchors(kind, sensor_id, params)
    return 0.0 if anchors is None else clamp(interpolate(anchors, value))


def freshness(ages_s: Mapping[str, float], params: ModelParams) -> dict[str, float]:
    """Each sensor kind's freshness factor: :func:`fade` of its newest reading's age.

    >>> freshness({"wind_ms": 5400.0, "pm10_ugm3": 60.0}, ModelParams())
    {'wind_ms': 0.5, 'pm10_ugm3': 1.0}
    """
    return {kind: fade(age, params.validity_s[kind]) for kind, age in ages_s.items()}


def fade(age_s: float, validity_s: float) -> float:
    """Weight of a reading ``age_s`` old: 1 up to ``validity_s``, then linear down to 0 at twice it.

    >>> fade(5400.0, 3600.0)
    0.5
    """
    if age_s <= validity_s:
        return 1.0
    return min(max((2.0 * validity_s - age_s) / validity_s, 0.0), 1.0)


# --- vulnerability and coping --------------------------------------------------------------------


def vulnerability(district: District, params: ModelParams) -> float:
    """Static vulnerability V = clip(2 * log10(density per km²), 0, 10).

    Absolute, so districts compare across cities: 100/km² gives 4, 10,000/km² gives 8, 100,000/km²
    (the densest city blocks) saturates at 10. ``params`` is accepted for a later, richer model.

    >>> vulnerability(District("x", "x", population=20_000, area_km2=2.0), ModelParams())
    8.0
    """
    density = district.population / district.area_km2
    return clamp(2.0 * math.log10(max(density, 1.0)))


def facility_lack(counts: Mapping[str, int], population: int, params: ModelParams) -> float:
    """Lack of safety facilities 10 * c_ref / (c_ref + coverage), 10 with none, 5 at coverage c_ref.

    coverage = sum of facility weights in service per ``coverage_per_residents`` residents
    (population floored at 1 so an empty district does not divide by zero).
    """
    weighted = sum(params.facility_weight[kind] * counts.get(kind, 0) for kind in FACILITY_KINDS)
    coverage = weighted / (max(population, 1) / params.coverage_per_residents)
    return clamp(SCALE * params.coverage_ref / (params.coverage_ref + coverage))


def structural_hazard(grades: Mapping[str, int], params: ModelParams) -> float:
    """Structural weakness from inspection grades: 10*(1 - exp(-share / structure_scale)).

    share = (0.2 nC + 1.0 nD + 2.5 nE) / (n + structure_prior): a weighted share of the inspected
    structures, so a district is not judged by how many structures it has but by their state.

    >>> params = ModelParams()
    >>> structural_hazard({"B": 20}, params), round(structural_hazard({"D": 10**6}, params), 2)
    (0.0, 8.65)
    """
    weighted = sum(params.structure_weight[g] * grades.get(g, 0) for g in INSPECTION_GRADES)
    inspected = sum(grades.get(g, 0) for g in INSPECTION_GRADES)
    share = weighted / (inspected + params.structure_prior)
    return clamp(SCALE * (1.0 - math.exp(-share / params.structure_scale)))


def coping_lack(
    counts: Mapping[str, int], grades: Mapping[str, int], population: int, params: ModelParams
) -> float:
    """Lack of coping capacity LCC: lack of facilities combined with structural weakness."""
    return either(facility_lack(counts, population, params), structural_hazard(grades, params))


# --- risk ----------------------------------------------------------------------------------------


def risk(hazard: float, vuln: float, lack: float, params: ModelParams) -> float:
    """INFORM risk (max(HE, ε) * V * max(LCC, ε))^(1/3), a geometric mean on 0-10.

    The ε floor keeps a zero hazard or a perfect coping score from erasing the other dimensions.
    """
    eps = params.epsilon
    return clamp((max(hazard, eps) * vuln * max(lack, eps)) ** (1.0 / 3.0))


def grade(value: float, params: ModelParams) -> int:
    """INFORM's absolute class of a 0-10 value: 1 very low (< 2.0) .. 5 very high (>= 6.5).

    >>> [grade(v, ModelParams()) for v in (0.0, 1.99, 2.0, 4.9, 6.5, 10.0)]
    [1, 1, 2, 3, 5, 5]
    """
    return bisect_right(params.grade_cuts, value) + 1


# --- composition ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Components:
    """Everything :func:`compose` needs, reduced from events.

    ``intensity`` is each domain's decayed incident intensity at its evaluation time,
    ``sensor_hazard`` each domain's faded sensor hazard, ``facilities`` the facilities in service
    per kind, ``grades`` the structures per newest grade.
    """

    intensity: Mapping[str, float]
    sensor_hazard: Mapping[str, float]
    facilities: Mapping[str, int]
    grades: Mapping[str, int]
    events: int
    freshness_s: dict[str, float]


def compose(district: District, params: ModelParams, parts: Components) -> Scores:
    """Scores of ``district`` from its reduced components."""
    vuln = vulnerability(district, params)
    lack = coping_lack(parts.facilities, parts.grades, district.population, params)
    domains = {
        domain: _domain_scores(domain, district, params, parts, vuln, lack) for domain in DOMAINS
    }
    groups: dict[str, GroupScores] = {}
    for group, members in GROUPS.items():
        hazard = any_of(domains[d].hazard for d in members)
        value = risk(hazard, vuln, lack, params)
        groups[group] = GroupScores(hazard=hazard, risk=value, grade=grade(value, params))
    hazard = any_of(domains[d].hazard for d in DOMAINS)
    composite = risk(hazard, vuln, lack, params)
    factors = freshness(parts.freshness_s, params)
    confidence = sum(factors.values()) / len(factors) if factors else 1.0
    return Scores(
        composite=composite,
        grade=grade(composite, params),
        domains=domains,
        vulnerability=vuln,
        coping_lack=lack,
        safety=clamp(SCALE - lack),
        events=parts.events,
        freshness_s=dict(parts.freshness_s),
        groups=groups,
        confidence=min(max(confidence, 0.0), 1.0),
        stale_feeds=tuple(sorted(kind for kind, f in factors.items() if f < 1.0)),
        hazard=hazard,
    )


def _domain_scores(
    domain: str,
    district: District,
    params: ModelParams,
    parts: Components,
    vuln: float,
    lack: float,
) -> DomainScores:
    intensity = parts.intensity.get(domain, 0.0)
    sensors = parts.sensor_hazard.get(domain, 0.0)
    incidents = incident_hazard(intensity, district.population, domain, params)
    hazard = either(incidents, sensors)
    value = risk(hazard, vuln, lack, params)
    return DomainScores(
        hazard=hazard,
        risk=value,
        grade=grade(value, params),
        intensity=intensity,
        sensor_hazard=sensors,
        incident_hazard=incidents,
        background=background_load(district.population, domain, params),
    )
