"""The alert engine: staleness and timeouts, persistence, observations and configuration, and
random sequences that keep its invariants."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indices.alerts import (
    ENGINE_FORMAT,
    KIND_RULES,
    AlertChange,
    AlertConfig,
    AlertEngine,
    AlertState,
    DomainRules,
    Observation,
    Severity,
    SpikeParams,
    StaleParams,
    ThresholdParams,
    alert_config_from_mapping,
    alert_config_to_mapping,
)
from indices.errors import InvalidConfig, InvalidEvent, InvalidState
from tests.unit.indices.alerts.support import (
    CONFIG,
    T0,
    D,
    E,
    firing_threshold,
    kinds,
    obs,
    spike_fired,
)

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
    spike_fired(engine)
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
    (change,) = engine.observe(obs(400, 9.0, 5, score=0.96), off)  # the spike holds it open
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
    engine.observe(obs(330, 2.0, 2, score=0.96, spike=True, domain="crime"), CONFIG)
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
        engine.observe(obs(i, 3.0, grade, score=0.96, district=f"d{i}"), CONFIG)[0].alert.severity
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
        ({"spike": {"close_score": 0.96}}, "alerts.spike.close_score: must satisfy 0 <= close"),
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
    explaining = Counter(
        a.district for a in alerts if a.rule == "hazard" and a.domain != "composite"
    )
    domains = set(explaining)
    assert engine._explaining == explaining  # the engine's index of them, kept as keys change
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
