"""The policy map's pure step: request values -> change, states from JSON lines, the wire answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from indices import AddFacilities, DistrictState, FacilityIn, InspectionIn, Reinspect, what_if
from streams.contract import WhatIfBasis, WhatIfResponse
from streams.pipeline.whatif import WhatIfRefused, make_change, states_from_lines, whatif_response
from tests.cities import exact_gimpo_config

AT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
JANGGI, WOLGOT = "4157056000", "4157035000"
BASIS = WhatIfBasis(source="baseline", detail="test")


def test_make_change_refuses_what_the_engine_cannot_do() -> None:
    assert make_change("shelter", 4, None, None) == AddFacilities("shelter", 4)
    assert make_change("inspection", 1, "b-1", "C") == Reinspect("b-1", "C")
    for args, parameter in (
        (("inspection", 1, None, None), "structure"),
        (("inspection", 2, "b-1", None), "count"),
        (("cctv", 1, "b-1", None), "structure"),
        (("cctv", 0, None, None), "change"),
        (("helipad", 1, None, None), "change"),
        (("inspection", 1, "b-1", "Z"), "change"),
    ):
        with pytest.raises(WhatIfRefused) as refused:
            make_change(*args)
        assert refused.value.parameter == parameter, args


def test_the_answer_is_the_ranking_of_indices() -> None:
    config = exact_gimpo_config()
    districts = config.city.model_districts()
    answer = whatif_response(districts, {}, config.params, AddFacilities("cctv", 2), AT, BASIS)
    assert isinstance(answer, WhatIfResponse)
    assert [d.rank for d in answer.districts] == list(range(1, 15))
    assert (answer.change, answer.count, answer.ranked_by) == ("cctv", 2, "risk")
    first = answer.districts[0]
    expected = what_if(
        DistrictState.new(), districts[first.district], config.params, AddFacilities("cctv", 2),
        AT.timestamp(),
    )  # fmt: skip
    assert first.risk_reduction == expected.risk_reduction
    assert first.safety.after == expected.safety.after
    assert first.composite.grade_after == expected.composite.grade_after
    assert set(first.groups) == {"natural", "calamity", "crime"}
    # the least populated district gains most from an empty start
    assert first.district == WOLGOT
    assert WhatIfResponse.model_validate_json(answer.model_dump_json()) == answer


def test_one_district_and_a_reinspection_find_their_district() -> None:
    config = exact_gimpo_config()
    districts = config.city.model_districts()
    state = DistrictState.new()
    state.apply(InspectionIn("fms:1", "bridge-9", "E", 0.0), config.params)
    state.apply(FacilityIn("city:1", "station-1", "fire_station", True, 0.0), config.params)
    states = {JANGGI: state}
    one = whatif_response(
        districts, states, config.params, AddFacilities("aed"), AT, BASIS, only=WOLGOT
    )
    assert [d.district for d in one.districts] == [WOLGOT]
    fixed = whatif_response(districts, states, config.params, Reinspect("bridge-9"), AT, BASIS)
    [row] = fixed.districts
    assert (row.district, fixed.structure_id, fixed.grade, row.items) == (
        JANGGI,
        "bridge-9",
        "B",
        1,
    )
    assert row.coping_lack.change < 0.0
    with pytest.raises(WhatIfRefused, match="not held by district"):
        whatif_response(
            districts, states, config.params, Reinspect("bridge-9"), AT, BASIS, only=WOLGOT
        )
    with pytest.raises(WhatIfRefused, match="unknown district"):
        whatif_response(
            districts, states, config.params, AddFacilities("aed"), AT, BASIS, only="0000000000"
        )


def test_states_from_lines_place_facts_like_the_worker_and_report_bad_lines() -> None:
    config = exact_gimpo_config()
    fact = {
        "fact": "facility", "id": "c-1", "source": "gimpo-city", "facility_id": "cam-1",
        "facility": "cctv", "action": "added", "effective_at": "2026-11-30T09:00:00+09:00",
        "lat": 37.6385, "lon": 126.6791,
    }  # fmt: skip
    lines = [json.dumps(fact).encode(), b"", b"{not json", json.dumps(fact).encode()]
    result = states_from_lines(lines, config, AT)
    assert result.applied == 1  # the second copy is a duplicate
    assert [n for n, _ in result.rejected] == [3]
    assert set(result.states) == set(config.city.codes)
    assert result.states[JANGGI].sizes()["facts"] == 1
