"""The alert lifecycle: every transition of the table taken by the engine, acknowledgement,
dedupe and updates of the one open alert."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from indices.alerts import (
    TRANSITIONS,
    AlertChange,
    AlertConfig,
    AlertEngine,
    AlertState,
    DomainRules,
    InvalidTransition,
    Severity,
    SpikeParams,
    Trigger,
    UnknownAlert,
    transition,
)
from indices.errors import InvalidEvent
from tests.unit.indices.alerts.support import (
    CONFIG,
    RAIN,
    T0,
    firing_threshold,
    kinds,
    obs,
    spike_fired,
)

# --- the table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "target"), sorted(TRANSITIONS.items(), key=str))
def test_every_row_of_the_table_is_allowed(
    row: tuple[AlertState | None, Trigger], target: AlertState
) -> None:
    assert transition(*row) is target


INVALID = [
    (state, trigger)
    for state, trigger in itertools.product([None, *AlertState], Trigger)
    if (state, trigger) not in TRANSITIONS
]


@pytest.mark.parametrize(("state", "trigger"), INVALID, ids=str)
def test_every_other_pair_raises(state: AlertState | None, trigger: Trigger) -> None:
    with pytest.raises(InvalidTransition, match=f"{trigger.value} is not allowed"):
        transition(state, trigger)


def test_resolved_is_final_and_only_a_new_key_opens() -> None:
    assert not [row for row in TRANSITIONS if row[0] is AlertState.RESOLVED]
    assert [row for row in TRANSITIONS if row[0] is None] == [(None, Trigger.OPEN_CONDITION)]


# One engine scenario per row of the table: the change it produces and the state after it.
def _open() -> list[AlertChange]:
    return AlertEngine.new().observe(obs(0, 5.5, 4), CONFIG)


def _pending_update() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), CONFIG)
    return engine.observe(obs(60, 7.0, 5), CONFIG)  # severity Severe -> Extreme


def _held_on_tick() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), CONFIG)
    assert engine.tick(T0 + 299, CONFIG) == []
    return engine.tick(T0 + 300, CONFIG)


def _pending_close() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), CONFIG)
    return engine.observe(obs(60, 4.0, 3), CONFIG)


def _pending_timeout() -> list[AlertChange]:
    config = AlertConfig(DomainRules(spike=SpikeParams(min_duration_s=600)))
    engine = AlertEngine.new()
    engine.observe(obs(0, score=0.96), config)
    engine.observe(obs(60, score=0.6), config)  # between the levels: stays pending
    return engine.tick(T0 + 60 + 1800, config)


def _firing_update() -> list[AlertChange]:
    engine = AlertEngine.new()
    firing_threshold(engine)
    return engine.observe(obs(400, 6.6, 5), CONFIG)


def _ack() -> list[AlertChange]:
    engine = AlertEngine.new()
    return [engine.acknowledge(firing_threshold(engine), "kim", "on it", T0 + 310)]


def _firing_close() -> list[AlertChange]:
    engine = AlertEngine.new()
    firing_threshold(engine)
    return engine.observe(obs(400, 4.5, 3), CONFIG)


def _firing_timeout() -> list[AlertChange]:
    engine = AlertEngine.new()
    spike_fired(engine)
    return engine.tick(T0 + 1800, CONFIG)


def _acked_update() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.acknowledge(firing_threshold(engine), "kim", "", T0 + 310)
    return engine.observe(obs(400, 5.0, 4, drivers=RAIN), CONFIG)  # same severity, no new peak


def _acked_update_reported() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.acknowledge(firing_threshold(engine), "kim", "", T0 + 310)
    return engine.observe(obs(400, 6.2, 4), CONFIG)


def _escalation() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.acknowledge(firing_threshold(engine), "kim", "", T0 + 310)
    return engine.observe(obs(400, 6.6, 5, drivers=RAIN), CONFIG)


def _acked_close() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.acknowledge(firing_threshold(engine), "kim", "", T0 + 310)
    return engine.observe(obs(400, 1.0, 1), CONFIG)


def _acked_timeout() -> list[AlertChange]:
    engine = AlertEngine.new()
    engine.acknowledge(spike_fired(engine), "lee", "checking", T0 + 10)
    return engine.tick(T0 + 1800, CONFIG)


def _superseded() -> list[AlertChange]:
    engine = AlertEngine.new()
    composite = engine.observe(obs(0, 5.5, 4, domain="composite"), CONFIG)
    assert kinds(composite) == [("opened", "hazard", "pending")]
    changes = engine.observe(obs(60, 5.5, 4), CONFIG)  # fire/D opens: it explains the composite
    assert [(c.what, c.alert.domain) for c in changes] == [
        ("opened", "fire"),
        ("withdrawn", "composite"),
    ]
    return changes


SCENARIOS: dict[tuple[AlertState | None, Trigger], tuple[Callable[[], list[AlertChange]], str]] = {
    (None, Trigger.OPEN_CONDITION): (_open, "opened"),
    (AlertState.PENDING, Trigger.UPDATE): (_pending_update, "updated"),
    (AlertState.PENDING, Trigger.HELD_MIN_DURATION): (_held_on_tick, "fired"),
    (AlertState.PENDING, Trigger.CLOSE_CONDITION): (_pending_close, "withdrawn"),
    (AlertState.PENDING, Trigger.RESOLVE_TIMEOUT): (_pending_timeout, "withdrawn"),
    (AlertState.PENDING, Trigger.SUPERSEDE): (_superseded, "withdrawn"),
    (AlertState.FIRING, Trigger.UPDATE): (_firing_update, "updated"),
    (AlertState.FIRING, Trigger.ACK): (_ack, "acknowledged"),
    (AlertState.FIRING, Trigger.CLOSE_CONDITION): (_firing_close, "resolved"),
    (AlertState.FIRING, Trigger.RESOLVE_TIMEOUT): (_firing_timeout, "resolved"),
    (AlertState.ACKNOWLEDGED, Trigger.UPDATE): (_acked_update_reported, "updated"),
    (AlertState.ACKNOWLEDGED, Trigger.ESCALATION): (_escalation, "refired"),
    (AlertState.ACKNOWLEDGED, Trigger.CLOSE_CONDITION): (_acked_close, "resolved"),
    (AlertState.ACKNOWLEDGED, Trigger.RESOLVE_TIMEOUT): (_acked_timeout, "resolved"),
}


def test_every_row_has_an_engine_scenario() -> None:
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("row", list(SCENARIOS), ids=str)
def test_the_engine_takes_each_row(row: tuple[AlertState | None, Trigger]) -> None:
    scenario, what = SCENARIOS[row]
    change = scenario()[-1] if row[0] is not None else scenario()[0]
    assert (change.what, change.alert.state) == (what, TRANSITIONS[row])


def test_an_acknowledged_alert_updates_silently() -> None:
    assert _acked_update() == []


# --- acknowledgement ------------------------------------------------------------------------------


def test_ack_records_who_note_time_and_severity() -> None:
    engine = AlertEngine.new()
    alert = engine.acknowledge(firing_threshold(engine), "kim", "crew on site", T0 + 320).alert
    assert (alert.acked_by, alert.acked_note, alert.acked_at) == ("kim", "crew on site", T0 + 320)
    assert alert.acked_severity is Severity.SEVERE
    assert engine.open_alerts() == [alert]


def test_ack_of_pending_twice_or_unknown_fails_and_changes_nothing() -> None:
    engine = AlertEngine.new()
    (opened,) = engine.observe(obs(0, 5.5, 4), CONFIG)
    before = engine.to_dict()
    with pytest.raises(InvalidTransition, match="ack is not allowed in state pending"):
        engine.acknowledge(opened.alert.id, "kim", "", T0 + 1)
    with pytest.raises(UnknownAlert):
        engine.acknowledge("nope", "kim", "", T0 + 1)
    assert engine.to_dict() == before
    engine.tick(T0 + 300, CONFIG)
    with pytest.raises(InvalidEvent, match="who"):
        engine.acknowledge(opened.alert.id, "", "", T0 + 301)
    engine.acknowledge(opened.alert.id, "kim", "", T0 + 301)
    with pytest.raises(InvalidTransition, match="state acknowledged"):
        engine.acknowledge(opened.alert.id, "lee", "", T0 + 302)


# --- dedupe and updates ---------------------------------------------------------------------------


def test_repeats_update_the_one_open_alert() -> None:
    engine = AlertEngine.new()
    alert_id = firing_threshold(engine)
    for i in range(20):
        engine.observe(obs(400 + i, (5.5, 5.6, 5.7)[i % 3], 4), CONFIG)
    (alert,) = [a for a in engine.open_alerts() if a.rule == "hazard"]
    assert alert.id == alert_id
    assert (alert.observations, alert.peak, alert.last_update) == (22, 5.7, T0 + 419)


def test_updates_only_when_it_matters() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)  # reported peak 5.6, Severe
    assert engine.observe(obs(400, 5.9, 4), CONFIG) == []  # +0.3: below update_step
    (up,) = engine.observe(obs(410, 6.1, 4), CONFIG)  # a new peak by >= 0.5
    assert (up.what, up.alert.peak, up.alert.reported_peak) == ("updated", 6.1, 6.1)
    assert engine.observe(obs(420, 6.0, 4), CONFIG) == []
    (down,) = engine.observe(obs(430, 4.9, 3), CONFIG)  # severity down, still above close
    assert (down.what, down.alert.severity) == ("updated", Severity.MODERATE)


def test_drivers_are_frozen_when_it_fires() -> None:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4, drivers=(("x", "fire", 1.0),)), CONFIG)
    (fired,) = engine.observe(obs(300, 5.6, 4, drivers=RAIN), CONFIG)
    engine.observe(obs(400, 5.7, 4, drivers=(("y", "fire", 3.0),)), CONFIG)
    assert fired.alert.drivers == RAIN
    assert engine.open_alerts()[0].drivers == RAIN
