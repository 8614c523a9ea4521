"""What if: a hypothetical change to a district, scored by the same model as everything else.

A change is turned into ordinary events (:class:`~indices.FacilityIn` facilities put into service
under fresh synthetic ids, or an :class:`~indices.InspectionIn` re-grading a structure the state
holds), applied to a **copy** of the district's state, and both states are evaluated with the same
:meth:`~indices.DistrictState.evaluate` at the same time. No formula of its own: the prediction is
what the live indices would read if those facts arrived now. The real state is never touched.

>>> params = ModelParams()
>>> district = District("4157035000", "월곶면", population=5_440, area_km2=50.0)
>>> state = DistrictState.new()
>>> state.apply(FacilityIn("city:1", "cctv-1", "cctv", present=True, t=0.0), params)
'applied'
>>> result = what_if(state, district, params, AddFacilities("cctv", 2), at=3600.0)
>>> result.items, round(result.safety.change, 3), round(result.composite.change, 3)
(2, 1.32, -0.078)
>>> round(result.risk_reduction_per_item, 4), result.composite.grade_before
(0.0392, 1)
>>> state.sizes()["facts"]  # the real state still holds its one fact
1

Rank the same change in every district of a city with :func:`rank_districts`: the districts whose
risk falls most per item come first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal

from indices.errors import IndicesError, InvalidEvent
from indices.model import District, Event, FacilityIn, InspectionIn, Scores
from indices.params import ModelParams, StateLimits
from indices.records import FactRecord, InspectionRecord, decode_fact, fact_rank
from indices.state import DistrictState
from indices.taxonomy import FACILITY_KINDS, GROUPS, INSPECTION_GRADES

__all__ = [
    "MAX_ITEMS",
    "WHATIF_SOURCE",
    "AddFacilities",
    "Change",
    "Reinspect",
    "Shift",
    "WhatIf",
    "change_events",
    "find_structure",
    "rank_districts",
    "structures",
    "what_if",
]

WHATIF_SOURCE: Final = "what-if"  # the source part of every synthetic key ("what-if:cctv:1")
MAX_ITEMS: Final = 10_000  # facilities one change may add: far above any policy, bounds the work
RankBy = Literal["risk", "safety"]


@dataclass(frozen=True, slots=True)
class AddFacilities:
    """Put ``count`` new facilities of kind ``facility`` (one of
    :data:`indices.taxonomy.FACILITY_KINDS`) into service in a district.

    >>> AddFacilities("helipad", 1)
    Traceback (most recent call last):
    ...
    indices.errors.InvalidEvent: unknown facility kind 'helipad'; one of: cctv, security_light, \
