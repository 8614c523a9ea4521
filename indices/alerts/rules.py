"""Alert rules: when an alert opens and closes, per domain, and how a city configures them.

Three rule kinds, each with its own parameters (:class:`SpikeParams`, :class:`ThresholdParams`,
:class:`StaleParams`) on top of the lifecycle ones every rule shares (:class:`RuleParams`).
:class:`AlertConfig` holds the defaults and per-domain overrides; build it from the city TOML's
``[alerts]`` table with :func:`alert_config_from_mapping`. Every rule looks at one observation
and answers :class:`Condition` ``OPEN``, ``HOLD`` (between the open and close levels: keep what
is) or ``CLOSE``; the lifecycle in :mod:`indices.alerts` does the rest.

>>> config = alert_config_from_mapping(
...     {"threshold": {"open_grade": 5, "close_level": 5.5},
...      "domains": {"air_quality": {"stale": {"silent_s": 600}}}})
>>> config.rules("fire").threshold.open_grade, config.rules("air_quality").stale.silent_s
(5, 600.0)
>>> config.rules("air_quality").threshold.open_grade  # domain tables merge over the defaults
5
>>> alert_config_from_mapping({"domains": {"fyre": {}}})
Traceback (most recent call last):
...
indices.errors.InvalidConfig: alerts.domains.fyre: unknown domain 'fyre'; known: fire, \
flood_weather, traffic, crime, living_safety, air_quality, composite
>>> severity_of_grade(4), Severity.EXTREME > Severity.SEVERE
(<Severity.SEVERE: 'Severe'>, True)
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from indices.errors import InvalidConfig
from indices.taxonomy import DOMAINS

__all__ = [
    "ALERT_DOMAINS",
    "COMPOSITE",
    "RULE_KINDS",
    "AlertConfig",
    "Condition",
    "DomainRules",
    "RuleParams",
    "Severity",
    "SpikeParams",
    "StaleParams",
    "ThresholdParams",
    "alert_config_from_mapping",
    "alert_config_to_mapping",
    "severity_of_grade",
    "spike_condition",
    "stale_condition",
    "threshold_condition",
]

COMPOSITE: Final = "composite"  # the district's composite index, alerted like a domain
ALERT_DOMAINS: Final = (*DOMAINS, COMPOSITE)
RULE_KINDS: Final = ("spike", "threshold", "stale")


@functools.total_ordering
class Severity(enum.Enum):
    """CAP 1.2 ``info.severity`` terms (Unknown is never used), ordered Minor < ... < Extreme."""

    MINOR = "Minor"
    MODERATE = "Moderate"
    SEVERE = "Severe"
    EXTREME = "Extreme"

    @property
    def rank(self) -> int:
        """0 (Minor) to 3 (Extreme)."""
        return _SEVERITIES.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITIES: Final = tuple(Severity)


def severity_of_grade(grade: int) -> Severity:
    """CAP severity of a 1-5 index grade: 1-2 Minor, 3 Moderate, 4 Severe, 5 Extreme.

    Grades follow INFORM's classes (very low .. very high); "low" is still Minor because an alert
    at grade 2 exists only because it moved fast (a spike), not because the level is dangerous.
    """
    return _SEVERITIES[max(0, min(grade, 5) - 2)]


class Condition(enum.Enum):
    """What a rule says about one observation."""

    OPEN = "open"  # at or beyond the open level: open (or keep holding) an alert
    HOLD = "hold"  # between the levels: an open alert stays, nothing new opens
    CLOSE = "close"  # at or below the close level: an open alert resolves


# --- parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RuleParams:
    """Lifecycle parameters every rule kind has.

    - ``enabled``: a disabled rule opens nothing and closes what it has open.
    - ``min_duration_s``: the open condition must hold without a break this long before a
      pending alert fires; 0 fires on the observation that opened it.
    - ``cooldown_s``: after an alert that fired resolves, its (district, domain, rule) does not
      open again before this much time has passed (a withdrawn pending alert leaves no cooldown).
    - ``resolve_timeout_s``: an open alert with no observation for this long resolves at the next
      tick (``None``: never; a steady value is not re-sent, so only momentary rules use it).
    - ``update_step``: an open alert reports ``"updated"`` when its value exceeds the peak it last
      reported by this much (``None``: only severity changes are reported).
    - ``refire_on_escalation``: an acknowledged alert whose severity rises above the severity it
      was acknowledged at fires again and needs a new acknowledgement.
    """

    enabled: bool = True
    min_duration_s: float = 0.0
    cooldown_s: float = 1800.0
    resolve_timeout_s: float | None = None
    update_step: float | None = 0.5
    refire_on_escalation: bool = True

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not (math.isfinite(value) and value >= 0):
                raise InvalidConfig(f"{spec.name}: expected a finite number >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class SpikeParams(RuleParams):
    """The detector's verdict. Opens when its score (the worker passes the detector's likelihood,
    :data:`indices.detect.INDEX_PARAMS` alarms at 0.95) reaches ``open_score`` (or, with
    ``open_on_flag``, when it flags a spike); closes when the score is at most ``close_score``
    and no spike is flagged. Fires at once, and resolves after 30 min without an observation:
    a spike is a moment, and a quiet district sends none."""

    open_score: float = 0.95
    close_score: float = 0.4
    open_on_flag: bool = True
    resolve_timeout_s: float | None = 1800.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.close_score < self.open_score <= 1:
            raise InvalidConfig(
                f"close_score: must satisfy 0 <= close_score < open_score <= 1, got "
                f"{self.close_score!r} and {self.open_score!r}"
            )


@dataclass(frozen=True, kw_only=True)
class ThresholdParams(RuleParams):
    """A level crossing. Opens when the value reaches ``open_level`` or the grade reaches
    ``open_grade`` (either may be ``None``, not both); closes when the value is at most
    ``close_level`` and the open condition does not hold. The default close level 4.5 sits half
    a point under the default grade-4 cut (5.0): a city that moves ``grade_cuts`` moves it too.
    Must hold 5 min before it fires."""

    open_level: float | None = None
    open_grade: int | None = 4
    close_level: float = 4.5
    min_duration_s: float = 300.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.open_level is None and self.open_grade is None:
            raise InvalidConfig("open_level: give open_level, open_grade or both")
        if self.open_grade is not None and not 1 <= self.open_grade <= 5:
            raise InvalidConfig(f"open_grade: expected a grade 1-5, got {self.open_grade!r}")
        if self.open_level is not None and not self.close_level < self.open_level:
            raise InvalidConfig(
                f"close_level: must be below open_level ({self.open_level!r}), "
                f"got {self.close_level!r}"
            )


@dataclass(frozen=True, kw_only=True)
class StaleParams(RuleParams):
    """A feed gone silent. Opens when a feed of the domain has had no reading for ``silent_s``,
    closes as soon as every feed is younger than that (a reading resets the age to about 0, so
    no hysteresis band is needed). Severity is always Minor: it is about the data, not the city.
    The cooldown is 0: a feed that falls silent again should be reported again."""

    silent_s: float = 3600.0
    cooldown_s: float = 0.0
    update_step: float | None = None
    refire_on_escalation: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.silent_s <= 0:
            raise InvalidConfig(f"silent_s: expected a number > 0, got {self.silent_s!r}")
        if self.resolve_timeout_s is not None:
            raise InvalidConfig(
                'resolve_timeout_s: must be "none" for stale: the alert closes when the feed '
                "reports again"
            )


@dataclass(frozen=True)
class DomainRules:
    """The three rules as they apply to one domain."""

    spike: SpikeParams = field(default_factory=SpikeParams)
    threshold: ThresholdParams = field(default_factory=ThresholdParams)
    stale: StaleParams = field(default_factory=StaleParams)

    def get(self, rule: str) -> RuleParams:
        """The parameters of rule kind ``rule`` (one of :data:`RULE_KINDS`)."""
        params: RuleParams = getattr(self, rule)
        return params


@dataclass(frozen=True)
class AlertConfig:
    """Rules for every domain: ``defaults`` unless ``domains`` has an entry for it."""

    defaults: DomainRules = field(default_factory=DomainRules)
    domains: Mapping[str, DomainRules] = field(default_factory=dict)

    def rules(self, domain: str) -> DomainRules:
        """The rules that apply to ``domain`` (a domain or ``"composite"``)."""
        return self.domains.get(domain, self.defaults)


# --- conditions -----------------------------------------------------------------------------------


def spike_condition(params: SpikeParams, score: float, flagged: bool) -> Condition:
    """Open at ``score >= open_score`` (or a flagged spike with ``open_on_flag``); close at
    ``score <= close_score`` with no flag.

    >>> [spike_condition(SpikeParams(), s, False).value for s in (0.96, 0.6, 0.4)]
    ['open', 'hold', 'close']
    """
    if score >= params.open_score or (flagged and params.open_on_flag):
        return Condition.OPEN
    return Condition.CLOSE if score <= params.close_score and not flagged else Condition.HOLD


def threshold_condition(params: ThresholdParams, value: float, grade: int) -> Condition:
    """Open at ``value >= open_level`` or ``grade >= open_grade``; otherwise close at
    ``value <= close_level``.

    >>> params = ThresholdParams()
    >>> [threshold_condition(params, v, g).value for v, g in ((5.1, 4), (4.8, 3), (4.5, 3))]
    ['open', 'hold', 'close']
    """
    level, grade_at = params.open_level, params.open_grade
    if (level is not None and value >= level) or (grade_at is not None and grade >= grade_at):
        return Condition.OPEN
    return Condition.CLOSE if value <= params.close_level else Condition.HOLD


def stale_condition(params: StaleParams, oldest_age_s: float) -> Condition:
    """Open when the oldest feed's age reaches ``silent_s``, close below it."""
    return Condition.OPEN if oldest_age_s >= params.silent_s else Condition.CLOSE


