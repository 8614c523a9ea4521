"""The alert lifecycle as data: states, triggers, the one transition table, and the records.

:data:`TRANSITIONS` maps (state, trigger) to the next state; :func:`transition` is the only way
:class:`~indices.alerts.AlertEngine` changes an alert's state, so anything outside the table
raises :class:`InvalidTransition`. An :class:`Observation` goes in, :class:`AlertChange` values
(each with an :class:`AlertSnapshot`) come out. Import these from :mod:`indices.alerts`.

>>> sorted(trigger.value for (state, trigger) in TRANSITIONS if state is AlertState.FIRING)
['ack', 'close_condition', 'resolve_timeout', 'update']
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from indices.alerts.rules import ALERT_DOMAINS, Severity
from indices.errors import IndicesError, InvalidEvent, InvalidState

__all__ = [
    "TRANSITIONS",
    "AlertChange",
    "AlertSnapshot",
    "AlertState",
    "ChangeKind",
    "Driver",
    "Holding",
    "InvalidTransition",
    "Key",
    "Observation",
    "Trigger",
    "UnknownAlert",
    "change_kind",
    "transition",
]

Driver = tuple[str, str, float]  # (event id, type or sensor kind, contribution 0-10 or age s)
Key = tuple[str, str, str]  # (district, domain, kind): kind "hazard" or "stale"
Holding = tuple[tuple[str, float], ...]  # (rule, since when its open condition holds)
ChangeKind = Literal[
    "opened", "fired", "updated", "acknowledged", "refired", "resolved", "withdrawn"
]


class AlertState(enum.Enum):
    """Where an alert is in its life. RESOLVED is final: the engine then forgets the alert."""

    PENDING = "pending"  # open condition seen, not yet held for min_duration_s; not notified
    FIRING = "firing"  # notify; waits for an operator's acknowledgement
    ACKNOWLEDGED = "acknowledged"  # an operator took it; still open
    RESOLVED = "resolved"  # closed (or, from PENDING, withdrawn)


class Trigger(enum.Enum):
    """What can happen to an alert."""

    OPEN_CONDITION = "open_condition"  # a rule says OPEN and no alert is open for its key
    HELD_MIN_DURATION = "held_min_duration"  # the open condition held min_duration_s
    UPDATE = "update"  # a new observation while open (value, peak, severity)
    ACK = "ack"  # an operator acknowledged it
    ESCALATION = "escalation"  # severity rose above the acknowledged severity
    CLOSE_CONDITION = "close_condition"  # a rule says CLOSE (or the rule was disabled)
    RESOLVE_TIMEOUT = "resolve_timeout"  # no observation for resolve_timeout_s
    SUPERSEDE = "supersede"  # a domain's alert opened in the district of a pending composite one


class InvalidTransition(IndicesError):
    """The trigger is not allowed in the alert's state (e.g. acknowledging a pending alert)."""


class UnknownAlert(IndicesError):
    """No open alert has this id: it was resolved, withdrawn or never existed."""


_P, _F, _A, _R = AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED, AlertState.RESOLVED
# (state, trigger) -> next state; state None means "no open alert for the key".
TRANSITIONS: Final[Mapping[tuple[AlertState | None, Trigger], AlertState]] = MappingProxyType(
    {
        (None, Trigger.OPEN_CONDITION): _P,
        (_P, Trigger.UPDATE): _P,
        (_P, Trigger.HELD_MIN_DURATION): _F,
        (_P, Trigger.CLOSE_CONDITION): _R,
        (_P, Trigger.RESOLVE_TIMEOUT): _R,
        (_P, Trigger.SUPERSEDE): _R,
        (_F, Trigger.UPDATE): _F,
        (_F, Trigger.ACK): _A,
        (_F, Trigger.CLOSE_CONDITION): _R,
        (_F, Trigger.RESOLVE_TIMEOUT): _R,
        (_A, Trigger.UPDATE): _A,
        (_A, Trigger.ESCALATION): _F,
        (_A, Trigger.CLOSE_CONDITION): _R,
        (_A, Trigger.RESOLVE_TIMEOUT): _R,
    }
)
_WHAT: Final[Mapping[Trigger, ChangeKind]] = {
    Trigger.OPEN_CONDITION: "opened",
    Trigger.HELD_MIN_DURATION: "fired",
    Trigger.UPDATE: "updated",
    Trigger.ACK: "acknowledged",
    Trigger.ESCALATION: "refired",
    Trigger.CLOSE_CONDITION: "resolved",
    Trigger.RESOLVE_TIMEOUT: "resolved",
    Trigger.SUPERSEDE: "withdrawn",
}


def transition(state: AlertState | None, trigger: Trigger) -> AlertState:
    """The state after ``trigger`` in ``state``; raises :class:`InvalidTransition` if the table
    has no such row.

    >>> transition(AlertState.FIRING, Trigger.ACK).value
    'acknowledged'
    >>> transition(AlertState.PENDING, Trigger.ACK)
    Traceback (most recent call last):
    ...
    indices.alerts.lifecycle.InvalidTransition: ack is not allowed in state pending
    """
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        name = "none" if state is None else state.value
        raise InvalidTransition(f"{trigger.value} is not allowed in state {name}") from None


