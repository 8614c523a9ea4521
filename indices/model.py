"""What goes into the index model and what comes out: districts, events, scores.

All plain frozen dataclasses; :mod:`streams` converts its wire messages into these at the edge.
Events validate themselves on construction and raise :class:`~indices.errors.InvalidEvent`, so an
event that exists is one the model can use. Times are epoch seconds (floats), never datetimes.

>>> IncidentIn("gimpo-fire:981", "fire", severity=3, t=1_795_000_000.0)
IncidentIn(key='gimpo-fire:981', type='fire', severity=3, t=1795000000.0, casualties=0)
>>> IncidentIn("gimpo-fire:982", "fire", severity=9, t=0.0)
Traceback (most recent call last):
...
indices.errors.InvalidEvent: severity must be an integer 1..5, got 9 (event gimpo-fire:982)
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Final, Literal

from indices.errors import InvalidConfig, InvalidEvent
from indices.taxonomy import (
    FACILITY_KINDS,
    INCIDENT_TYPES,
    INSPECTION_GRADES,
    MAX_CASUALTIES,
    SENSOR_KINDS,
)

__all__ = [
    "MODEL_VERSION",
    "District",
    "DomainScores",
    "Event",
    "FacilityIn",
    "GroupScores",
    "IncidentIn",
    "InspectionIn",
    "Outcome",
    "ReadingIn",
    "Scores",
    "WithdrawIn",
]

# Published with every score so a consumer can tell which formulas produced it. Bump it whenever a
# formula or a default parameter changes the numbers.
MODEL_VERSION: Final[str] = "riskmon-index/0.2"

Outcome = Literal[
    "applied",
    "duplicate",
    "conflict",
    "unknown_gauge",
    "unmapped_type",
    "over_capacity",
    "withdrawn",
]


def _check_time(t: float, what: str) -> None:
    if not math.isfinite(t):
        raise InvalidEvent(f"time must be finite epoch seconds, got {t!r} ({what})")


def _check_choice(value: str, allowed: Container[str], name: str, what: str) -> None:
    if value not in allowed:
        raise InvalidEvent(f"unknown {name} {value!r} ({what}); see indices.taxonomy")


@dataclass(frozen=True, slots=True)
class District:
    """A district the indices are computed for; ``population`` residents on ``area_km2``."""

    code: str
    name: str
    population: int
    area_km2: float

    def __post_init__(self) -> None:
        if self.population < 0:
            raise InvalidConfig(f"district {self.code}: population must be >= 0")
        if not (math.isfinite(self.area_km2) and self.area_km2 > 0):
            raise InvalidConfig(f"district {self.code}: area_km2 must be a positive number")


@dataclass(frozen=True, slots=True)
class IncidentIn:
    """An incident; ``key`` is ``"source:id"`` (the dedup key), ``severity`` 1 minor .. 5."""

    key: str
    type: str
    severity: int
    t: float
    casualties: int = 0

    def __post_init__(self) -> None:
        _check_choice(self.type, INCIDENT_TYPES, "incident type", f"event {self.key}")
        if isinstance(self.severity, bool) or self.severity not in (1, 2, 3, 4, 5):
            raise InvalidEvent(
                f"severity must be an integer 1..5, got {self.severity!r} (event {self.key})"
            )
        if isinstance(self.casualties, bool) or not isinstance(self.casualties, int):
            raise InvalidEvent(f"casualties must be an integer (event {self.key})")
        if not 0 <= self.casualties <= MAX_CASUALTIES:
            raise InvalidEvent(
                f"casualties must be 0..{MAX_CASUALTIES}, got {self.casualties} (event {self.key})"
            )
        _check_time(self.t, f"event {self.key}")


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """One sensor observation; only the newest reading per ``sensor_id`` counts."""

    sensor_id: str
    kind: str
    value: float
    t: float

    def __post_init__(self) -> None:
        _check_choice(self.kind, SENSOR_KINDS, "sensor kind", f"sensor {self.sensor_id}")
        if not math.isfinite(self.value):
            raise InvalidEvent(f"reading value must be finite (sensor {self.sensor_id})")
        _check_time(self.t, f"sensor {self.sensor_id}")


@dataclass(frozen=True, slots=True)
class FacilityIn:
    """A safety facility put into (``present=True``) or taken out of service at ``t``."""

    key: str
    facility_id: str
    facility: str
    present: bool
    t: float

    def __post_init__(self) -> None:
        _check_choice(self.facility, FACILITY_KINDS, "facility kind", f"fact {self.key}")
        if not isinstance(self.present, bool):
            raise InvalidEvent(f"present must be a bool (fact {self.key})")
        _check_time(self.t, f"fact {self.key}")


@dataclass(frozen=True, slots=True)
class InspectionIn:
    """A structure's inspection grade (시설물안전법: A excellent .. E bad), effective at ``t``."""

    key: str
    structure_id: str
    grade: str
    t: float

    def __post_init__(self) -> None:
        _check_choice(self.grade, INSPECTION_GRADES, "inspection grade", f"fact {self.key}")
        _check_time(self.t, f"fact {self.key}")


