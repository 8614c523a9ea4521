"""Hazard alerts (the spike and threshold rules together), the composite's suppression by domain
alerts, hysteresis, minimum duration, cooldown and re-fire."""

from __future__ import annotations

import pytest

from indices.alerts import (
    AlertConfig,
    AlertEngine,
    AlertState,
    DomainRules,
    Severity,
    SpikeParams,
    ThresholdParams,
)
from tests.unit.indices.alerts.support import (
    CONFIG,
    RAIN,
    T0,
    D,
    E,
    firing_threshold,
    kinds,
    obs,
    spike_fired,
)

# --- hazard alerts: the spike and threshold rules together ----------------------------------------


def test_spike_and_threshold_together_are_one_alert() -> None:
    engine = AlertEngine.new()
    changes = engine.observe(obs(0, 6.0, 4, score=0.96), CONFIG)  # both open at once
    assert kinds(changes) == [("opened", "hazard", "pending"), ("fired", "hazard", "firing")]
    assert changes[-1].alert.triggers == ("spike", "threshold")
    assert changes[-1].alert.holding == (("spike", T0), ("threshold", T0))
    assert [a.id for a in engine.open_alerts()] == [changes[0].alert.id]


def test_a_second_rule_opening_later_joins_the_open_alert() -> None:
    engine = AlertEngine.new()
    alert_id = spike_fired(engine)  # Moderate, by the spike alone
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
    (fired,) = engine.observe(obs(60, 5.5, 4, score=0.96, drivers=RAIN), CONFIG)
    alert = fired.alert
    assert kinds([fired]) == [("fired", "hazard", "firing")]
    assert (alert.id, alert.fired_at, alert.drivers) == (opened.alert.id, T0 + 60, RAIN)
    assert alert.triggers == ("threshold", "spike")


def test_an_alert_stays_open_while_either_rule_holds() -> None:
    engine = AlertEngine.new()
    alert_id = engine.observe(obs(0, 6.0, 4, score=0.96), CONFIG)[-1].alert.id
    steps = [
        (obs(100, 6.0, 4, score=0.3), (("threshold", T0),), ("threshold",)),  # spike closed
        (obs(200, 4.8, 3, score=0.3), (), ("threshold",)),  # threshold between its levels
        (obs(300, 3.0, 2, score=0.6), (), ("spike",)),  # spike between its levels
        (obs(400, 3.0, 2, score=0.96), (("spike", T0 + 400),), ("spike",)),  # spike again
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
    assert engine.observe(obs(400, 7.5, 5, score=0.96, domain="composite"), CONFIG) == []
    elsewhere = obs(400, 7.5, 5, score=0.96, domain="composite", district=E)
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
    spike_fired(engine)
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
