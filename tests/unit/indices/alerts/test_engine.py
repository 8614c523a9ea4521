"""The alert engine: every transition of the table, dedupe, hazard alerts (spike and threshold
together), composite suppression, hysteresis, minimum duration, cooldown, re-fire, staleness,
acknowledgement, auto-resolve, persistence, configuration."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indices.alerts import (
    ENGINE_FORMAT,
    KIND_RULES,
    TRANSITIONS,
    AlertChange,
    AlertConfig,
    AlertEngine,
    AlertState,
    DomainRules,
    InvalidTransition,
    Observation,
    Severity,
    SpikeParams,
    StaleParams,
    ThresholdParams,
    Trigger,
    UnknownAlert,
    alert_config_from_mapping,
    alert_config_to_mapping,
    transition,
)
from indices.errors import InvalidConfig, InvalidEvent, InvalidState

D, E = "4157056000", "4157057000"
T0 = 1_795_000_000.0
CONFIG = AlertConfig()  # threshold: open at grade 4, close at <= 4.5, fires after 300 s
RAIN = (("e-1", "rainfall_mm_1h", 6.9),)


def obs(
    t: float,
    value: float = 1.0,
    grade: int = 1,
    *,
    score: float = 0.0,
    spike: bool = False,
    domain: str = "fire",
    district: str = D,
    drivers: tuple[tuple[str, str, float], ...] = (),
    feeds: tuple[tuple[str, float], ...] = (),
) -> Observation:
    """An observation at T0 + t."""
    return Observation(district, domain, T0 + t, value, grade, 1.0, score, spike, drivers, feeds)


def kinds(changes: list[AlertChange]) -> list[tuple[str, str, str]]:
    return [(c.what, c.alert.rule, c.alert.state.value) for c in changes]


def firing_threshold(engine: AlertEngine) -> str:
    """Fire the hazard alert of D/fire by its threshold rule alone (grade 4 for 300 s); return
    its id."""
    engine.observe(obs(0, 5.5, 4), CONFIG)
    (change,) = engine.observe(obs(300, 5.6, 4), CONFIG)
    assert (change.what, change.alert.rule, change.alert.triggers) == (
        "fired",
        "hazard",
        ("threshold",),
    )
    return change.alert.id


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
    engine.observe(obs(0, score=0.9), config)
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


def _spike_fired(engine: AlertEngine) -> str:
    """Fire the hazard alert of D/fire by its spike rule alone (the threshold closed)."""
    changes = engine.observe(obs(0, 3.0, 3, score=0.95), CONFIG)
    assert kinds(changes) == [("opened", "hazard", "pending"), ("fired", "hazard", "firing")]
    assert (changes[-1].alert.triggers, changes[-1].alert.active) == (("spike",), ("spike",))
    return changes[-1].alert.id


def _firing_timeout() -> list[AlertChange]:
    engine = AlertEngine.new()
    _spike_fired(engine)
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
    engine.acknowledge(_spike_fired(engine), "lee", "checking", T0 + 10)
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


# --- hazard alerts: the spike and threshold rules together ----------------------------------------


def test_spike_and_threshold_together_are_one_alert() -> None:
    engine = AlertEngine.new()
    changes = engine.observe(obs(0, 6.0, 4, score=0.9), CONFIG)  # both open at once
    assert kinds(changes) == [("opened", "hazard", "pending"), ("fired", "hazard", "firing")]
    assert changes[-1].alert.triggers == ("spike", "threshold")
    assert changes[-1].alert.holding == (("spike", T0), ("threshold", T0))
    assert [a.id for a in engine.open_alerts()] == [changes[0].alert.id]


def test_a_second_rule_opening_later_joins_the_open_alert() -> None:
    engine = AlertEngine.new()
    alert_id = _spike_fired(engine)  # Moderate, by the spike alone
    (change,) = engine.observe(obs(60, 5.5, 4, score=0.95), CONFIG)  # the threshold opens too
    assert (change.what, change.alert.id) == ("updated", alert_id)  # severity; nothing opened
    assert change.alert.triggers == ("spike", "threshold")
    assert change.alert.holding == (("spike", T0), ("threshold", T0 + 60))
    assert [a.id for a in engine.open_alerts()] == [alert_id]
    engine.observe(obs(120, 5.5, 4, score=0.3), CONFIG)  # the spike closes: triggers remain
    assert engine.open_alerts()[0].triggers == ("spike", "threshold")


def test_a_pending_threshold_alert_fires_at_once_when_the_spike_opens() -> None:
    engine, control = AlertEngine.new(), AlertEngine.new()
    (opened,) = engine.observe(obs(0, 5.5, 4), CONFIG)
    control.observe(obs(0, 5.5, 4), CONFIG)
    assert (opened.alert.state, opened.alert.triggers) == (AlertState.PENDING, ("threshold",))
    assert control.observe(obs(60, 5.5, 4, score=0.3), CONFIG) == []  # the threshold waits 300 s
    (fired,) = engine.observe(obs(60, 5.5, 4, score=0.9, drivers=RAIN), CONFIG)
    alert = fired.alert
    assert kinds([fired]) == [("fired", "hazard", "firing")]
    assert (alert.id, alert.fired_at, alert.drivers) == (opened.alert.id, T0 + 60, RAIN)
    assert alert.triggers == ("threshold", "spike")


def test_an_alert_stays_open_while_either_rule_holds() -> None:
    engine = AlertEngine.new()
    alert_id = engine.observe(obs(0, 6.0, 4, score=0.9), CONFIG)[-1].alert.id
    steps = [
        (obs(100, 6.0, 4, score=0.3), (("threshold", T0),), ("threshold",)),  # spike closed
        (obs(200, 4.8, 3, score=0.3), (), ("threshold",)),  # threshold between its levels
        (obs(300, 3.0, 2, score=0.6), (), ("spike",)),  # spike between its levels
        (obs(400, 3.0, 2, score=0.9), (("spike", T0 + 400),), ("spike",)),  # spike again
    ]
    for observation, holding, active in steps:
        assert all(c.what == "updated" for c in engine.observe(observation, CONFIG))
        (alert,) = engine.open_alerts()
        assert (alert.id, alert.state, alert.holding, alert.active) == (
            alert_id,
            AlertState.FIRING,
            holding,
            active,
        )
    (closed,) = engine.observe(obs(500, 3.0, 2, score=0.3), CONFIG)  # both closed
    assert (closed.what, closed.alert.id, closed.alert.resolution) == (
        "resolved",
        alert_id,
        "cleared",
    )
    assert engine.open_alerts() == []


@pytest.mark.parametrize(("value", "grade"), [(6.0, 4), (4.8, 3)])  # threshold open, between
def test_a_spike_alone_times_out_but_not_while_the_threshold_is_active(
    value: float, grade: int
) -> None:
    engine = AlertEngine.new()
    (_, fired) = engine.observe(obs(0, value, grade, score=0.95), CONFIG)
    assert fired.alert.active == ("spike", "threshold")
    assert engine.tick(T0 + 86_400, CONFIG) == []
    engine.observe(obs(86_400, 3.0, 2, score=0.7), CONFIG)  # threshold closed, spike holds
    assert engine.tick(T0 + 86_400 + 1799, CONFIG) == []
    (timeout,) = engine.tick(T0 + 86_400 + 1800, CONFIG)
    assert (timeout.what, timeout.alert.id, timeout.alert.resolution) == (
        "resolved",
        fired.alert.id,
        "timeout",
    )


def test_the_timeout_of_both_rules_is_the_larger() -> None:
    config = AlertConfig(DomainRules(threshold=ThresholdParams(resolve_timeout_s=3600)))
    engine = AlertEngine.new()
    engine.observe(obs(0, 6.0, 4, score=0.95), config)
    assert engine.tick(T0 + 3599, config) == []  # past the spike's 1800 s
    assert [(c.what, c.alert.resolution) for c in engine.tick(T0 + 3600, config)] == [
        ("resolved", "timeout")
    ]


@pytest.mark.parametrize(
    ("spike", "threshold", "spiked", "cooldown"),
    [
        (SpikeParams(cooldown_s=100), ThresholdParams(cooldown_s=1000), False, 1000),
        (SpikeParams(cooldown_s=1000), ThresholdParams(cooldown_s=100), False, 100),
        (SpikeParams(cooldown_s=1000), ThresholdParams(cooldown_s=100), True, 1000),
        (SpikeParams(cooldown_s=100), ThresholdParams(cooldown_s=1000), True, 1000),
    ],
)
def test_the_cooldown_is_the_largest_of_the_rules_that_triggered_it(
    spike: SpikeParams, threshold: ThresholdParams, spiked: bool, cooldown: float
) -> None:
    config = AlertConfig(DomainRules(spike, threshold))
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), config)
    (fired,) = engine.observe(obs(300, 5.5, 4, score=0.95 if spiked else 0.0), config)
    assert fired.alert.triggers == (("threshold", "spike") if spiked else ("threshold",))
    (resolved,) = engine.observe(obs(400, 3.0, 2), config)
    assert resolved.what == "resolved"
    assert engine.observe(obs(400 + cooldown - 1, 5.5, 4), config) == []
    assert kinds(engine.observe(obs(400 + cooldown, 5.5, 4), config)) == [
        ("opened", "hazard", "pending")
    ]


def test_the_update_step_is_the_smallest_of_the_rules_that_triggered_it() -> None:
    config = AlertConfig(
        DomainRules(SpikeParams(update_step=0.5), ThresholdParams(update_step=1.0))
    )
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), config)
    engine.observe(obs(300, 5.5, 4), config)  # fired by the threshold alone; peak 5.5
    assert engine.observe(obs(310, 6.4, 4), config) == []  # the spike's 0.5 is not its own
    assert [c.what for c in engine.observe(obs(320, 6.5, 4), config)] == ["updated"]
    quiet = AlertConfig(
        DomainRules(SpikeParams(update_step=0.5), ThresholdParams(update_step=None))
    )
    assert engine.observe(obs(330, 9.0, 4), quiet) == []  # its rule reports severity changes only
    assert [c.what for c in engine.observe(obs(340, 9.5, 4, score=0.95), quiet)] == ["updated"]


# --- the composite: a district high across domains, none alerting alone --------------------------


def _fire_alert_in(engine: AlertEngine, state: AlertState) -> None:
    """Open D/fire's hazard alert (by the threshold) and take it to ``state``."""
    engine.observe(obs(0, 5.5, 4), CONFIG)
    if state is not AlertState.PENDING:
        engine.tick(T0 + 300, CONFIG)
    if state is AlertState.ACKNOWLEDGED:
        engine.acknowledge(engine.open_alerts()[0].id, "kim", "", T0 + 310)
    assert [(a.domain, a.state) for a in engine.open_alerts()] == [("fire", state)]