# --- configuration data -------------------------------------------------------------------------

_P = TypeVar("_P", bound=RuleParams)
_CLASSES: Final[dict[str, type[RuleParams]]] = {
    "spike": SpikeParams,
    "threshold": ThresholdParams,
    "stale": StaleParams,
}


def alert_config_from_mapping(data: Mapping[str, object], where: str = "alerts") -> AlertConfig:
    """:class:`AlertConfig` from the city TOML's ``[alerts]`` table; ``where`` prefixes key paths.

    ``[alerts.spike]``, ``[alerts.threshold]`` and ``[alerts.stale]`` change the defaults (any
    subset of their fields); ``[alerts.domains.<domain>.<rule>]`` changes one domain's rule,
    merged over the changed defaults. Numbers may be integers or floats, ``open_level``,
    ``open_grade`` and ``resolve_timeout_s`` may be ``"none"``. Raises
    :class:`~indices.errors.InvalidConfig` naming the first bad key, e.g.
    ``alerts.threshold.close_level: must be below open_level (6.0), got 7.0``.
    """
    table = _table(data, where)
    _known(table, (*RULE_KINDS, "domains"), where, "key")
    defaults = _domain_rules(table, DomainRules(), where)
    domains: dict[str, DomainRules] = {}
    overrides = _table(table.get("domains", {}), f"{where}.domains")
    for domain in sorted(overrides):
        path = f"{where}.domains.{domain}"
        if domain not in ALERT_DOMAINS:
            known = ", ".join(ALERT_DOMAINS)
            raise InvalidConfig(f"{path}: unknown domain {domain!r}; known: {known}")
        entry = _table(overrides[domain], path)
        _known(entry, RULE_KINDS, path, "rule")
        domains[domain] = _domain_rules(entry, defaults, path)
    return AlertConfig(defaults, domains)


