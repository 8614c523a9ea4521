"""Alert lifecycle: at most one open alert per (district, domain, rule), moved by one table.

Feed every score update to :meth:`AlertEngine.observe` as one :class:`Observation` per domain
(and one for ``"composite"``), call :meth:`AlertEngine.tick` on the worker's timer, pass an
operator's acknowledgement to :meth:`AlertEngine.acknowledge`, and publish the
:class:`AlertChange` values they return. Every state change goes through :data:`TRANSITIONS`;
anything else raises :class:`InvalidTransition`. Persist the engine with
:meth:`AlertEngine.to_dict` and restore it with :meth:`AlertEngine.from_dict`. Rules and their
parameters: :mod:`indices.alert_rules`; the lifecycle in prose: docs/alerting.md.

>>> engine, config = AlertEngine.new(), AlertConfig()
>>> obs = Observation("4157056000", "fire", t=0.0, value=5.5, grade=4)
>>> [(c.what, c.alert.state.value) for c in engine.observe(obs, config)]
[('opened', 'pending')]
>>> [(c.what, c.alert.id) for c in engine.tick(300.0, config)]  # held 5 min (min_duration_s)
[('fired', '4157056000:fire:threshold:0')]
>>> engine.acknowledge("4157056000:fire:threshold:0", "kim", "crew on site", t=320.0).what
'acknowledged'
>>> later = Observation("4157056000", "fire", t=900.0, value=4.2, grade=3)
>>> [(c.what, c.alert.resolution) for c in engine.observe(later, config)]
[('resolved', 'cleared')]
>>> AlertEngine.from_dict(engine.to_dict()) == engine
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from indices.alert_lifecycle import (
    TRANSITIONS,
    AlertChange,
    AlertSnapshot,
    AlertState,
    ChangeKind,
    Driver,
    InvalidTransition,
    Key,
    Observation,
    Trigger,
    UnknownAlert,
    change_kind,
    transition,
)
from indices.alert_rules import (
    AlertConfig,
    Condition,
    DomainRules,
    RuleParams,
    Severity,
    SpikeParams,
    StaleParams,
    ThresholdParams,
    alert_config_from_mapping,
    alert_config_to_mapping,
    severity_of_grade,
    spike_condition,
    stale_condition,
    threshold_condition,
)
from indices.errors import InvalidEvent, InvalidState

__all__ = [  # the lifecycle, the engine, and (re-exported) the rules: import from here
    "ENGINE_FORMAT",
    "TRANSITIONS",
    "AlertChange",
    "AlertConfig",
    "AlertEngine",
    "AlertSnapshot",
    "AlertState",
    "ChangeKind",
    "DomainRules",
    "InvalidTransition",
    "Observation",
    "RuleParams",
    "Severity",
    "SpikeParams",
    "StaleParams",
    "ThresholdParams",
    "Trigger",
    "UnknownAlert",
    "alert_config_from_mapping",
    "alert_config_to_mapping",
    "change_kind",
    "transition",
]

ENGINE_FORMAT: Final = 1  # version of AlertEngine.to_dict's layout


@dataclass(frozen=True)
class _Reading:
    """What one rule makes of an observation (or of the clock, for stale feeds)."""

    condition: Condition
    value: float
    baseline: float | None
    severity: Severity
    drivers: tuple[Driver, ...]
    observed: bool  # an observation (counts), not a tick


class AlertEngine:
    """Open alerts, plus per (district, domain) the newest observation time and feed times, plus
    per key the last opening time (for unique ids) and the end of its cooldown. Mutated only by
    :meth:`observe`, :meth:`acknowledge` and :meth:`tick`, which return what changed.

    Give observations of one (district, domain) in time order: an older one than the last is
    ignored. Pass the same :class:`AlertConfig` to every call (a changed config applies from the
    next call on)."""

    __slots__ = ("_keys", "_open", "_tracks")

    def __init__(self) -> None:
        """An empty engine; prefer :meth:`new` or :meth:`from_dict`."""
        self._open: dict[Key, AlertSnapshot] = {}
        self._tracks: dict[tuple[str, str], tuple[float, tuple[tuple[str, float], ...]]] = {}
        # key -> (last opened_at in µs, end of cooldown or None)
        self._keys: dict[Key, tuple[int, float | None]] = {}

    @classmethod
    def new(cls) -> AlertEngine:
        """An engine with no alerts."""
        return cls()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AlertEngine):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<AlertEngine open={len(self._open)} tracks={len(self._tracks)}>"

    def open_alerts(self) -> list[AlertSnapshot]:
        """Every open (pending, firing, acknowledged) alert, by id."""
        return sorted(self._open.values(), key=lambda alert: alert.id)

    # --- inputs ----------------------------------------------------------------------------------

    def observe(self, obs: Observation, config: AlertConfig) -> list[AlertChange]:
        """Run every rule of ``obs.domain`` on ``obs`` and return the changes, in rule order."""
        track = (obs.district, obs.domain)
        if track in self._tracks and obs.t < self._tracks[track][0]:
            return []
        feeds = tuple(sorted((kind, obs.t - age) for kind, age in obs.feed_ages))
        self._tracks[track] = (obs.t, feeds)
        rules = config.rules(obs.domain)
        spike = spike_condition(rules.spike, obs.spike_score, obs.spike)
        level = threshold_condition(rules.threshold, obs.value, obs.grade)
        steps: tuple[tuple[str, RuleParams, _Reading], ...] = (
            ("spike", rules.spike, _read(spike, obs)),
            ("threshold", rules.threshold, _read(level, obs)),
            ("stale", rules.stale, _stale(rules.stale, feeds, obs.t, observed=True)),
        )
        changes: list[AlertChange] = []
        for rule, params, reading in steps:
            changes += self._step((obs.district, obs.domain, rule), params, reading, obs.t)
        return changes

    def acknowledge(self, alert_id: str, who: str, note: str, t: float) -> AlertChange:
        """Record that ``who`` took alert ``alert_id`` at ``t``, with a ``note`` (may be empty).

        Raises :class:`UnknownAlert` if no open alert has that id and :class:`InvalidTransition`
        if it is pending or already acknowledged: tell the operator, the alert is unchanged.
        """
        alert = next((a for a in self._open.values() if a.id == alert_id), None)
        if alert is None:
            raise UnknownAlert(f"no open alert {alert_id!r}")
        if not who:
            raise InvalidEvent("who: an acknowledgement needs the operator's name")
        acked = _reported(
            alert,
            state=transition(alert.state, Trigger.ACK),
            acked_at=t,
            acked_by=who,
            acked_note=note,
            acked_severity=alert.severity,
        )
        self._open[alert.key] = acked
        return AlertChange("acknowledged", acked)

    def tick(self, t: float, config: AlertConfig) -> list[AlertChange]:
        """Apply what time alone does at ``t``: stale feeds open and fire alerts, pending alerts
        whose open condition has held ``min_duration_s`` fire, and alerts without an observation
        for ``resolve_timeout_s`` resolve. Nothing else opens or closes on a tick: a value rule
        waits for the next observation, and a stale alert closes only on one with fresh feeds.
        Call it on the worker's timer with the clock the observations use."""
        changes: list[AlertChange] = []
        for (district, domain), (_, feeds) in sorted(self._tracks.items()):
            stale = config.rules(domain).stale
            reading = _stale(stale, feeds, t)
            if reading.condition is Condition.CLOSE:  # only a new reading makes a feed fresh
                reading = dataclasses.replace(reading, condition=Condition.HOLD)
            changes += self._step((district, domain, "stale"), stale, reading, t)
        for _, alert in sorted(self._open.items()):
            params = config.rules(alert.domain).get(alert.rule)
            timeout = params.resolve_timeout_s
            if timeout is not None and t - alert.last_update >= timeout:
                changes.append(self._resolve(alert, params, Trigger.RESOLVE_TIMEOUT, t))
            elif _held(alert, params, t):
                changes.append(self._fire(alert, Trigger.HELD_MIN_DURATION, t, alert.drivers))
        return changes

    # --- lifecycle ------------------------------------------------------------------------------

    def _step(self, key: Key, params: RuleParams, reading: _Reading, t: float) -> list[AlertChange]:
        alert = self._open.get(key)
        condition = reading.condition if params.enabled else Condition.CLOSE
        if alert is None:
            cooldown_end = self._keys.get(key, (0, None))[1]
            if condition is not Condition.OPEN or (cooldown_end is not None and t < cooldown_end):
                return []
            return self._start(key, params, reading, t)
        if condition is Condition.CLOSE:
            return [self._resolve(alert, params, Trigger.CLOSE_CONDITION, t)]
        # The open condition must hold without a break: a reading between the levels restarts it.
        held = None
        if condition is Condition.OPEN:
            held = t if alert.held_since is None else alert.held_since
        alert = _updated(alert, reading, held, t)
        return self._after_update(alert, params, reading, t)

    def _start(
        self, key: Key, params: RuleParams, reading: _Reading, t: float
    ) -> list[AlertChange]:
        last_us, cooldown_end = self._keys.get(key, (-1, None))
        opened_us = max(round(t * 1_000_000), last_us + 1)
        self._keys[key] = (opened_us, cooldown_end)
        alert = AlertSnapshot(
            id=":".join((*key, str(opened_us))),
            district=key[0],
            domain=key[1],
            rule=key[2],
            state=transition(None, Trigger.OPEN_CONDITION),
            severity=reading.severity,
            value=reading.value,
            baseline=reading.baseline,
            peak=reading.value,
            opened_at=t,
            last_update=t,
            observations=int(reading.observed),
            drivers=reading.drivers,
            held_since=t,
            reported_peak=reading.value,
            reported_severity=reading.severity,
        )
        self._open[key] = alert
        return [AlertChange("opened", alert), *self._after_update(alert, params, reading, t)]

    def _after_update(
        self, alert: AlertSnapshot, params: RuleParams, reading: _Reading, t: float
    ) -> list[AlertChange]:
        """Fire, re-fire, report an update or stay silent after an observation."""
        self._open[alert.key] = alert
        if _held(alert, params, t):
            return [self._fire(alert, Trigger.HELD_MIN_DURATION, t, reading.drivers)]
        acked = alert.acked_severity
        escalated = acked is not None and alert.severity > acked
        if alert.state is AlertState.ACKNOWLEDGED and params.refire_on_escalation and escalated:
            return [self._fire(alert, Trigger.ESCALATION, t, reading.drivers)]
        step = params.update_step
        if alert.severity is not alert.reported_severity or (
            step is not None and alert.peak >= alert.reported_peak + step
        ):
            self._open[alert.key] = _reported(alert)
            return [AlertChange("updated", self._open[alert.key])]
        return []

    def _fire(
        self, alert: AlertSnapshot, trigger: Trigger, t: float, drivers: tuple[Driver, ...]
    ) -> AlertChange:
        state = transition(alert.state, trigger)
        if trigger is Trigger.ESCALATION:
            fired = _reported(alert, state=state, refired_at=t, drivers=drivers)
        else:
            fired = _reported(alert, state=state, fired_at=t, drivers=drivers)
        self._open[alert.key] = fired
        return AlertChange(change_kind(alert.state, trigger), fired)

    def _resolve(
        self, alert: AlertSnapshot, params: RuleParams, trigger: Trigger, t: float
    ) -> AlertChange:
        state = transition(alert.state, trigger)
        resolution = "cleared" if trigger is Trigger.CLOSE_CONDITION else "timeout"
        closed = dataclasses.replace(alert, state=state, resolved_at=t, resolution=resolution)
        del self._open[alert.key]
        if alert.state is AlertState.PENDING:  # never fired: no cooldown
            return AlertChange(change_kind(alert.state, trigger), closed)
        opened_us = self._keys.get(alert.key, (round(alert.opened_at * 1_000_000), None))[0]
        self._keys[alert.key] = (opened_us, t + params.cooldown_s)
        return AlertChange(change_kind(alert.state, trigger), closed)

    # --- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data (str keys, lists, numbers, strings, None) :meth:`from_dict` restores
        exactly. Store it with the worker's checkpoint; never pickle the engine."""
        return {
            "format": ENGINE_FORMAT,
            "alerts": [alert.to_dict() for alert in self.open_alerts()],
            "tracks": [
                [district, domain, t, [list(feed) for feed in feeds]]
                for (district, domain), (t, feeds) in sorted(self._tracks.items())
            ],
            "keys": [[*key, us, end] for key, (us, end) in sorted(self._keys.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEngine:
        """The engine :meth:`to_dict` wrote; raises :class:`~indices.errors.InvalidState` on
        anything else (then start from :meth:`new`: open alerts re-open on the next
        observations)."""
        if not isinstance(data, Mapping) or data.get("format") != ENGINE_FORMAT:
            raise InvalidState(f"alert engine: expected format {ENGINE_FORMAT}")
        engine = cls()
        try:
            for item in data["alerts"]:
                alert = AlertSnapshot.from_dict(item)
                engine._open[alert.key] = alert
            for district, domain, t, feeds in data["tracks"]:
                pairs = tuple((str(kind), float(seen)) for kind, seen in feeds)
                engine._tracks[(str(district), str(domain))] = (float(t), pairs)
            for district, domain, rule, us, end in data["keys"]:
                cooldown_end = None if end is None else float(end)
                engine._keys[(str(district), str(domain), str(rule))] = (int(us), cooldown_end)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidState(f"alert engine: {error}") from error
        return engine


# --- helpers ----------------------------------------------------------------------------------


def _read(condition: Condition, obs: Observation) -> _Reading:
    """A spike or threshold rule's reading of ``obs``: value and severity from its grade."""
    severity = severity_of_grade(obs.grade)
    return _Reading(condition, obs.value, obs.baseline, severity, obs.drivers, observed=True)


def _stale(
    params: StaleParams, feeds: tuple[tuple[str, float], ...], t: float, observed: bool = False
) -> _Reading:
    """The stale rule's reading at ``t`` of feeds last heard at the given times."""
    ages = sorted(((max(0.0, t - seen), kind) for kind, seen in feeds), reverse=True)
    oldest = ages[0][0] if ages else 0.0
    drivers = tuple((kind, "stale_feed", age) for age, kind in ages if age >= params.silent_s)
    condition = stale_condition(params, oldest) if ages else Condition.CLOSE
    return _Reading(condition, oldest, None, Severity.MINOR, drivers, observed)


def _held(alert: AlertSnapshot, params: RuleParams, t: float) -> bool:
    """A pending alert whose open condition has held ``min_duration_s`` without a break."""
    since = alert.held_since
    return (
        alert.state is AlertState.PENDING
        and since is not None
        and t - since >= params.min_duration_s
    )


def _updated(
    alert: AlertSnapshot, reading: _Reading, held_since: float | None, t: float
) -> AlertSnapshot:
    """``alert`` after a reading while open (the UPDATE row of the table)."""
    return dataclasses.replace(
        alert,
        state=transition(alert.state, Trigger.UPDATE),
        severity=reading.severity,
        value=reading.value,
        baseline=reading.baseline,
        peak=max(alert.peak, reading.value),
        last_update=t if reading.observed else alert.last_update,
        observations=alert.observations + int(reading.observed),
        drivers=reading.drivers if alert.state is AlertState.PENDING else alert.drivers,
        held_since=held_since,
    )


def _reported(alert: AlertSnapshot, **changes: Any) -> AlertSnapshot:
    """``alert`` with ``changes``, marked as reported at its current peak and severity."""
    changed = dataclasses.replace(alert, **changes)
    return dataclasses.replace(
        changed, reported_peak=changed.peak, reported_severity=changed.severity
    )