@pytest.mark.parametrize("state", [AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED])
def test_a_domain_alert_suppresses_its_districts_composite(state: AlertState) -> None:
    engine = AlertEngine.new()
    _fire_alert_in(engine, state)
    assert engine.observe(obs(400, 7.5, 5, score=0.9, domain="composite"), CONFIG) == []
    elsewhere = obs(400, 7.5, 5, score=0.9, domain="composite", district=E)
    assert [(c.what, c.alert.district) for c in engine.observe(elsewhere, CONFIG)] == [
        ("opened", E),
        ("fired", E),
    ]
    assert [a.key for a in engine.open_alerts()] == [
        (D, "fire", "hazard"),
        (E, "composite", "hazard"),
    ]


def test_a_stale_alert_does_not_suppress_the_composite() -> None:
    engine = AlertEngine.new()
    flood = obs(0, domain="flood_weather", feeds=(("wind_ms", 4000.0),))
    assert kinds(engine.observe(flood, CONFIG)) == [
        ("opened", "stale", "pending"),
        ("fired", "stale", "firing"),
    ]
    assert kinds(engine.observe(obs(10, 7.5, 5, domain="composite"), CONFIG)) == [
        ("opened", "hazard", "pending")
    ]


def test_a_domain_alert_supersedes_a_pending_composite_alert() -> None:
    engine = AlertEngine.new()
    (pending,) = engine.observe(obs(0, 5.5, 4, domain="composite"), CONFIG)
    (other,) = engine.observe(obs(0, 5.5, 4, domain="composite", district=E), CONFIG)
    changes = engine.observe(obs(60, 5.5, 4), CONFIG)
    assert [(c.what, c.alert.domain) for c in changes] == [
        ("opened", "fire"),
        ("withdrawn", "composite"),
    ]
    withdrawn = changes[1].alert
    assert (withdrawn.id, withdrawn.state, withdrawn.resolution, withdrawn.resolved_at) == (
        pending.alert.id,
        AlertState.RESOLVED,
        "superseded",
        T0 + 60,
    )
    # The other district's composite alert is not explained by D's fire.
    assert sorted(a.id for a in engine.open_alerts()) == sorted(
        (changes[0].alert.id, other.alert.id)
    )


