"""WithdrawIn: an incident's effect ended (a CAP alert cancelled, superseded or expired)."""

from __future__ import annotations

import json

import pytest

from indices import (
    District,
    DistrictState,
    IncidentIn,
    InvalidEvent,
    ModelParams,
    StateLimits,
    WithdrawIn,
    score_batch,
)

HOUR = 3600.0
T0 = 1_795_000_000.0
PARAMS = ModelParams()
DISTRICT = District("4157056000", "장기동", population=40_000, area_km2=4.0)
FLOOD = IncidentIn("kma:w1@4157056000", "flood", severity=4, t=T0)
OTHER = IncidentIn("kma:w2@4157056000", "flood", severity=2, t=T0 - 2 * HOUR)
END = WithdrawIn("kma:w1@4157056000", "flood", t=T0 + HOUR)


def test_a_withdrawn_incident_counts_for_nothing_afterwards() -> None:
    state = DistrictState.new()
    assert state.apply(OTHER, PARAMS) == "applied"
    assert state.apply(FLOOD, PARAMS) == "applied"
    with_it = state.evaluate(DISTRICT, PARAMS, T0 + HOUR).domains["flood_weather"].hazard
    assert state.apply(END, PARAMS) == "applied"
    after = state.evaluate(DISTRICT, PARAMS, T0 + HOUR)
    alone = score_batch(DISTRICT, [OTHER], PARAMS, T0 + HOUR)
    assert after.domains["flood_weather"].hazard < with_it
    assert after.domains["flood_weather"].intensity == pytest.approx(
        alone.domains["flood_weather"].intensity, rel=1e-12
    )
    assert after.events == alone.events == 1
    assert [d[0] for d in state.drivers("flood_weather", DISTRICT, PARAMS, T0 + HOUR)] == [
        OTHER.key
    ]


def test_any_order_and_redelivery_give_the_same_state() -> None:
    orders = [
        [FLOOD, OTHER, END],
        [END, FLOOD, OTHER],
        [OTHER, END, FLOOD, END, FLOOD],
    ]
    states = []
    for order in orders:
        state = DistrictState.new()
        for event in order:
            state.apply(event, PARAMS)
        states.append(state.evaluate(DISTRICT, PARAMS, T0 + 2 * HOUR))
    assert states[0] == states[1] == states[2]
    late = DistrictState.new()
    assert late.apply(END, PARAMS) == "applied"
    assert late.apply(FLOOD, PARAMS) == "withdrawn"
    assert late.apply(END, PARAMS) == "duplicate"


def test_withdrawing_the_last_incident_of_a_domain_leaves_no_intensity() -> None:
    state = DistrictState.new()
    state.apply(FLOOD, PARAMS)
    state.apply(END, PARAMS)
    assert state.evaluate(DISTRICT, PARAMS, T0).domains["flood_weather"].intensity == 0.0
    assert state.evaluate(DISTRICT, PARAMS, T0) == DistrictState.new().evaluate(
        DISTRICT, PARAMS, T0
    )


def test_withdrawals_persist_and_are_forgotten_after_the_longest_horizon() -> None:
    state = DistrictState.new()
    state.apply(END, PARAMS)
    data = json.loads(json.dumps(state.to_dict()))
    assert data["withdrawn"] == {END.key: END.t}
    restored = DistrictState.from_dict(data)
    assert restored == state
    assert restored.apply(FLOOD, PARAMS) == "withdrawn"
    assert "withdrawn" not in DistrictState.new().to_dict()  # old states stay byte-identical
    assert state.prune(PARAMS, END.t + PARAMS.fact_horizon_s() / 2) == 0
    assert state.prune(PARAMS, END.t + PARAMS.fact_horizon_s() + 1) == 1
    assert "withdrawn" not in state.to_dict()


def test_withdrawals_are_bounded_and_validated() -> None:
    state = DistrictState.new()
    limits = StateLimits(max_incidents=1)
    assert state.apply(END, PARAMS, limits) == "applied"
    assert state.apply(WithdrawIn("kma:w9", "flood", T0), PARAMS, limits) == "over_capacity"
    with pytest.raises(InvalidEvent):
        WithdrawIn("kma:w9", "tsunami", T0)
    with pytest.raises(InvalidEvent):
        WithdrawIn("kma:w9", "flood", float("nan"))
