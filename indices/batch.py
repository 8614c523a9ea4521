"""The batch twin: the same scores as :class:`~indices.DistrictState`, computed from a whole event
list at once with numpy.

Use it to backfill (score a district from its stored history without building state) and as the
oracle of the incremental path: for any event list, in any order, with any duplicates,
``score_batch(district, events, params, at)`` equals ``DistrictState.new()`` + ``apply`` of each
event in list order + ``evaluate(district, params, at)`` within 1e-9 on every float. Where an
incident or fact key is reused with other content, the first one in the list wins, as in ``apply``.

It shares :mod:`indices.formulas` with the state but none of its bookkeeping: intensities are summed
directly (Σ a_i e^{-ω (T - t_i)}) instead of updated one event at a time, and newest-wins selection
is a sort instead of comparisons on arrival.

>>> params = ModelParams()
>>> district = District("4157056000", "장기동", population=41_316, area_km2=4.1)
>>> events = [IncidentIn("gimpo-fire:981", "fire", severity=4, t=0.0)] * 3
>>> score_batch(district, events, params, at=12 * 3600.0).domains["fire"].intensity
4.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import compress

import numpy as np
import numpy.typing as npt

from indices.errors import InvalidEvent
from indices.formulas import Components, compose, curve_anchors
from indices.model import (
    District,
    Event,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    ReadingIn,
    Scores,
    WithdrawIn,
)
from indices.params import RIVER_KIND, ModelParams
from indices.taxonomy import DOMAINS, FACILITY_KINDS, INSPECTION_GRADES, SENSOR_DOMAIN

__all__ = ["score_batch"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def score_batch(
    district: District, events: Sequence[Event], params: ModelParams, at: float
) -> Scores:
    """Scores of ``district`` at ``at`` from ``events`` (any order, duplicates allowed).

    River readings from gauges without ``params.river_stages`` and incidents of types that
    ``params.incident_domain`` leaves out are ignored (``apply`` rejects them too). Raises
    :class:`~indices.errors.InvalidEvent` if an element is not one of the five event types.
    An incident whose key a :class:`~indices.model.WithdrawIn` names counts for nothing.
    """
    incidents, readings, facts = _split(events)
    if len(incidents) + len(readings) + len(facts) < len(events):
        withdrawn = {e.key for e in events if isinstance(e, WithdrawIn)}
        incidents = [e for e in incidents if e.key not in withdrawn]
    rivers = params.river_stages
    readings = [r for r in readings if r.kind != RIVER_KIND or r.sensor_id in rivers]
    intensity, count = _incidents(incidents, params, float(at))
    hazards, freshness = _sensors(readings, params, float(at))
    facilities, grades = _facts([facts[i] for i in _first_rows([f.key for f in facts]).tolist()])
    parts = Components(intensity, hazards, facilities, grades, count, freshness)
    return compose(district, params, parts)


def _incidents(
    incidents: list[IncidentIn], params: ModelParams, at: float
) -> tuple[dict[str, float], int]:
    """Decayed intensity per domain seen, and the incidents still inside their domain's horizon."""
    # Per-event Python work is this path's whole cost: each attribute is read once, in a list
    # comprehension, and duplicates are found by sorting the keys' hashes (see _first_rows).
    domain_of = {t: DOMAINS.index(d) for t, d in params.incident_domain.items()}
    domain_all = _ints([domain_of.get(e.type, -1) for e in incidents], len(incidents))
    if (domain_all < 0).any():  # types the city does not count: apply rejects them
        counted = domain_all >= 0
        incidents = list(compress(incidents, counted.tolist()))
        domain_all = domain_all[counted]
    if not incidents:
        return {}, 0
    first = _first_rows([e.key for e in incidents])
    domain = domain_all[first]
    # severity (1..5) and casualties (>= 0) in one read: severity in the low 3 bits
    packed = _ints([e.severity | e.casualties << 3 for e in incidents], len(incidents))[first]
    severity = packed & 7
    casualties = packed >> 3
    t = _floats([e.t for e in incidents], len(incidents))[first]
    weight = np.asarray(params.severity_weight)[severity - 1] * (
        1.0 + params.casualty_weight * np.minimum(casualties, params.casualty_cap)
    )
    omega = np.array([params.decay_rate(d) for d in DOMAINS])
    horizon = np.array([params.horizon_s(d) for d in DOMAINS])
    when = np.full(len(DOMAINS), at)  # per domain: max(at, newest incident time)
    np.maximum.at(when, domain, t)
    decayed = weight * np.exp(-omega[domain] * (when[domain] - t))
    totals = np.bincount(domain, weights=decayed, minlength=len(DOMAINS))
    seen = np.bincount(domain, minlength=len(DOMAINS)) > 0
    intensity = {d: float(totals[i]) for i, d in enumerate(DOMAINS) if seen[i]}
    return intensity, int(np.count_nonzero(at - t <= horizon[domain]))