def change_kind(state: AlertState | None, trigger: Trigger) -> ChangeKind:
    """How :class:`AlertChange` names ``trigger`` applied in ``state``: a pending alert that
    closes is ``"withdrawn"`` (it was never notified), otherwise see :data:`TRANSITIONS`.

    >>> change_kind(AlertState.PENDING, Trigger.CLOSE_CONDITION)
    'withdrawn'
    """
    target = transition(state, trigger)
    return "withdrawn" if state is _P and target is _R else _WHAT[trigger]


@dataclass(frozen=True)
class Observation:
    """One domain of one district at one score update, with the detector's verdict on it.

    ``value`` and ``grade`` are the domain's risk and grade (or the composite's), 0-10 and 1-5;
    ``baseline`` the detector's expected value; ``spike_score`` (0-1) and ``spike`` its output.
    ``drivers`` are (event id, type, contribution) explaining the value now; ``feed_ages`` the
    age in seconds of the newest reading of every sensor kind feeding this domain (all of them,
    not only stale ones; empty for domains without sensors and for the composite).
    """

    district: str
    domain: str
    t: float
    value: float
    grade: int
    baseline: float | None = None
    spike_score: float = 0.0
    spike: bool = False
    drivers: tuple[Driver, ...] = ()
    feed_ages: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.domain not in ALERT_DOMAINS:
            raise InvalidEvent(
                f"domain: unknown {self.domain!r}; known: {', '.join(ALERT_DOMAINS)}"
            )
        numbers = [self.t, self.value, *(age for _, age in self.feed_ages)]
        if self.baseline is not None:
            numbers.append(self.baseline)
        if not all(math.isfinite(n) for n in numbers):
            raise InvalidEvent(f"{self.district}/{self.domain}: NaN or infinite number")
        if not (1 <= self.grade <= 5 and 0 <= self.spike_score <= 1):
            raise InvalidEvent(f"grade {self.grade} or spike_score {self.spike_score} out of range")


@dataclass(frozen=True)
class AlertSnapshot:
    """An alert as it is now. ``rule`` is its kind: ``"hazard"`` (the spike and threshold rules
    of one district and domain together: one alert however many of them hold) or ``"stale"``;
    ``triggers`` are the rules whose open condition held at some point of its life, in the order
    they first did. ``value``/``baseline``/``severity`` follow the latest observation; ``peak``
    is the highest value since it opened; ``drivers`` are frozen when it fires (and replaced when
    it re-fires). For stale alerts ``value`` is the oldest feed's age in seconds and ``drivers``
    are (sensor kind, ``"stale_feed"``, age). ``resolution`` is ``"cleared"``, ``"timeout"`` or
    ``"superseded"`` (a pending composite alert given way to a domain's) once resolved.
    ``holding``, ``active``, ``reported_peak`` and ``reported_severity`` are the engine's
    bookkeeping: the rules whose open condition holds now and since when, the rules not closed
    at the last observation, and what was last reported.
    """

    id: str
    district: str
    domain: str
    rule: str
    state: AlertState
    severity: Severity
    value: float
    baseline: float | None
    peak: float
    opened_at: float
    last_update: float
    observations: int
    drivers: tuple[Driver, ...]
    holding: Holding
    active: tuple[str, ...]
    triggers: tuple[str, ...]
    reported_peak: float
    reported_severity: Severity
    fired_at: float | None = None
    refired_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    acked_note: str | None = None
    acked_severity: Severity | None = None
    resolved_at: float | None = None
    resolution: str | None = None

    @property
    def key(self) -> Key:
        """(district, domain, kind): the engine holds at most one open alert per key."""
        return (self.district, self.domain, self.rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data :meth:`from_dict` reads back to an equal snapshot."""
        out = dataclasses.asdict(self)
        for name, value in out.items():
            if isinstance(value, enum.Enum):
                out[name] = value.value
        out["drivers"] = [list(driver) for driver in self.drivers]
        out["holding"] = [list(pair) for pair in self.holding]
        out["active"], out["triggers"] = list(self.active), list(self.triggers)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertSnapshot:
        """The snapshot :meth:`to_dict` wrote; raises :class:`~indices.errors.InvalidState`."""
        try:
            values = dict(data)
            values["state"] = AlertState(values["state"])
            for name in ("severity", "reported_severity", "acked_severity"):
                if values.get(name) is not None:
                    values[name] = Severity(values[name])
            values["drivers"] = tuple((str(i), str(k), float(c)) for i, k, c in values["drivers"])
            values["holding"] = tuple((str(r), float(since)) for r, since in values["holding"])
            values["active"] = tuple(str(r) for r in values["active"])
            values["triggers"] = tuple(str(r) for r in values["triggers"])
            return cls(**values)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidState(f"alert: {error}") from error


@dataclass(frozen=True)
class AlertChange:
    """What happened (``what``) and the alert afterwards. ``"opened"``: a pending alert (not for
    operators yet); ``"fired"``, ``"refired"``: notify; ``"updated"``: severity changed or a new
    peak; ``"acknowledged"``; ``"resolved"``; ``"withdrawn"``: a pending alert that never fired
    went away."""

    what: ChangeKind
    alert: AlertSnapshot