def test_a_firing_composite_alert_stays_when_a_domain_alert_opens() -> None:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4, domain="composite"), CONFIG)
    (fired,) = engine.tick(T0 + 300, CONFIG)
    assert (fired.what, fired.alert.domain) == ("fired", "composite")
    assert kinds(engine.observe(obs(360, 5.5, 4), CONFIG)) == [("opened", "hazard", "pending")]
    assert [(a.domain, a.state) for a in engine.open_alerts()] == [
        ("composite", AlertState.FIRING),
        ("fire", AlertState.PENDING),
    ]


def test_the_composite_opens_again_once_the_domain_alert_resolves() -> None:
    engine = AlertEngine.new()
    (first,) = engine.observe(obs(0, 5.5, 4, domain="composite"), CONFIG)
    engine.observe(obs(60, 5.5, 4), CONFIG)  # supersedes it
    engine.tick(T0 + 360, CONFIG)  # fire fires
    assert engine.observe(obs(370, 5.5, 4, domain="composite"), CONFIG) == []
    (resolved,) = engine.observe(obs(400, 3.0, 2), CONFIG)
    assert (resolved.what, resolved.alert.domain) == ("resolved", "fire")
    # A superseded alert leaves no cooldown: the composite opens at once, as a new alert.
    (again,) = engine.observe(obs(410, 5.5, 4, domain="composite"), CONFIG)
    assert (again.what, again.alert.key) == ("opened", (D, "composite", "hazard"))
    assert again.alert.id != first.alert.id


