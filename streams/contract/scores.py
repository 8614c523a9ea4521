"""What the worker makes: ``riskmon.located`` (:class:`LocatedEvent`, keyed by district code) and
``riskmon.scores`` (:class:`ScoreUpdate`, keyed by district code), with their parts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AwareDatetime,
    Field,
    model_validator,
)

from streams.contract.base import INTERNAL_FORMAT, DistrictCode, RecordFormat, WireModel
from streams.contract.inputs import (
    Incident,
    IncidentWithdrawal,
    InputEvent,
    SafetyFact,
    SensorReading,
)


class LocatedEvent(WireModel):
    """A validated input placed in a district (and an H3 cell when it came with a point)."""

    format: RecordFormat = INTERNAL_FORMAT

    kind: Literal["incident", "reading", "safety", "withdrawal"]
    district: DistrictCode
    h3: str | None = None
    received_at: AwareDatetime
    origin: str = Field(description="topic/partition/offset the event was read from")
    incident: Incident | None = None
    reading: SensorReading | None = None
    safety: SafetyFact | None = None
    withdrawal: IncidentWithdrawal | None = None

    @model_validator(mode="after")
    def _payload_matches_kind(self) -> LocatedEvent:
        held = (
            (self.incident is not None)
            + (self.reading is not None)
            + (self.safety is not None)
            + (self.withdrawal is not None)
        )
        if held == 1 and getattr(self, self.kind) is not None:
            return self
        present = [
            name
            for name in ("incident", "reading", "safety", "withdrawal")
            if getattr(self, name) is not None
        ]
        raise ValueError(f"a {self.kind!r} event carries exactly its own payload, got {present}")

    @property
    def event(self) -> InputEvent:
        event = self.incident or self.reading or self.safety or self.withdrawal
        assert event is not None  # guaranteed by the validator
        return event


class Driver(WireModel):
    """An event that moved a district's index in this update."""

    event_id: str = Field(description="'source:id' for incidents and facts, sensor id for readings")
    type: str = Field(description="incident type, sensor kind, or safety fact kind")
    domain: str
    contribution: float = Field(description="its share of the domain hazard (0-10 scale) at as_of")


class Composite(WireModel):
    value: float = Field(ge=0, le=10)
    grade: int = Field(ge=1, le=5)


class DomainScore(WireModel):
    hazard: float = Field(ge=0, le=10, description="hazard & exposure, 0-10")
    risk: float = Field(ge=0, le=10, description="(hazard * vulnerability * lack of coping)^(1/3)")
    grade: int = Field(ge=1, le=5)
    intensity: float = Field(ge=0, description="decayed severity-weighted incident intensity")
    sensor_hazard: float = Field(ge=0, le=10)


class GroupScore(WireModel):
    """One of the three risk types: natural 재해, calamity 재난, crime 범죄."""

    hazard: float = Field(ge=0, le=10, description="hazards of its domains combined")
    risk: float = Field(ge=0, le=10)
    grade: int = Field(ge=1, le=5)


class Delta(WireModel):
    composite: float
    safety: float
    domains: dict[str, float] = Field(description="change of each domain's risk")


class DistrictScores(WireModel):
    """A district's indices at ``as_of`` (what ``riskmon score`` prints per district)."""

    district: DistrictCode
    name: str
    as_of: AwareDatetime
    model_version: str
    composite: Composite
    domains: dict[str, DomainScore]
    groups: dict[str, GroupScore] = Field(description="natural, calamity, crime")
    vulnerability: float = Field(ge=0, le=10)
    coping_lack: float = Field(ge=0, le=10)
    safety: float = Field(ge=0, le=10, description="안전도: 10 - lack of coping capacity")
    confidence: float = Field(ge=0, le=1, description="1 = every sensor feed is fresh")
    freshness_s: dict[str, float] = Field(description="sensor kind -> age of its newest reading")
    stale_feeds: list[str] = Field(description="sensor kinds past their validity")
    events: int = Field(ge=0, description="distinct incidents counted in this district's state")
    contributors: dict[str, list[Driver]] = Field(
        description="per domain: the events and readings that explain its hazard now, largest first"
    )


class Basis(WireModel):
    """Which events a score reflects: those read from ``riskmon.located`` partition ``partition``
    below offset ``next_offset`` (so a replay from stored events reproduces it exactly)."""

    partition: int = Field(ge=0)
    next_offset: int = Field(ge=0)


class ScoreUpdate(DistrictScores):
    """A change of a district's indices; published on ``riskmon.scores`` keyed by district code.

    ``drivers`` are the events of this batch that moved it; ``contributors`` explain, for each
    domain that changed, its whole current hazard.
    """

    format: RecordFormat = INTERNAL_FORMAT

    seq: int = Field(ge=0, description="per district, strictly increasing, also across restarts")
    reason: Literal["events", "tick", "recovered"]
    delta: Delta
    drivers: list[Driver]
    basis: Basis | None = Field(
        default=None, description="the located-events position these scores reflect"
    )
