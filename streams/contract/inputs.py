"""What agencies publish: ``riskmon.incidents`` (:class:`Incident`), ``riskmon.readings``
(:class:`SensorReading`), ``riskmon.safety`` (:data:`SafetyFact`: :class:`InspectionFact` |
:class:`FacilityFact`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    TypeAdapter,
    model_validator,
)

from indices.taxonomy import MAX_CASUALTIES, SENSOR_KINDS, SENSOR_RANGES
from streams.contract.base import (
    DistrictCode,
    FacilityKind,
    Identifier,
    IncidentType,
    Note,
    SensorKind,
    Timestamp,
    WireModel,
)


class _Located(WireModel):
    """A location: either a WGS84 point (``lat`` and ``lon``) or a 10-digit district ``code``."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    code: DistrictCode | None = None

    @model_validator(mode="after")
    def _one_location(self) -> _Located:
        has_point = self.lat is not None or self.lon is not None
        if has_point and (self.lat is None or self.lon is None):
            raise ValueError("a point needs both lat and lon")
        if not has_point and self.code is None:
            raise ValueError("give a location: lat and lon (WGS84), or a district code")
        return self


class Incident(_Located):
    """An incident reported by an agency (fire service, police, city hall, ...).

    ``id`` is unique per ``source``; publishing the same (source, id) again is a redelivery
    and never counts twice.
    """

    id: Identifier
    source: Identifier = Field(description="publishing agency, e.g. 'gimpo-fire'")
    type: IncidentType
    severity: int = Field(ge=1, le=5, strict=True, description="1 minor .. 5 catastrophic")
    occurred_at: Timestamp
    casualties: int = Field(default=0, ge=0, le=MAX_CASUALTIES, strict=True)
    description: Note | None = None
    status: Literal["reported", "responding", "contained", "closed"] | None = None


class SensorReading(_Located):
    """One observation of a sensor; the newest reading per ``sensor_id`` is the one that counts."""

    sensor_id: Identifier
    source: Identifier = "sensor-network"
    kind: SensorKind
    value: float = Field(allow_inf_nan=False)
    observed_at: Timestamp

    @model_validator(mode="after")
    def _plausible(self) -> SensorReading:
        low, high = SENSOR_RANGES[self.kind]
        if not low <= self.value <= high:
            unit = SENSOR_KINDS[self.kind]
            raise ValueError(
                f"{self.kind} {self.value:g} {unit} is not a plausible reading "
                f"(accepted {low:g} to {high:g} {unit}): a faulty or forged sensor"
            )
        return self


class InspectionFact(_Located):
    """A structure's safety-inspection grade (시설물안전법: A excellent .. E bad)."""

    fact: Literal["inspection"] = "inspection"
    id: Identifier
    source: Identifier
    structure_id: Identifier
    grade: Literal["A", "B", "C", "D", "E"]
    effective_at: Timestamp


class FacilityFact(_Located):
    """A safety facility (CCTV, hydrant, ...) added to or removed from service."""

    fact: Literal["facility"] = "facility"
    id: Identifier
    source: Identifier
    facility_id: Identifier
    facility: FacilityKind
    action: Literal["added", "removed"]
    effective_at: Timestamp


SafetyFact = Annotated[InspectionFact | FacilityFact, Field(discriminator="fact")]


SAFETY_FACT: TypeAdapter[InspectionFact | FacilityFact] = TypeAdapter(SafetyFact)


class IncidentWithdrawal(WireModel):
    """The end of incident (``source``, ``id``)'s effect at ``withdrawn_at``: from then on it counts
    for nothing, and a copy of it arriving later is ignored.

    Made by riskmon's CAP stage when an alert is cancelled, superseded by an Update or expires
    (``by`` names the message that ended it as ``sender,identifier``); carried on the internal
    topics only (riskmon.identity, riskmon.located) and kept in history like any event.
    """

    source: Identifier
    id: Identifier
    type: IncidentType = Field(description="the withdrawn incident's type (its domain)")
    withdrawn_at: Timestamp
    reason: Literal["cancelled", "superseded", "expired"]
    by: Note | None = Field(default=None, description="'sender,identifier' of the ending message")


InputEvent = Incident | SensorReading | InspectionFact | FacilityFact | IncidentWithdrawal