# --- hysteresis, minimum duration, cooldown, re-fire ----------------------------------------------


def test_values_between_the_levels_never_flap() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)
    changes = [
        engine.observe(obs(400 + i, 4.6 if i % 2 else 5.1, 3 if i % 2 else 4), CONFIG)
        for i in range(30)
    ]
    assert all(c.what == "updated" for step in changes for c in step)  # severity only
    assert [a.state for a in engine.open_alerts()] == [AlertState.FIRING]


def test_a_value_between_the_levels_opens_nothing() -> None:
    config = AlertConfig(DomainRules(threshold=ThresholdParams(open_level=6.0, open_grade=None)))
    engine = AlertEngine.new()
    assert [engine.observe(obs(i, 5.0 + (i % 2) * 0.9, 3), config) for i in range(10)] == [[]] * 10


def test_spike_hysteresis() -> None:
    engine = AlertEngine.new()
    _spike_fired(engine)
    for i, score in enumerate((0.5, 0.7, 0.45, 0.79)):
        assert engine.observe(obs(10 + i, 3.0, 3, score=score), CONFIG) == []
    (closed,) = engine.observe(obs(20, 3.0, 3, score=0.4), CONFIG)
    assert (closed.what, closed.alert.resolution) == ("resolved", "cleared")


def test_short_blips_stay_pending_then_vanish() -> None:
    engine = AlertEngine.new()
    for start in (0, 1000, 2000):
        assert kinds(engine.observe(obs(start, 5.5, 4), CONFIG)) == [
            ("opened", "hazard", "pending")
        ]
        assert kinds(engine.observe(obs(start + 200, 3.0, 2), CONFIG)) == [
            ("withdrawn", "hazard", "resolved")
        ]  # and no cooldown: the next blip opens again
    assert engine.tick(T0 + 5000, CONFIG) == []


def test_min_duration_restarts_after_a_break() -> None:
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), CONFIG)
    engine.observe(obs(100, 4.8, 3), CONFIG)  # between the levels: pending, clock stops
    engine.observe(obs(200, 5.5, 4), CONFIG)  # holds again from 200
    assert engine.observe(obs(350, 5.5, 4), CONFIG) == []
    assert engine.tick(T0 + 499, CONFIG) == []
    assert kinds(engine.tick(T0 + 500, CONFIG)) == [("fired", "hazard", "firing")]


