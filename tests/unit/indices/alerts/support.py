"""What the alert engine's tests share: districts, times, observations and a fired alert."""

from __future__ import annotations

from indices.alerts import (
    AlertChange,
    AlertConfig,
    AlertEngine,
    Observation,
)

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


def spike_fired(engine: AlertEngine) -> str:
    """Fire the hazard alert of D/fire by its spike rule alone (the threshold closed)."""
    changes = engine.observe(obs(0, 3.0, 3, score=0.95), CONFIG)
    assert kinds(changes) == [("opened", "hazard", "pending"), ("fired", "hazard", "firing")]
    assert (changes[-1].alert.triggers, changes[-1].alert.active) == (("spike",), ("spike",))
    return changes[-1].alert.id
