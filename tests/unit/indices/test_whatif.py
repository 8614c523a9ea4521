"""The what-if: a change applied to a copy equals the same events applied for real; the real state
is never touched; rankings are deterministic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indices import (
    AddFacilities,
    District,
    DistrictState,
    Event,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    InvalidEvent,
    ModelParams,
    Reinspect,
    StateLimits,
    rank_districts,
    what_if,
)
from indices.taxonomy import FACILITY_KINDS, GROUPS, INSPECTION_GRADES
from indices.whatif import MAX_ITEMS, change_events, find_structure, structures
from tests.unit.indices.test_properties import (
    DISTRICTS,
    PARAMS,
    T0,
    event_lists,
    incremental,
    instants,
    param_sets,
)

changes = st.one_of(
    st.builds(AddFacilities, st.sampled_from(FACILITY_KINDS), st.integers(1, 30)),
    st.builds(Reinspect, st.sampled_from(["s-1", "s-2"]), st.sampled_from(INSPECTION_GRADES)),
)


def held(state: DistrictState, change: AddFacilities | Reinspect) -> bool:
    return not isinstance(change, Reinspect) or change.structure_id in structures(state)


@given(event_lists, instants, st.sampled_from(DISTRICTS), param_sets, changes)
@settings(max_examples=300)
def test_what_if_equals_applying_the_events_for_real(
    items: list[Event],
    at: float,
    district: District,
    params: ModelParams,
    change: AddFacilities | Reinspect,
) -> None:
    state = incremental(items, params)
    if not held(state, change):
        with pytest.raises(InvalidEvent, match="not held"):
            what_if(state, district, params, change, at)
        return
    saved = state.to_dict()
    result = what_if(state, district, params, change, at)
    assert state.to_dict() == saved  # the real state is untouched
    assert result.before == state.evaluate(district, params, at)
    for event in change_events(state, change, at):
        assert state.apply(event, params) == "applied"
    assert state.evaluate(district, params, at) == result.after
    if isinstance(change, Reinspect):
        assert structures(state)[change.structure_id] == change.grade


@given(event_lists, instants, st.sampled_from(DISTRICTS), st.sampled_from(FACILITY_KINDS))
@settings(max_examples=200)
def test_more_facilities_never_raise_risk_nor_lower_safety(
    items: list[Event], at: float, district: District, facility: str
) -> None:
    state = incremental(items)
    result = what_if(state, district, PARAMS, AddFacilities(facility, 3), at)
    assert result.safety.change > 0.0
    assert result.coping_lack.change < 0.0
    assert result.risk_reduction >= 0.0
    assert all(shift.change <= 0.0 for shift in result.groups.values())
    assert all(shift.change <= 0.0 for shift in result.domains.values())
    assert result.composite.grade_after is not None
    assert result.composite.grade_before is not None
    assert result.composite.grade_after <= result.composite.grade_before


def test_deltas_name_every_group_and_read_the_scores() -> None:
    district = DISTRICTS[0]
    state = DistrictState.new()
    state.apply(IncidentIn("fire:1", "fire", severity=5, t=T0), PARAMS)
    result = what_if(state, district, PARAMS, AddFacilities("hydrant", 10), T0 + 60.0)
    assert set(result.groups) == set(GROUPS)
    calamity = result.groups["calamity"]
    assert calamity.before == result.before.groups["calamity"].risk
    assert calamity.after == result.after.groups["calamity"].risk
    assert calamity.change < 0.0
    assert result.safety.before == result.before.safety
    assert result.safety.grade_before is None
    assert result.risk_reduction_per_item == pytest.approx(result.risk_reduction / 10)
    assert result.items == 10


def test_synthetic_ids_never_reuse_a_key_or_facility_the_state_holds() -> None:
    state = DistrictState.new()
    state.apply(FacilityIn("what-if:cctv:1", "cam-9", "cctv", True, T0), PARAMS)
    state.apply(FacilityIn("city:7", "what-if:cctv:2", "cctv", True, T0), PARAMS)
    events = change_events(state, AddFacilities("cctv", 2), T0)
    assert all(isinstance(e, FacilityIn) and e.present and e.t == T0 for e in events)
    assert [(e.key, e.facility_id) for e in events if isinstance(e, FacilityIn)] == [
        ("what-if:cctv:3", "what-if:cctv:3"),
        ("what-if:cctv:4", "what-if:cctv:4"),
    ]


def test_a_reinspection_outranks_a_later_worse_grade() -> None:
    # The held D is stamped after the what-if's time, and at equal times the worse grade wins:
    # the re-inspection is moved just after it so that it is the one that counts.
    state = DistrictState.new()
    state.apply(InspectionIn("fms:1", "bridge-1", "D", T0 + 100.0), PARAMS)
    state.apply(FacilityIn("city:1", "station-1", "fire_station", True, T0), PARAMS)
    [event] = change_events(state, Reinspect("bridge-1"), T0)
    assert isinstance(event, InspectionIn)
    assert event.t == math.nextafter(T0 + 100.0, math.inf)
    result = what_if(state, DISTRICTS[0], PARAMS, Reinspect("bridge-1", "B"), T0)
    assert result.coping_lack.change < 0.0
    assert structures(state) == {"bridge-1": "D"}
    # without a facility, lack of facilities alone is 10 and saturates coping: no effect
    bare = DistrictState.new()
    bare.apply(InspectionIn("fms:1", "bridge-1", "D", T0), PARAMS)
    assert what_if(bare, DISTRICTS[0], PARAMS, Reinspect("bridge-1"), T0).risk_reduction == 0.0


def test_a_change_is_checked() -> None:
    with pytest.raises(InvalidEvent, match="count must be 1"):
        AddFacilities("cctv", 0)
    with pytest.raises(InvalidEvent, match="count must be 1"):
        AddFacilities("cctv", MAX_ITEMS + 1)
    with pytest.raises(InvalidEvent, match="integer"):
        AddFacilities("cctv", True)
    with pytest.raises(InvalidEvent, match="grade"):
        Reinspect("bridge-1", "F")
    with pytest.raises(InvalidEvent, match="empty"):
        Reinspect("")
    with pytest.raises(InvalidEvent, match="finite"):
        change_events(DistrictState.new(), AddFacilities("cctv"), math.nan)


def test_a_full_state_still_answers() -> None:
    # StateLimits bound what senders may store, not what an analyst may imagine.
    state = DistrictState.new()
    tight = StateLimits(max_facts=1)
    assert state.apply(FacilityIn("c:1", "cam-1", "cctv", True, T0), PARAMS, tight) == "applied"
    assert state.apply(FacilityIn("c:2", "cam-2", "cctv", True, T0), PARAMS, tight) == (
        "over_capacity"
    )
    result = what_if(state, DISTRICTS[0], PARAMS, AddFacilities("cctv", 5), T0)
    assert result.safety.change > 0.0


def test_ranking_is_by_risk_reduction_then_safety_then_code() -> None:
    twins = [District(code, "twin", population=10_000, area_km2=1.0) for code in ("b", "a")]
    sparse = District("c", "sparse", population=2_000, area_km2=40.0)
    city = [*twins, sparse]
    ranked = rank_districts(city, {}, PARAMS, AddFacilities("shelter", 2), T0)
    reductions = [r.risk_reduction_per_item for r in ranked]
    assert reductions == sorted(reductions, reverse=True)
    twins_order = [r.district for r in ranked if r.district in ("a", "b")]
    assert twins_order == ["a", "b"]  # equal numbers: by code
    by_safety = rank_districts(city, {}, PARAMS, AddFacilities("shelter", 2), T0, by="safety")
    gains = [r.safety_gain_per_item for r in by_safety]
    assert gains == sorted(gains, reverse=True)
    assert by_safety[0].district == "c"  # fewest residents: one shelter covers the most


def test_ranking_uses_each_districts_state() -> None:
    district = DISTRICTS[0]
    other = District("4157099999", "twin", district.population, district.area_km2)
    covered = DistrictState.new()
    for n in range(200):
        covered.apply(FacilityIn(f"c:{n}", f"cam-{n}", "cctv", True, T0), PARAMS)
    ranked = rank_districts(
        [district, other], {district.code: covered}, PARAMS, AddFacilities("cctv"), T0
    )
    # the district without cameras gains more from its first one (diminishing returns)
    assert [r.district for r in ranked] == [other.code, district.code]
    assert covered.sizes()["facts"] == 200


def test_find_structure() -> None:
    a, b = DistrictState.new(), DistrictState.new()
    b.apply(InspectionIn("fms:1", "bridge-1", "E", T0), PARAMS)
    assert find_structure({"x": a, "y": b}, "bridge-1") == "y"
    assert find_structure({"x": a, "y": b}, "bridge-2") is None