def test_cooldown_holds_back_a_new_alert() -> None:
    engine = AlertEngine.new()
    first = firing_threshold(engine)
    engine.observe(obs(400, 4.0, 3), CONFIG)  # resolved at 400; cooldown 1800 s
    assert engine.observe(obs(500, 6.0, 4), CONFIG) == []
    assert engine.observe(obs(2199, 6.0, 4), CONFIG) == []
    (opened,) = engine.observe(obs(2200, 6.0, 4), CONFIG)
    assert (opened.what, opened.alert.id == first) == ("opened", False)


def test_escalation_refires_an_acknowledged_alert_once() -> None:
    engine = AlertEngine.new()
    alert_id = firing_threshold(engine)
    engine.acknowledge(alert_id, "kim", "", T0 + 310)
    (refired,) = engine.observe(obs(400, 6.6, 5, drivers=RAIN), CONFIG)
    alert = refired.alert
    assert (refired.what, alert.state, alert.refired_at, alert.drivers) == (
        "refired",
        AlertState.FIRING,
        T0 + 400,
        RAIN,
    )
    assert alert.acked_by == "kim"  # the earlier acknowledgement stays on record
    acked = engine.acknowledge(alert_id, "lee", "", T0 + 410).alert
    assert acked.acked_severity is Severity.EXTREME
    assert engine.observe(obs(420, 7.0, 5), CONFIG) == []


@pytest.mark.parametrize(
    ("spike", "spiked", "what", "state"),
    [
        (SpikeParams(), False, "updated", "acknowledged"),  # raised by the threshold alone
        (SpikeParams(refire_on_escalation=False), True, "updated", "acknowledged"),
        (SpikeParams(), True, "refired", "firing"),  # the spike raised it too, and re-fires
    ],
)
def test_escalation_refires_only_if_a_rule_that_triggered_it_says_so(
    spike: SpikeParams, spiked: bool, what: str, state: str
) -> None:
    config = AlertConfig(DomainRules(spike, ThresholdParams(refire_on_escalation=False)))
    engine = AlertEngine.new()
    engine.observe(obs(0, 5.5, 4), config)
    engine.observe(obs(300, 5.5, 4, score=0.95 if spiked else 0.0), config)
    engine.acknowledge(engine.open_alerts()[0].id, "kim", "", T0 + 310)
    assert kinds(engine.observe(obs(400, 6.6, 5), config)) == [(what, "hazard", state)]


# --- staleness and timeouts -----------------------------------------------------------------------


def test_a_silent_feed_opens_on_tick_and_closes_when_it_speaks() -> None:
    engine = AlertEngine.new()
    feeds = (("rainfall_mm_1h", 600.0), ("river_level_m", 60.0))
    engine.observe(obs(0, domain="flood_weather", feeds=feeds), CONFIG)
    assert engine.tick(T0 + 2999, CONFIG) == []
    changes = engine.tick(T0 + 3000, CONFIG)  # rainfall last heard at -600
    assert kinds(changes) == [("opened", "stale", "pending"), ("fired", "stale", "firing")]
    alert = changes[-1].alert
    assert (alert.value, alert.severity, alert.drivers) == (
        3600.0,
        Severity.MINOR,
        (("rainfall_mm_1h", "stale_feed", 3600.0),),
    )
    assert engine.tick(T0 + 4000, CONFIG) == []  # older still: nothing to report
    assert engine.open_alerts()[0].value == 4600.0
    fresh = (("rainfall_mm_1h", 5.0), ("river_level_m", 30.0))
    (closed,) = engine.observe(obs(4100, domain="flood_weather", feeds=fresh), CONFIG)
    assert (closed.what, closed.alert.rule, closed.alert.resolved_at) == (
        "resolved",
        "stale",
        T0 + 4100,
    )


def test_a_tick_never_closes_a_stale_alert() -> None:
    engine = AlertEngine.new()
    engine.observe(obs(0, domain="traffic", feeds=(("wind_ms", 4000.0),)), CONFIG)
    assert engine.tick(T0 - 3600, CONFIG) == []  # a clock behind the observation's
    assert [a.rule for a in engine.open_alerts()] == ["stale"]


