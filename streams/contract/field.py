"""The field page's HTTP messages (docs/field.md): an inspector's report and the gateway's answer,
and the structures and facilities found near a position.

``POST /api/field/reports`` takes a :class:`FieldReport` (JSON, photos base64-encoded) and answers
a :class:`FieldReportAnswer`; ``GET /api/field/structures`` answers a :class:`StructuresResponse`.
The fact a report becomes is an ordinary :class:`~streams.contract.inputs.InspectionFact` or
:class:`~streams.contract.inputs.FacilityFact` on ``riskmon.safety``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from streams.contract.base import (
    DistrictCode,
    FacilityKind,
    Identifier,
    Text,
    Timestamp,
    WireModel,
)
from streams.contract.inputs import FacilityFact, InspectionFact

__all__ = [
    "MAX_NOTE",
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "REPORT_ID_PATTERN",
    "FieldReport",
    "FieldReportAnswer",
    "PhotoUpload",
    "StructureMatch",
    "StructuresResponse",
]

MAX_PHOTOS = 4
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # one photo, decoded
MAX_PHOTO_BASE64 = (MAX_PHOTO_BYTES + 2) // 3 * 4  # the same in base64 characters
MAX_NOTE = 1000
# A client-made id (the page uses crypto.randomUUID()): 8-60 letters, digits and hyphens, so the
# fact id "<user>:<report_id>" stays within the contract's 128 characters.
REPORT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{7,59}$"
FieldNote = Annotated[Text, Field(max_length=MAX_NOTE)]


class PhotoUpload(WireModel):
    """One photo: its bytes base64-encoded (standard alphabet, padded). Its type is read from
    the bytes (JPEG, PNG or WebP), never from a name or a claimed type."""

    data: str = Field(min_length=4, max_length=MAX_PHOTO_BASE64)


class FieldReport(WireModel):
    """``POST /api/field/reports``: one inspection grade or one facility change, seen at a point.

    ``report_id`` is made by the client once per report; sending the same report again (a lost
    answer, a retry after going back online) gives the same answer and the same fact.
    ``observed_at`` is when the inspector made the report (it may be sent much later) and becomes
    the fact's ``effective_at``. Photos lose their EXIF metadata (GPS position, camera, time)
    unless ``keep_location`` is true.
    """

    report_id: str = Field(pattern=REPORT_ID_PATTERN)
    kind: Literal["inspection", "facility"]
    structure_id: Identifier | None = None
    grade: Literal["A", "B", "C", "D", "E"] | None = None
    facility_id: Identifier | None = None
    facility: FacilityKind | None = None
    action: Literal["added", "removed"] | None = Field(
        default=None, description="'removed' also means out of service"
    )
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    observed_at: Timestamp
    note: FieldNote | None = None
    keep_location: bool = False
    photos: list[PhotoUpload] = Field(default_factory=list, max_length=MAX_PHOTOS)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> FieldReport:
        inspection = (self.structure_id, self.grade)
        facility = (self.facility_id, self.facility, self.action)
        if self.kind == "inspection":
            if None in inspection or any(v is not None for v in facility):
                raise ValueError("an inspection gives structure_id and grade, and nothing else")
        elif None in facility or any(v is not None for v in inspection):
            raise ValueError("a facility report gives facility_id, facility and action only")
        return self


class FieldReportAnswer(WireModel):
    """What became of a report: the fact published for it (``status`` ``published``), or
    ``received`` when it is stored but the broker has not confirmed it yet (send it again).
    ``duplicate`` is true when the report had been received before (the same answer again)."""

    report_id: str
    fact_id: str
    source: str
    status: Literal["received", "published"]
    duplicate: bool
    district: DistrictCode
    fact: InspectionFact | FacilityFact = Field(discriminator="fact")
    photos: int
    created_at: AwareDatetime


class StructureMatch(WireModel):
    """A structure (inspection grades) or facility known from the safety facts in history: its
    newest fact, where it is, and how far from the asked position."""

    kind: Literal["structure", "facility"]
    id: str
    source: str
    district: DistrictCode
    district_name: str
    lat: float | None
    lon: float | None
    distance_m: float | None
    grade: Literal["A", "B", "C", "D", "E"] | None = None
    facility: str | None = None
    action: Literal["added", "removed"] | None = None
    effective_at: AwareDatetime


class StructuresResponse(WireModel):
    """``GET /api/field/structures``: nearest first (those without a point last), at most
    ``limit``."""

    structures: list[StructureMatch]