emergency_bell, shelter, hydrant, fire_station, police_box, aed
    """

    facility: str
    count: int = 1

    def __post_init__(self) -> None:
        if self.facility not in FACILITY_KINDS:
            known = ", ".join(FACILITY_KINDS)
            raise InvalidEvent(f"unknown facility kind {self.facility!r}; one of: {known}")
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise InvalidEvent(f"count must be an integer, got {self.count!r}")
        if not 1 <= self.count <= MAX_ITEMS:
            raise InvalidEvent(f"count must be 1..{MAX_ITEMS}, got {self.count}")

    @property
    def items(self) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class Reinspect:
    """Re-inspect structure ``structure_id`` (held by the district's state) and find it in
    ``grade`` (default B, "good": what a repair aims at)."""

    structure_id: str
    grade: str = "B"

    def __post_init__(self) -> None:
        if not self.structure_id:
            raise InvalidEvent("structure_id must not be empty")
        if self.grade not in INSPECTION_GRADES:
            known = ", ".join(INSPECTION_GRADES)
            raise InvalidEvent(f"unknown inspection grade {self.grade!r}; one of: {known}")

    @property
    def items(self) -> int:
        return 1


Change = AddFacilities | Reinspect


@dataclass(frozen=True, slots=True)
class Shift:
    """One index before and after a change; ``grade_*`` for risks (1-5), None for safety."""

    before: float
    after: float
    grade_before: int | None = None
    grade_after: int | None = None

    @property
    def change(self) -> float:
        """``after - before``: negative for a risk that falls, positive for safety that rises."""
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A change's predicted effect on one district at ``at``.

    ``composite`` is the overall risk, ``groups`` each risk type's (natural, calamity, crime),
    ``domains`` each domain's, ``safety`` the safety index (10 best) and ``coping_lack`` what moves
    them: facilities and structure grades only enter the model through lack of coping capacity.
    ``before`` and ``after`` are the full scores for anything else a caller wants.
    """

    district: str
    change: Change
    at: float
    before: Scores
    after: Scores

    @property
    def items(self) -> int:
        return self.change.items

    @property
    def composite(self) -> Shift:
        b, a = self.before, self.after
        return Shift(b.composite, a.composite, b.grade, a.grade)

    @property
    def safety(self) -> Shift:
        return Shift(self.before.safety, self.after.safety)

    @property
    def coping_lack(self) -> Shift:
        return Shift(self.before.coping_lack, self.after.coping_lack)

    @property
    def groups(self) -> dict[str, Shift]:
        return {
            name: Shift(
                self.before.groups[name].risk,
                self.after.groups[name].risk,
                self.before.groups[name].grade,
                self.after.groups[name].grade,
            )
            for name in GROUPS
        }

    @property
    def domains(self) -> dict[str, Shift]:
        return {
            name: Shift(
                before.risk,
                self.after.domains[name].risk,
                before.grade,
                self.after.domains[name].grade,
            )
            for name, before in self.before.domains.items()
        }

    @property
    def risk_reduction(self) -> float:
        """How much the composite risk falls (positive = safer)."""
        return self.before.composite - self.after.composite

    @property
    def risk_reduction_per_item(self) -> float:
        return self.risk_reduction / self.items

    @property
    def safety_gain_per_item(self) -> float:
        return self.safety.change / self.items


def structures(state: DistrictState) -> dict[str, str]:
    """Every structure the state holds, with its newest grade (the one the model counts).

    >>> state = DistrictState.new()
    >>> for key, grade, t in (("fms:1", "D", 10.0), ("fms:2", "C", 20.0)):
    ...     _ = state.apply(InspectionIn(key, "bridge-7", grade, t), ModelParams())
    >>> structures(state)
    {'bridge-7': 'C'}
    """
    newest = _newest_structures(_facts(state))
    return {subject: record.grade for subject, (_, record) in sorted(newest.items())}


def find_structure(states: Mapping[str, DistrictState], structure_id: str) -> str | None:
    """The code of the district whose state holds ``structure_id`` (the first by code if a
    structure was filed in two districts), or None."""
    for code in sorted(states):
        if structure_id in structures(states[code]):
            return code
    return None


def change_events(state: DistrictState, change: Change, at: float) -> list[Event]:
    """The events that make ``change`` happen in ``state`` at ``at``; applying them for real gives
    exactly the what-if's ``after`` scores.

    Facilities get keys and ids ``what-if:<kind>:<n>`` that the state does not hold yet (so they
    are new facilities, never a duplicate of a real one). A re-inspection is stamped at ``at``, or
    just after the structure's newest inspection if that is later, so it is the one that counts.

    Raises :class:`~indices.errors.InvalidEvent` if a re-inspected structure is not in ``state``.
    """
    if not math.isfinite(at):
        raise InvalidEvent(f"at must be finite epoch seconds, got {at!r}")
    facts = _facts(state)
    if isinstance(change, AddFacilities):
        taken = set(facts) | {record.subject for record in facts.values()}
        events: list[Event] = []
        n = 0
        while len(events) < change.count:
            n += 1
            key = f"{WHATIF_SOURCE}:{change.facility}:{n}"
            if key not in taken:
                events.append(FacilityIn(key, key, change.facility, present=True, t=at))
        return events
    newest = _newest_structures(facts).get(change.structure_id)
    if newest is None:
        raise InvalidEvent(f"structure {change.structure_id!r} is not held by this state")
    held_key, held = newest
    n = 1
    while f"{WHATIF_SOURCE}:inspection:{n}" in facts:
        n += 1
    key = f"{WHATIF_SOURCE}:inspection:{n}"
    event = InspectionIn(key, change.structure_id, change.grade, max(at, held.t))
    if fact_rank(key, InspectionRecord.of(event)) <= fact_rank(held_key, held):
        event = replace(event, t=math.nextafter(held.t, math.inf))
    return [event]


def what_if(
    state: DistrictState, district: District, params: ModelParams, change: Change, at: float
) -> WhatIf:
    """``district``'s scores at ``at`` before and after ``change``; ``state`` is not modified.

    The change is applied to a copy made through :meth:`~indices.DistrictState.to_dict` and
    :meth:`~indices.DistrictState.from_dict`, without :class:`~indices.StateLimits` (a
    hypothesis is not bounded by what a sender may store). Raises
    :class:`~indices.errors.InvalidEvent` for a structure the state does not hold.
    """
    events = change_events(state, change, at)
    before = state.evaluate(district, params, at)
    copy = DistrictState.from_dict(state.to_dict())
    sizes = copy.sizes()
    room = StateLimits(
        max_incidents=max(sizes["incidents"], 1),
        max_sensors=max(sizes["sensors"], 1),
        max_facts=sizes["facts"] + len(events),
    )
    for event in events:
        outcome = copy.apply(event, params, room)
        if outcome != "applied":  # fresh keys make this impossible; never report a wrong answer
            raise IndicesError(f"what-if event {event!r} was not applied: {outcome}")
    return WhatIf(district.code, change, at, before, copy.evaluate(district, params, at))


def rank_districts(
    districts: Iterable[District],
    states: Mapping[str, DistrictState],
    params: ModelParams,
    change: AddFacilities,
    at: float,
    by: RankBy = "risk",
) -> list[WhatIf]:
    """The same ``change`` in every one of ``districts``, best value first.

    ``by="risk"`` (default) ranks by composite risk reduction per item, then safety gain per item;
    ``by="safety"`` the other way round; ties go by district code, so the order is deterministic.
    A district without a state in ``states`` is scored from an empty state (one with no history).

    >>> params = ModelParams()
    >>> city = [District("a", "A", population=40_000, area_km2=4.0),
    ...         District("b", "B", population=5_000, area_km2=50.0)]
    >>> ranked = rank_districts(city, {}, params, AddFacilities("police_box", 1), at=0.0)
    >>> [(r.district, round(r.risk_reduction_per_item, 3)) for r in ranked]
    [('b', 0.282), ('a', 0.063)]
    """
    results = [
        what_if(states.get(d.code) or DistrictState.new(), d, params, change, at) for d in districts
    ]

    def key(result: WhatIf) -> tuple[float, float, str]:
        risk, safety = result.risk_reduction_per_item, result.safety_gain_per_item
        first, second = (risk, safety) if by == "risk" else (safety, risk)
        return (-first, -second, result.district)

    return sorted(results, key=key)


def _facts(state: DistrictState) -> dict[str, FactRecord]:
    table = state.to_dict()["facts"]
    assert isinstance(table, dict)
    return {key: decode_fact(key, value) for key, value in table.items()}


def _newest_structures(
    facts: Mapping[str, FactRecord],
) -> dict[str, tuple[str, InspectionRecord]]:
    """Per structure id, its newest inspection (key, record): the grade the state counts."""
    newest: dict[str, tuple[str, InspectionRecord]] = {}
    for key, record in facts.items():
        if isinstance(record, InspectionRecord):
            held = newest.get(record.subject)
            if held is None or fact_rank(key, record) > fact_rank(*held):
                newest[record.subject] = (key, record)
    return newest