def test_staleness_per_domain_and_off() -> None:
    config = alert_config_from_mapping(
        {"domains": {"air_quality": {"stale": {"enabled": False}}}, "stale": {"silent_s": 60}}
    )
    engine = AlertEngine.new()
    engine.observe(obs(0, domain="air_quality", feeds=(("pm10_ugm3", 100.0),)), config)
    flood = obs(0, domain="flood_weather", feeds=(("wind_ms", 70.0),))
    assert kinds(engine.observe(flood, config)) == [
        ("opened", "stale", "pending"),
        ("fired", "stale", "firing"),
    ]
    assert engine.tick(T0 + 10_000, config) == []


def test_a_quiet_spike_resolves_by_timeout_but_a_level_does_not() -> None:
    engine = AlertEngine.new()
    _spike_fired(engine)
    engine.observe(obs(1000, 3.0, 3, score=0.7), CONFIG)  # keeps it open, resets the timeout
    assert engine.tick(T0 + 2799, CONFIG) == []
    (timeout,) = engine.tick(T0 + 2800, CONFIG)
    assert (timeout.what, timeout.alert.resolution) == ("resolved", "timeout")
    other = AlertEngine.new()
    firing_threshold(other)
    assert other.tick(T0 + 86_400, CONFIG) == []


def test_disabling_a_rule_closes_its_alert() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)
    off = AlertConfig(DomainRules(threshold=ThresholdParams(enabled=False)))
    assert kinds(engine.observe(obs(400, 9.0, 5), off)) == [("resolved", "hazard", "resolved")]


def test_disabling_one_rule_keeps_an_alert_the_other_holds() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)
    off = AlertConfig(DomainRules(threshold=ThresholdParams(enabled=False)))
    (change,) = engine.observe(obs(400, 9.0, 5, score=0.9), off)  # the spike holds it open
    assert (change.what, change.alert.state, change.alert.active) == (
        "updated",
        AlertState.FIRING,
        ("spike",),
    )
    assert kinds(engine.observe(obs(500, 9.0, 5, score=0.3), off)) == [
        ("resolved", "hazard", "resolved")
    ]


def test_older_observations_are_ignored() -> None:
    engine = AlertEngine.new()
    engine.observe(obs(100, 5.5, 4), CONFIG)
    before = engine.to_dict()
    assert engine.observe(obs(50, 1.0, 1), CONFIG) == []
    assert engine.to_dict() == before


def test_ids_are_deterministic_and_never_reused() -> None:
    engine = AlertEngine.new()
    (first,) = engine.observe(obs(0, 5.5, 4), CONFIG)
    engine.observe(obs(0, 1.0, 1), CONFIG)  # withdrawn at the same instant
    (again,) = engine.observe(obs(0, 5.5, 4), CONFIG)
    assert first.alert.id == f"{D}:fire:hazard:{round(T0 * 1e6)}"
    assert again.alert.id == f"{D}:fire:hazard:{round(T0 * 1e6) + 1}"


# --- persistence ----------------------------------------------------------------------------------


def test_json_round_trip_mid_lifecycle_continues_identically() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)
    engine.acknowledge(engine.open_alerts()[0].id, "kim", "note ✓", T0 + 310)
    engine.observe(obs(320, domain="flood_weather", feeds=(("wind_ms", 3500.0),)), CONFIG)
    engine.observe(obs(330, 2.0, 2, score=0.9, spike=True, domain="crime"), CONFIG)
    restored = AlertEngine.from_dict(json.loads(json.dumps(engine.to_dict(), allow_nan=False)))
    assert restored == engine
    assert [a.to_dict() for a in restored.open_alerts()] == [
        a.to_dict() for a in engine.open_alerts()
    ]
    for twin in (engine, restored):  # the wind feed was last heard at 320 - 3500
        assert kinds(twin.tick(T0 + 420, CONFIG)) == [
            ("opened", "stale", "pending"),
            ("fired", "stale", "firing"),
        ]
    assert restored == engine


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"format": 99},
        {"format": 1, "alerts": [{"id": "x"}], "tracks": [], "keys": []},
        {"format": 1},
        {"format": ENGINE_FORMAT, "alerts": [{"id": "x"}], "tracks": [], "keys": []},
        {"format": ENGINE_FORMAT},
    ],
)
def test_from_dict_refuses_other_data(data: dict[str, object]) -> None:
    with pytest.raises(InvalidState):
        AlertEngine.from_dict(data)


