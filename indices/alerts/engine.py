"""Alert lifecycle: at most one open alert per (district, domain, kind), moved by one table.

Feed every score update to :meth:`AlertEngine.observe` as one :class:`Observation` per domain
(and one for ``"composite"``), call :meth:`AlertEngine.tick` on the worker's timer, pass an
operator's acknowledgement to :meth:`AlertEngine.acknowledge`, and publish the
:class:`AlertChange` values they return. Every state change goes through :data:`TRANSITIONS`;
anything else raises :class:`InvalidTransition`. Persist the engine with
:meth:`AlertEngine.to_dict` and restore it with :meth:`AlertEngine.from_dict`. Rules and their
parameters: :mod:`indices.alerts.rules`; the lifecycle in prose: docs/alerting.md.

>>> engine, config = AlertEngine.new(), AlertConfig()
>>> obs = Observation("4157056000", "fire", t=0.0, value=5.5, grade=4)
>>> [(c.what, c.alert.state.value) for c in engine.observe(obs, config)]
[('opened', 'pending')]
>>> [(c.what, c.alert.id) for c in engine.tick(300.0, config)]  # held 5 min (min_duration_s)
[('fired', '4157056000:fire:hazard:0')]
>>> engine.acknowledge("4157056000:fire:hazard:0", "kim", "crew on site", t=320.0).what
'acknowledged'
>>> later = Observation("4157056000", "fire", t=900.0, value=4.2, grade=3)
>>> [(c.what, c.alert.resolution) for c in engine.observe(later, config)]
[('resolved', 'cleared')]
>>> AlertEngine.from_dict(engine.to_dict()) == engine
True
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from indices.alerts.lifecycle import (
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
from indices.alerts.rules import (
    COMPOSITE,
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
from indices.alerts.upgrade import from_format_1
from indices.errors import InvalidEvent, InvalidState

__all__ = [  # the lifecycle, the engine, and (re-exported) the rules: import from here
    "ENGINE_FORMAT",
    "HAZARD_RULES",
    "KIND_RULES",
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

ENGINE_FORMAT: Final = 2  # version of AlertEngine.to_dict's layout (2: hazard alerts)


HAZARD_RULES: Final = ("spike", "threshold")  # the rules of a "hazard" alert, in order
KIND_RULES: Final[Mapping[str, tuple[str, ...]]] = {"hazard": HAZARD_RULES, "stale": ("stale",)}


@dataclass(frozen=True)
class _Reading:
    """What the rules of one alert kind make of an observation (or of the clock, for stale
    feeds): each rule's condition, and the values an alert records."""

    conditions: tuple[tuple[str, Condition], ...]
    value: float
    baseline: float | None
    severity: Severity
    drivers: tuple[Driver, ...]
    observed: bool  # an observation (counts), not a tick