def _sensors(
    readings: list[ReadingIn], params: ModelParams, at: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Max faded hazard per domain over each sensor's newest reading; newest age per kind."""
    if not readings:
        return {}, {}
    sensors = [r.sensor_id for r in readings]
    kinds = [r.kind for r in readings]
    kind_code = _ranks(kinds)
    value = _floats([r.value for r in readings], len(readings))
    t = _floats([r.t for r in readings], len(readings))
    newest = _last_per_group(_ids(sensors), t, value, kind_code)
    hazards: dict[str, float] = {}
    freshness: dict[str, float] = {}
    for code, kind in enumerate(sorted(set(kinds))):
        rows = newest[kind_code[newest] == code]
        if not rows.size:  # every reading of this kind was superseded by another kind's
            continue
        validity = params.validity_s[kind]
        age = at - t[rows]
        fade = np.where(age <= validity, 1.0, np.clip((2.0 * validity - age) / validity, 0.0, 1.0))
        hazard = _curve(kind, [sensors[i] for i in rows], value[rows], params) * fade
        domain = SENSOR_DOMAIN[kind]
        hazards[domain] = max(hazards.get(domain, 0.0), float(hazard.max()))
        freshness[kind] = at - float(t[rows].max())
    return hazards, freshness


def _curve(kind: str, sensors: list[str], values: Floats, params: ModelParams) -> Floats:
    """Curve hazard of each value; river gauges each use their own stages."""
    if kind != RIVER_KIND:
        xs, ys = zip(*params.sensor_curves[kind], strict=True)
        curve: Floats = np.interp(values, xs, ys)
        return np.clip(curve, 0.0, 10.0)
    out = np.zeros_like(values)
    gauges = np.array(sensors, dtype=object)
    for gauge in sorted(set(sensors)):
        anchors = curve_anchors(kind, gauge, params)
        if anchors is not None:  # unknown gauges were filtered out by score_batch
            rows = gauges == gauge
            xs, ys = zip(*anchors, strict=True)
            out[rows] = np.interp(values[rows], xs, ys)
    return np.clip(out, 0.0, 10.0)


def _facts(facts: list[FacilityIn | InspectionIn]) -> tuple[dict[str, int], dict[str, int]]:
    """Facilities in service per kind and structures per grade, from each one's newest fact."""
    facilities = [f for f in facts if isinstance(f, FacilityIn)]
    inspections = [f for f in facts if isinstance(f, InspectionIn)]
    counts: dict[str, int] = {}
    grades: dict[str, int] = {}
    if facilities:
        removed = _ints([not f.present for f in facilities], len(facilities))
        newest = _last_per_group(
            _ids([f.facility_id for f in facilities]),
            _floats([f.t for f in facilities], len(facilities)),
            removed,
            _ranks([f.key for f in facilities]),
        )
        kind = _ranks([f.facility for f in facilities], FACILITY_KINDS)
        in_service = np.bincount(kind[newest[removed[newest] == 0]], minlength=len(FACILITY_KINDS))
        counts = {k: int(n) for k, n in zip(FACILITY_KINDS, in_service, strict=True)}
    if inspections:
        grade = _ranks([f.grade for f in inspections], INSPECTION_GRADES)
        newest = _last_per_group(
            _ids([f.structure_id for f in inspections]),
            _floats([f.t for f in inspections], len(inspections)),
            grade,  # a worse grade wins a tie, as in the state
            _ranks([f.key for f in inspections]),
        )
        per_grade = np.bincount(grade[newest], minlength=len(INSPECTION_GRADES))
        grades = {g: int(n) for g, n in zip(INSPECTION_GRADES, per_grade, strict=True)}
    return counts, grades


def _split(
    events: Sequence[Event],
) -> tuple[list[IncidentIn], list[ReadingIn], list[FacilityIn | InspectionIn]]:
    """Incidents, readings and safety facts, each in list order."""
    incidents = [e for e in events if type(e) is IncidentIn]
    others = []
    if len(incidents) < len(events):
        others = [e for e in events if type(e) is not IncidentIn]
    readings = [e for e in others if type(e) is ReadingIn]
    facts = [e for e in others if type(e) is FacilityIn or type(e) is InspectionIn]
    withdrawals = sum(1 for e in others if type(e) is WithdrawIn)
    if len(readings) + len(facts) + withdrawals == len(others):
        return incidents, readings, facts
    # Subclasses, or something that is not an event: the general (slower) path.
    incidents, readings, facts = [], [], []
    for event in events:
        if isinstance(event, IncidentIn):
            incidents.append(event)
        elif isinstance(event, ReadingIn):
            readings.append(event)
        elif isinstance(event, FacilityIn | InspectionIn):
            facts.append(event)
        elif not isinstance(event, WithdrawIn):
            raise InvalidEvent(f"not an indices event: {type(event).__name__}")
    return incidents, readings, facts


def _first_rows(keys: list[str], hash_of: Callable[[str], int] = hash) -> Ints:
    """Row of the first occurrence of each key, ascending: ``apply`` keeps the first event of a
    key, later ones are duplicates or conflicts.

    Rows are grouped by their key's hash with numpy's sort (a dict of a million strings costs
    twice as much); each group's first row is its smallest. Every row that shares a hash is
    then checked against its group's first key, and a collision of two different keys takes the
    exact dict path.
    """
    if not keys:
        return np.zeros(0, dtype=np.int64)
    hashes = _ints(map(hash_of, keys), len(keys))
    order = np.argsort(hashes)
    sorted_hashes = hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
    rows: Ints = np.minimum.reduceat(order, starts)
    if len(rows) < len(keys):  # some hashes repeat: duplicates, or (rarely) a collision
        group_first = np.repeat(rows, np.diff(np.append(starts, len(order))))
        repeat = order != group_first
        pairs = zip(order[repeat].tolist(), group_first[repeat].tolist(), strict=True)
        if any(keys[i] != keys[j] for i, j in pairs):
            firsts = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
            rows = _ints(firsts.values(), len(firsts))
    rows.sort()
    return rows


def _last_per_group(group: Ints, *order: Floats | Ints) -> Ints:
    """Row index of the greatest row of each group, rows compared by ``order`` (first key first)."""
    rows = np.lexsort((*reversed(order), group))  # np.lexsort sorts by its last key first
    sorted_group = group[rows]
    last = np.append(sorted_group[1:] != sorted_group[:-1], True)
    newest: Ints = rows[last]
    return newest


def _ranks(values: list[str], vocabulary: Sequence[str] | None = None) -> Ints:
    """Each value's rank in sorted order, so integer order equals Python string order; or, given
    a ``vocabulary``, its index there."""
    ordered = sorted(set(values)) if vocabulary is None else vocabulary
    rank = {value: i for i, value in enumerate(ordered)}
    return _ints(map(rank.__getitem__, values), len(values))


def _ids(values: list[str]) -> Ints:
    """An integer per distinct value (equal values, equal ids), in order of first appearance:
    for grouping, where the order of groups does not matter."""
    ids = {value: i for i, value in enumerate(dict.fromkeys(values))}
    return _ints(map(ids.__getitem__, values), len(values))


def _ints(values: Iterable[int], count: int = -1) -> Ints:
    return np.fromiter(values, dtype=np.int64, count=count)


def _floats(values: Iterable[float], count: int = -1) -> Floats:
    return np.fromiter(values, dtype=np.float64, count=count)