def alert_config_to_mapping(config: AlertConfig) -> dict[str, object]:
    """``config`` as TOML-friendly data that :func:`alert_config_from_mapping` reads back equal."""
    out: dict[str, object] = _rules_data(config.defaults)
    out["domains"] = {domain: _rules_data(rules) for domain, rules in config.domains.items()}
    return out


def _rules_data(rules: DomainRules) -> dict[str, object]:
    out: dict[str, object] = {}
    for kind in RULE_KINDS:
        values = dataclasses.asdict(rules.get(kind))
        out[kind] = {key: "none" if value is None else value for key, value in values.items()}
    return out


def _domain_rules(table: Mapping[str, object], base: DomainRules, where: str) -> DomainRules:
    return DomainRules(
        spike=_params(table.get("spike"), base.spike, f"{where}.spike"),
        threshold=_params(table.get("threshold"), base.threshold, f"{where}.threshold"),
        stale=_params(table.get("stale"), base.stale, f"{where}.stale"),
    )


def _params(data: object, base: _P, where: str) -> _P:
    if data is None:
        return base
    table = _table(data, where)
    hints = typing.get_type_hints(type(base))
    _known(table, tuple(spec.name for spec in dataclasses.fields(base)), where, "key")
    values = {key: _value(table[key], hints[key], f"{where}.{key}") for key in table}
    try:  # range checks; their messages start with the field name
        return dataclasses.replace(base, **values)
    except InvalidConfig as error:
        raise InvalidConfig(f"{where}.{error}") from error


def _value(value: object, kind: object, path: str) -> Any:
    """``value`` read as a field of type ``kind`` (bool, int, float, or one of them | None)."""
    options = typing.get_args(kind) or (kind,)
    optional = type(None) in options
    if optional and value == "none":
        return None
    if bool in options:
        if not isinstance(value, bool):
            raise InvalidConfig(f"{path}: expected true or false, got {_name(value)}")
        return value
    wanted = "an integer" if int in options else "a finite number"
    if optional:
        wanted += ' or "none"'
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConfig(f"{path}: expected {wanted}, got {_name(value)}")
    if int in options:
        if not isinstance(value, int):
            raise InvalidConfig(f"{path}: expected {wanted}, got {_name(value)}")
        return value
    if not math.isfinite(value):
        raise InvalidConfig(f"{path}: expected {wanted}, got {_name(value)}")
    return float(value)


def _table(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidConfig(f"{path}: expected a table, got {_name(value)}")
    return dict(value)


def _known(table: Mapping[str, object], keys: tuple[str, ...], where: str, label: str) -> None:
    for key in sorted(table):
        if key not in keys:
            raise InvalidConfig(f"{where}.{key}: unknown {label}; known: {', '.join(keys)}")


def _name(value: object) -> str:
    return "a table" if isinstance(value, Mapping) else f"{type(value).__name__} {value!r}"
