"""The public open-data document, ``GET /open/districts.geojson`` (docs/public.md): an RFC 7946
FeatureCollection with one Feature per district and its delayed, graded scores. Built by
:func:`dashboard_ws.public.geojson.document`; these models are its schema (exported as
``open-districts.schema.json`` and in the OpenAPI document), checked against built documents by
the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from streams.contract.base import DistrictCode, WireModel

__all__ = [
    "OpenBoundaries",
    "OpenDistrictFeature",
    "OpenDistrictProperties",
    "OpenDistrictsDocument",
    "OpenGradeScale",
    "OpenGrades",
]

Grade = int | None


class OpenGrades(WireModel):
    """A district's public grades, 1 (very low) .. 5 (very high), null when nothing is known or
    the district is withheld. ``safety`` is graded like a risk: 1 = the best coping capacity."""

    overall: Grade = Field(ge=1, le=5)
    safety: Grade = Field(ge=1, le=5)
    natural: Grade = Field(ge=1, le=5, description="재해 natural hazards")
    calamity: Grade = Field(ge=1, le=5, description="재난 accidents and fires")
    crime: Grade = Field(ge=1, le=5, description="범죄 crime")


class OpenDistrictProperties(WireModel):
    code: DistrictCode
    name_ko: str
    name_en: str
    grades: OpenGrades
    withheld: bool = Field(description="too few residents to publish grades (all grades null)")
    model_version: str | None = Field(description="the index model of its grades")


class OpenDistrictFeature(WireModel):
    type: Literal["Feature"]
    id: DistrictCode
    properties: OpenDistrictProperties
    geometry: dict[str, Any] = Field(
        description="GeoJSON Polygon or MultiPolygon, simplified as a coverage (neighbours "
        "still share their borders), coordinates rounded to 5 decimals"
    )


class OpenGradeScale(WireModel):
    names: list[str] = Field(description="the grades of every feature, in this order")
    min: int
    max: int
    meaning: str
    groups: dict[str, str] = Field(description="the three risk types and their Korean names")
    delay: str = Field(description="which instant the grades describe")


class OpenBoundaries(WireModel):
    attribution: str | None = Field(description="of the district boundaries, as the city says")
    license: str | None
    approximate: bool = Field(description="true when the boundaries are not official")
    simplification: str


class OpenDistrictsDocument(WireModel):
    """``GET /open/districts.geojson``: every district's grades as of the last full hour at
    least an hour ago, with no place, time, id or text of any event."""

    type: Literal["FeatureCollection"]
    name: str = Field(description="the city")
    as_of: AwareDatetime = Field(description="the instant the grades describe (a full hour)")
    published_at: AwareDatetime
    next_update_at: AwareDatetime
    timezone: str = Field(description="IANA time zone residents read the hour in")
    model_versions: list[str]
    grades: OpenGradeScale
    boundaries: OpenBoundaries
    features: list[OpenDistrictFeature]