def test_from_dict_refuses_an_alert_of_the_old_layout() -> None:
    engine = AlertEngine.new()
    firing_threshold(engine)
    data = engine.to_dict()
    assert AlertEngine.from_dict(data) == engine
    (alert,) = data["alerts"]
    for name in ("holding", "active", "triggers"):
        del alert[name]
    alert["held_since"] = T0
    with pytest.raises(InvalidState):
        AlertEngine.from_dict(data)


# --- observations and configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"domain": "fyre"},
        {"t": float("nan")},
        {"grade": 6},
        {"spike_score": 1.5},
        {"baseline": float("inf")},
    ],
)
def test_bad_observations_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent):
        dataclasses.replace(obs(0), **changes)


def test_severity_follows_the_grade() -> None:
    engine = AlertEngine.new()
    severities = [
        engine.observe(obs(i, 3.0, grade, score=0.9, district=f"d{i}"), CONFIG)[0].alert.severity
        for i, grade in enumerate((1, 2, 3, 4, 5))
    ]
    assert [s.value for s in severities] == ["Minor", "Minor", "Moderate", "Severe", "Extreme"]


def test_config_defaults_overrides_and_round_trip() -> None:
    assert alert_config_from_mapping({}) == AlertConfig()
    config = alert_config_from_mapping(
        {
            "spike": {"open_score": 0.9, "resolve_timeout_s": "none"},
            "domains": {"composite": {"threshold": {"open_grade": 5, "close_level": 5.5}}},
        }
    )
    assert config.rules("fire").spike == SpikeParams(open_score=0.9, resolve_timeout_s=None)
    assert config.rules("composite").spike.open_score == 0.9  # merged over the changed defaults
    assert config.rules("composite").threshold.open_grade == 5
    assert config.rules("fire").threshold == ThresholdParams()
    assert alert_config_from_mapping(alert_config_to_mapping(config)) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "alerts: expected a table, got list []"),
        ({"spikes": {}}, "alerts.spikes: unknown key; known: spike, threshold, stale, domains"),
        ({"spike": {"open": 1}}, "alerts.spike.open: unknown key; known: enabled, min_duration_s"),
        ({"spike": {"open_score": "high"}}, "alerts.spike.open_score: expected a finite number"),
        ({"spike": {"close_score": 0.9}}, "alerts.spike.close_score: must satisfy 0 <= close"),
        ({"spike": {"enabled": 1}}, "alerts.spike.enabled: expected true or false, got int 1"),
        ({"spike": {"cooldown_s": -5}}, "alerts.spike.cooldown_s: expected a finite number >= 0"),
        (
            {"threshold": {"open_grade": 4.5}},
            'alerts.threshold.open_grade: expected an integer or "none"',
        ),
        ({"threshold": {"open_grade": 7}}, "alerts.threshold.open_grade: expected a grade 1-5"),
        ({"threshold": {"open_grade": "none"}}, "alerts.threshold.open_level: give open_level"),
        (
            {"threshold": {"open_level": 6, "close_level": 7}},
            "alerts.threshold.close_level: must be below open_level (6.0), got 7.0",
        ),
        ({"stale": {"silent_s": 0}}, "alerts.stale.silent_s: expected a number > 0"),
        ({"stale": {"resolve_timeout_s": 60}}, 'alerts.stale.resolve_timeout_s: must be "none"'),
        ({"domains": {"fyre": {}}}, "alerts.domains.fyre: unknown domain 'fyre'; known: fire,"),
        ({"domains": {"fire": {"spyke": {}}}}, "alerts.domains.fire.spyke: unknown rule; known:"),
        (
            {"domains": {"fire": {"stale": {"silent_s": True}}}},
            "alerts.domains.fire.stale.silent_s: expected a finite number, got bool True",
        ),
        ({"domains": {"fire": 3}}, "alerts.domains.fire: expected a table, got int 3"),
    ],
)
def test_config_errors_name_the_key(data: object, message: str) -> None:
    with pytest.raises(InvalidConfig) as error:
        alert_config_from_mapping(data)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)


def test_params_check_their_ranges_directly() -> None:
    with pytest.raises(InvalidConfig, match="min_duration_s"):
        StaleParams(min_duration_s=float("nan"))


# --- properties -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One random input: an observation, a tick or an acknowledgement (of the n-th firing)."""

    kind: str
    gap: float
    district: str = D
    domain: str = "fire"
    value: float = 0.0
    grade: int = 1
    score: float = 0.0
    spike: bool = False
    age: float = 0.0
    pick: int = 0