@dataclass(frozen=True, slots=True)
class WithdrawIn:
    """Incident ``key``'s effect ends at ``t``: a CAP alert cancelled, superseded or expired.

    From then on the incident counts for nothing (as if it had never been applied) and a copy of
    it arriving later is ignored. ``type`` is the incident's type, so the withdrawal can be shown
    as a driver of its domain even when it arrives before the incident.
    """

    key: str
    type: str
    t: float

    def __post_init__(self) -> None:
        _check_choice(self.type, INCIDENT_TYPES, "incident type", f"withdrawal {self.key}")
        _check_time(self.t, f"withdrawal {self.key}")


Event = IncidentIn | ReadingIn | FacilityIn | InspectionIn | WithdrawIn


@dataclass(frozen=True, slots=True)
class DomainScores:
    """One domain's scores, all on 0-10 (10 worst) except ``intensity`` and ``background``.

    ``hazard`` is hazard & exposure (``incident_hazard`` combined with ``sensor_hazard``), ``risk``
    the INFORM geometric mean with vulnerability and lack of coping capacity, ``grade`` its class
    1 (very low) .. 5. ``intensity`` is the decayed, severity-weighted incident load I (>= 0);
    ``background`` the load B that routine incidents at the background rate keep up on average
    (>= 0), so ``intensity / background`` says how unusual the moment is.
    """

    hazard: float
    risk: float
    grade: int
    intensity: float
    sensor_hazard: float
    incident_hazard: float = 0.0
    background: float = 0.0


@dataclass(frozen=True, slots=True)
class GroupScores:
    """One risk type's scores (natural 재해, calamity 재난, crime 범죄), on 0-10 (10 worst).

    ``hazard`` combines its member domains' hazards like independent probabilities,
    ``10 (1 - Π (1 - HE_d / 10))``; ``risk`` and ``grade`` as for a domain.
    """

    hazard: float
    risk: float
    grade: int


@dataclass(frozen=True, slots=True)
class Scores:
    """A district's indices at one instant.

    ``domains`` has every domain of :data:`indices.taxonomy.DOMAINS` and ``groups`` every group of
    :data:`indices.taxonomy.GROUPS`. ``composite`` is the risk of ``hazard``, the combination of
    every domain's hazard (equal to the combination of the groups' hazards). ``safety`` is
    ``10 - coping_lack`` (10 = best). ``events`` counts the distinct incidents still inside their
    decay horizon. ``freshness_s`` maps each sensor kind seen to the age in seconds of its newest
    reading (negative if stamped after the evaluation time); kinds never seen are absent.
    ``confidence`` (0-1) is the mean freshness factor of those kinds (1 while the newest reading
    is within its validity, falling linearly to 0 at twice it; 1.0 without sensor data) and
    ``stale_feeds`` the kinds whose factor is below 1, sorted.
    """

    composite: float
    grade: int
    domains: dict[str, DomainScores]
    vulnerability: float
    coping_lack: float
    safety: float
    events: int
    freshness_s: dict[str, float]
    groups: dict[str, GroupScores] = field(default_factory=dict)
    confidence: float = 1.0
    stale_feeds: tuple[str, ...] = ()
    hazard: float = 0.0