class AlertEngine:
    """Open alerts, plus per (district, domain) the newest observation time and feed times, plus
    per key the last opening time (for unique ids) and the end of its cooldown. Mutated only by
    :meth:`observe`, :meth:`acknowledge` and :meth:`tick`, which return what changed.

    A key is (district, domain, kind): the ``"hazard"`` alert of a domain stands for its spike
    and threshold rules together (open while either holds, so one rise is one alert however it
    shows), the ``"stale"`` alert for its feeds. The composite's hazard alert is for a district
    high across domains without one domain alerting: it does not open while a domain's hazard
    alert of its district is open, and a pending one gives way (``"withdrawn"``, resolution
    ``"superseded"``) when one opens; feed the domains before the composite.

    Give observations of one (district, domain) in time order: an older one than the last is
    ignored. Pass the same :class:`AlertConfig` to every call (a changed config applies from the
    next call on)."""

    __slots__ = ("_explaining", "_keys", "_open", "_tracks", "merged_on_load")

    def __init__(self) -> None:
        """An empty engine; prefer :meth:`new` or :meth:`from_dict`."""
        # Open alerts of a format-1 engine merged into another of their key by from_dict: the
        # caller closes them (they are not part of the engine's state or equality).
        self.merged_on_load: tuple[AlertSnapshot, ...] = ()
        self._open: dict[Key, AlertSnapshot] = {}
        # district -> how many of its open alerts are a domain's hazard alert (derived from
        # _open, kept as keys come and go): what keeps its composite alert from opening.
        self._explaining: Counter[str] = Counter()
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

    def open_alerts(self, *, by_id: bool = True) -> list[AlertSnapshot]:
        """Every open (pending, firing, acknowledged) alert, by id (``by_id=False``: in the
        order their keys opened, which a restored engine does not keep; cheaper, for callers
        that do not depend on the order)."""
        if not by_id:
            return list(self._open.values())
        return sorted(self._open.values(), key=_ID)

    # --- inputs ----------------------------------------------------------------------------------

    def observe(self, obs: Observation, config: AlertConfig) -> list[AlertChange]:
        """Run the rules of ``obs.domain`` on ``obs`` and return the changes: its hazard alert's,
        then its stale alert's."""
        track = (obs.district, obs.domain)
        if track in self._tracks and obs.t < self._tracks[track][0]:
            return []
        feeds = tuple(sorted((kind, obs.t - age) for kind, age in obs.feed_ages))
        self._tracks[track] = (obs.t, feeds)
        rules = config.rules(obs.domain)
        spike = spike_condition(rules.spike, obs.spike_score, obs.spike)
        level = threshold_condition(rules.threshold, obs.value, obs.grade)
        hazard = _Reading(
            (("spike", spike), ("threshold", level)),
            obs.value,
            obs.baseline,
            severity_of_grade(obs.grade),
            obs.drivers,
            observed=True,
        )
        stale = _stale(rules.stale, feeds, obs.t, observed=True)
        changes = self._step((obs.district, obs.domain, "hazard"), rules, hazard, obs.t)
        return changes + self._step((obs.district, obs.domain, "stale"), rules, stale, obs.t)

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
            rules = config.rules(domain)
            reading = _stale(rules.stale, feeds, t)
            if _combined(reading.conditions) is Condition.CLOSE:  # only a reading makes it fresh
                reading = dataclasses.replace(reading, conditions=(("stale", Condition.HOLD),))
            changes += self._step((district, domain, "stale"), rules, reading, t)
        for _, alert in sorted(self._open.items()):
            params = _params(config.rules(alert.domain), alert.rule)
            if _timed_out(alert, params, t):
                changes.append(self._resolve(alert, params, Trigger.RESOLVE_TIMEOUT, t))
            elif _held(alert, params, t):
                changes.append(self._fire(alert, Trigger.HELD_MIN_DURATION, t, alert.drivers))
        return changes

    # --- lifecycle ------------------------------------------------------------------------------

    def _step(self, key: Key, rules: DomainRules, reading: _Reading, t: float) -> list[AlertChange]:
        params = _params(rules, key[2])
        reading = dataclasses.replace(
            reading,
            conditions=tuple(
                (rule, condition if params[rule].enabled else Condition.CLOSE)
                for rule, condition in reading.conditions
            ),
        )
        condition = _combined(reading.conditions)
        alert = self._open.get(key)
        if alert is None:
            cooldown_end = self._keys.get(key, (0, None))[1]
            if condition is not Condition.OPEN or (cooldown_end is not None and t < cooldown_end):
                return []
            if self._explained(key):
                return []
            return self._start(key, params, reading, t)
        if condition is Condition.CLOSE:
            return [self._resolve(alert, params, Trigger.CLOSE_CONDITION, t)]
        alert = _updated(alert, reading, t)
        return self._after_update(alert, params, reading, t)

    def _explained(self, key: Key) -> bool:
        """A composite hazard alert whose district has a domain's hazard alert open."""
        district, domain, kind = key
        return domain == COMPOSITE and kind == "hazard" and self._explaining[district] > 0

    def _opened(self, alert: AlertSnapshot) -> None:
        """Add ``alert`` to the open alerts under a key none holds."""
        self._open[alert.key] = alert
        if _explains(alert.key):
            self._explaining[alert.district] += 1

    def _closed(self, alert: AlertSnapshot) -> None:
        """Remove the open alert of ``alert``'s key."""
        del self._open[alert.key]
        if _explains(alert.key):
            self._explaining[alert.district] -= 1
            if not self._explaining[alert.district]:
                del self._explaining[alert.district]

    def _start(
        self, key: Key, params: Mapping[str, RuleParams], reading: _Reading, t: float
    ) -> list[AlertChange]:
        last_us, cooldown_end = self._keys.get(key, (-1, None))
        opened_us = max(round(t * 1_000_000), last_us + 1)
        self._keys[key] = (opened_us, cooldown_end)
        holding = tuple((rule, t) for rule, c in reading.conditions if c is Condition.OPEN)
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
            holding=holding,
            active=_active(reading),
            triggers=tuple(rule for rule, _ in holding),
            reported_peak=reading.value,
            reported_severity=reading.severity,
        )
        self._opened(alert)
        changes = [AlertChange("opened", alert)]
        composite = self._open.get((key[0], COMPOSITE, "hazard"))
        pending = composite is not None and composite.state is AlertState.PENDING
        if pending and key[2] == "hazard" and key[1] != COMPOSITE:
            assert composite is not None
            changes.append(self._supersede(composite, t))
        return changes + self._after_update(alert, params, reading, t)

    def _after_update(
        self, alert: AlertSnapshot, params: Mapping[str, RuleParams], reading: _Reading, t: float
    ) -> list[AlertChange]:
        """Fire, re-fire, report an update or stay silent after an observation."""
        self._open[alert.key] = alert
        if _held(alert, params, t):
            return [self._fire(alert, Trigger.HELD_MIN_DURATION, t, reading.drivers)]
        enabled = _own(alert, params)
        acked = alert.acked_severity
        escalated = acked is not None and alert.severity > acked
        refire = any(p.refire_on_escalation for p in enabled)
        if alert.state is AlertState.ACKNOWLEDGED and refire and escalated:
            return [self._fire(alert, Trigger.ESCALATION, t, reading.drivers)]
        steps = [p.update_step for p in enabled if p.update_step is not None]
        if alert.severity is not alert.reported_severity or (
            steps and alert.peak >= alert.reported_peak + min(steps)
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
        self, alert: AlertSnapshot, params: Mapping[str, RuleParams], trigger: Trigger, t: float
    ) -> AlertChange:
        state = transition(alert.state, trigger)
        resolution = "cleared" if trigger is Trigger.CLOSE_CONDITION else "timeout"
        closed = dataclasses.replace(alert, state=state, resolved_at=t, resolution=resolution)
        self._closed(alert)
        if alert.state is AlertState.PENDING:  # never fired: no cooldown
            return AlertChange(change_kind(alert.state, trigger), closed)
        cooldown = max(p.cooldown_s for p in _own(alert, params))
        opened_us = self._keys.get(alert.key, (round(alert.opened_at * 1_000_000), None))[0]
        self._keys[alert.key] = (opened_us, t + cooldown)
        return AlertChange(change_kind(alert.state, trigger), closed)

    def _supersede(self, alert: AlertSnapshot, t: float) -> AlertChange:
        """Withdraw a pending composite alert: a domain's alert of its district explains it."""
        state = transition(alert.state, Trigger.SUPERSEDE)
        closed = dataclasses.replace(alert, state=state, resolved_at=t, resolution="superseded")
        self._closed(alert)
        return AlertChange(change_kind(alert.state, Trigger.SUPERSEDE), closed)

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
        observations).

        Format 1 (one alert per rule) is read too: spike and threshold alerts become hazard
        alerts keeping their ids; where both were open for one district and domain, the one
        opened first stays (with the other's trigger) and the other is left in
        :attr:`merged_on_load` for the caller to close."""
        if isinstance(data, Mapping) and data.get("format") == 1:
            data, merged = from_format_1(data, ENGINE_FORMAT)
        else:
            merged = []
        if not isinstance(data, Mapping) or data.get("format") != ENGINE_FORMAT:
            raise InvalidState(f"alert engine: expected format {ENGINE_FORMAT}")
        engine = cls()
        try:
            for item in data["alerts"]:
                alert = AlertSnapshot.from_dict(item)
                held = engine._open.get(alert.key)
                if held is not None:  # (to_dict never writes two; the last one stays)
                    engine._closed(held)
                engine._opened(alert)
            for district, domain, t, feeds in data["tracks"]:
                pairs = tuple((str(kind), float(seen)) for kind, seen in feeds)
                engine._tracks[(str(district), str(domain))] = (float(t), pairs)
            for district, domain, rule, us, end in data["keys"]:
                cooldown_end = None if end is None else float(end)
                engine._keys[(str(district), str(domain), str(rule))] = (int(us), cooldown_end)
            engine.merged_on_load = tuple(AlertSnapshot.from_dict(item) for item in merged)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidState(f"alert engine: {error}") from error
        return engine


# --- helpers ----------------------------------------------------------------------------------


_ID = attrgetter("id")


def _explains(key: Key) -> bool:
    """Whether an open alert of ``key`` keeps its district's composite alert from opening."""
    return key[2] == "hazard" and key[1] != COMPOSITE


def _params(rules: DomainRules, kind: str) -> dict[str, RuleParams]:
    """The parameters of the rules of alert kind ``kind``, by rule."""
    return {rule: rules.get(rule) for rule in KIND_RULES[kind]}


def _own(alert: AlertSnapshot, params: Mapping[str, RuleParams]) -> list[RuleParams]:
    """The parameters of the enabled rules that triggered ``alert`` (else of every enabled
    rule, else of all): its cooldown, update step and re-fire follow the rules that raised it."""
    enabled = {rule: p for rule, p in params.items() if p.enabled} or dict(params)
    return [enabled[rule] for rule in alert.triggers if rule in enabled] or list(enabled.values())


def _combined(conditions: tuple[tuple[str, Condition], ...]) -> Condition:
    """OPEN if any rule opens, CLOSE if every rule closes, HOLD otherwise."""
    found = {condition for _, condition in conditions}
    if Condition.OPEN in found:
        return Condition.OPEN
    return Condition.CLOSE if found <= {Condition.CLOSE} else Condition.HOLD


def _active(reading: _Reading) -> tuple[str, ...]:
    return tuple(rule for rule, c in reading.conditions if c is not Condition.CLOSE)


def _stale(
    params: StaleParams, feeds: tuple[tuple[str, float], ...], t: float, observed: bool = False
) -> _Reading:
    """The stale rule's reading at ``t`` of feeds last heard at the given times."""
    ages = sorted(((max(0.0, t - seen), kind) for kind, seen in feeds), reverse=True)
    oldest = ages[0][0] if ages else 0.0
    drivers = tuple((kind, "stale_feed", age) for age, kind in ages if age >= params.silent_s)
    condition = stale_condition(params, oldest) if ages else Condition.CLOSE
    return _Reading((("stale", condition),), oldest, None, Severity.MINOR, drivers, observed)


def _held(alert: AlertSnapshot, params: Mapping[str, RuleParams], t: float) -> bool:
    """A pending alert one of whose rules' open condition has held its ``min_duration_s``
    without a break."""
    return alert.state is AlertState.PENDING and any(
        t - since >= params[rule].min_duration_s
        for rule, since in alert.holding
        if rule in params and params[rule].enabled
    )


def _timed_out(alert: AlertSnapshot, params: Mapping[str, RuleParams], t: float) -> bool:
    """No observation for the resolve timeout of every rule still active (not closed at the
    last observation): a spike alone times out, a level that still holds does not."""
    rules = [rule for rule in alert.active if rule in params] or list(params)
    timeouts = [params[rule].resolve_timeout_s for rule in rules]
    if any(timeout is None for timeout in timeouts):
        return False
    return t - alert.last_update >= max(timeout for timeout in timeouts if timeout is not None)


def _updated(alert: AlertSnapshot, reading: _Reading, t: float) -> AlertSnapshot:
    """``alert`` after a reading while open (the UPDATE row of the table). A rule's open
    condition must hold without a break: a reading between its levels restarts it."""
    since = dict(alert.holding)
    holding = tuple(
        (rule, since.get(rule, t)) for rule, c in reading.conditions if c is Condition.OPEN
    )
    triggers = alert.triggers + tuple(r for r, _ in holding if r not in alert.triggers)
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
        holding=holding,
        active=_active(reading) if reading.observed else alert.active,
        triggers=triggers,
    )


def _reported(alert: AlertSnapshot, **changes: Any) -> AlertSnapshot:
    """``alert`` with ``changes``, marked as reported at its current peak and severity."""
    changed = dataclasses.replace(alert, **changes)
    return dataclasses.replace(
        changed, reported_peak=changed.peak, reported_severity=changed.severity
    )