STEPS = st.one_of(
    st.builds(
        Step,
        kind=st.just("observe"),
        gap=st.floats(0, 400),
        district=st.sampled_from((D, E)),
        domain=st.sampled_from(("fire", "composite", "flood_weather")),
        value=st.floats(0, 10),
        grade=st.integers(1, 5),
        score=st.floats(0, 1),
        spike=st.booleans(),
        age=st.floats(0, 5000),
    ),
    st.builds(
        Step, kind=st.sampled_from(("tick", "ack")), gap=st.floats(0, 400), pick=st.integers(0, 9)
    ),
)
QUICK = AlertConfig(
    DomainRules(
        spike=SpikeParams(min_duration_s=60, cooldown_s=300, resolve_timeout_s=600),
        threshold=ThresholdParams(min_duration_s=120, cooldown_s=300, resolve_timeout_s=900),
        stale=StaleParams(silent_s=1200),
    )
)


def _run(engine: AlertEngine, step: Step, t: float) -> list[AlertChange]:
    if step.kind == "tick":
        return engine.tick(t, QUICK)
    if step.kind == "ack":
        firing = [a for a in engine.open_alerts() if a.state is AlertState.FIRING]
        return (
            [engine.acknowledge(firing[step.pick % len(firing)].id, "op", "", t)] if firing else []
        )
    feeds = (("wind_ms", step.age),) if step.domain == "flood_weather" else ()
    observation = Observation(
        step.district,
        step.domain,
        t,
        step.value,
        step.grade,
        None,
        step.score,
        step.spike,
        (),
        feeds,
    )
    return engine.observe(observation, QUICK)


def _check_hazard_invariants(engine: AlertEngine) -> None:
    """Triggers name the kind's rules once each and include every holding rule; a pending
    composite alert never shares its district with a domain's hazard alert."""
    alerts = engine.open_alerts()
    for alert in alerts:
        holding = [rule for rule, _ in alert.holding]
        assert alert.triggers
        assert len(set(alert.triggers)) == len(alert.triggers)
        assert set(holding) <= set(alert.triggers) <= set(KIND_RULES[alert.rule])
        assert set(holding) <= set(alert.active)
    domains = {a.district for a in alerts if a.rule == "hazard" and a.domain != "composite"}
    for alert in alerts:
        if alert.domain == "composite" and alert.state is AlertState.PENDING:
            assert alert.district not in domains


@settings(max_examples=150, deadline=None)
@given(st.lists(STEPS, max_size=60))
def test_random_sequences_keep_one_alert_per_key_and_round_trip(steps: list[Step]) -> None:
    engine, twin = AlertEngine.new(), AlertEngine.new()
    open_ids: dict[tuple[str, str, str], str] = {}
    seen: set[str] = set()
    t = T0
    for step in steps:
        t += step.gap
        changes = _run(engine, step, t)
        assert changes == _run(twin, step, t)  # the restored twin behaves the same
        for previous, change in zip([None, *changes], changes, strict=False):
            alert = change.alert
            if alert.resolution == "superseded":  # right after a domain's alert of its district
                assert (change.what, alert.domain, alert.rule) == (
                    "withdrawn",
                    "composite",
                    "hazard",
                )
                assert previous is not None
                assert previous.what == "opened"
                assert previous.alert.domain != "composite"
                assert (previous.alert.district, previous.alert.rule) == (alert.district, "hazard")
            if change.what == "opened":
                assert alert.key not in open_ids  # never a second open alert for a key
                assert alert.id not in seen  # and never a reused id
                if alert.key[1:] == ("composite", "hazard"):  # not while a domain explains it
                    assert not [k for k in open_ids if k[0] == alert.district and k[2] == "hazard"]
                open_ids[alert.key] = alert.id
                seen.add(alert.id)
            else:
                assert open_ids[alert.key] == alert.id
            if alert.state is AlertState.RESOLVED:
                del open_ids[alert.key]
        assert {a.key: a.id for a in engine.open_alerts()} == open_ids
        _check_hazard_invariants(engine)
        twin = AlertEngine.from_dict(json.loads(json.dumps(engine.to_dict(), allow_nan=False)))
        assert twin == engine
