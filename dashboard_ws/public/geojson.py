"""The open data document ``GET /open/districts.geojson`` (pure: no I/O).

An RFC 7946 FeatureCollection, one Feature per district, ``id`` its code::

    {"type": "FeatureCollection",
     "as_of": "2026-12-05T13:00:00Z",         # the instant the grades describe (a full hour)
     "published_at": "2026-12-05T14:00:00Z", "next_update_at": "2026-12-05T15:00:00Z",
     "timezone": "Asia/Seoul",
     "model_versions": ["..."], "grades": {...the scale...}, "boundaries": {...licence...},
     "features": [{"type": "Feature", "id": "4157056000",
                   "properties": {"code", "name_ko", "name_en", "grades": {"overall", "safety",
                                  "natural", "calamity", "crime"}, "withheld", "model_version"},
                   "geometry": {...simplified MultiPolygon...}}]}

Boundaries are simplified as a coverage (:func:`shapely.coverage_simplify`: shared borders stay
shared, no gaps or overlaps appear) with tolerance :data:`TOLERANCE_DEG` degrees, then rounded
to :data:`COORDINATE_DECIMALS` decimals (≈ 1 m). Only the city's own polygons and the grades of
:mod:`~dashboard_ws.public.disclosure` go in: no place, time, id or text of any event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely

from dashboard_ws.public.disclosure import PUBLIC_GRADES, Publication, PublicGrades
from streams.city.map import CityMap

__all__ = [
    "COORDINATE_DECIMALS",
    "TOLERANCE_DEG",
    "BoundarySource",
    "document",
    "encode",
    "etag_of",
    "simplified_boundaries",
]

# ≈ 33 m north-south and ≈ 26 m east-west at Gimpo's latitude (37.6° N): a district's outline
# stays recognisable on a phone at city zoom, and the document is about half the original size.
TOLERANCE_DEG = 0.0003
COORDINATE_DECIMALS = 5
GRADE_SCALE = {
    "min": 1,
    "max": 5,
    "meaning": "1 very low .. 5 very high risk; for safety, 1 = the best safety capacity",
    "groups": {
        "natural": "재해 natural hazards",
        "calamity": "재난 accidents and fires",
        "crime": "범죄 crime",
    },
    "delay": "the grades describe as_of, the last full hour at least one hour before publication",
}


@dataclass(frozen=True)
class BoundarySource:
    """Where the district polygons come from, as the city configuration says."""

    attribution: str | None
    license: str | None
    approximate: bool


def simplified_boundaries(
    city: CityMap, tolerance: float = TOLERANCE_DEG
) -> dict[str, dict[str, Any]]:
    """Each district's GeoJSON geometry (code -> mapping), simplified together as a coverage and
    rounded to :data:`COORDINATE_DECIMALS` decimals."""
    shapes = [city.districts[code].geometry for code in city.codes]
    simpler = shapely.coverage_simplify(shapes, tolerance) if tolerance > 0 else shapes
    grid = 10.0**-COORDINATE_DECIMALS
    out = {}
    for code, shape, original in zip(city.codes, simpler, shapes, strict=True):
        rounded = shapely.set_precision(shape, grid)
        if rounded.is_empty or not rounded.is_valid:  # a sliver district: keep its outline
            rounded = shapely.set_precision(original, grid)
        out[code] = _rounded(shapely.geometry.mapping(rounded))
    return out


def _rounded(mapping: Any) -> Any:
    """Coordinates as rounded floats (set_precision leaves binary noise such as 37.63100000001)."""
    if isinstance(mapping, dict):
        return {key: _rounded(value) for key, value in mapping.items()}
    if isinstance(mapping, list | tuple):
        return [_rounded(value) for value in mapping]
    if isinstance(mapping, float):
        return round(mapping, COORDINATE_DECIMALS)
    return mapping


def document(
    city: CityMap,
    boundaries: Mapping[str, dict[str, Any]],
    grades: Mapping[str, PublicGrades],
    versions: Mapping[str, str],
    when: Publication,
    source: BoundarySource,
    *,
    tolerance: float = TOLERANCE_DEG,
    timezone: str = "Asia/Seoul",
) -> dict[str, Any]:
    """The FeatureCollection: every district of ``city`` with its ``grades`` (None grades for a
    district missing from it) and the model version of its scores (``versions``, by code)."""
    features = []
    for code in city.codes:
        district = city.districts[code]
        public = grades.get(code, PublicGrades())
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {
                    "code": code,
                    "name_ko": district.name_ko,
                    "name_en": district.name_en,
                    "grades": public.as_dict(),
                    "withheld": public.withheld,
                    "model_version": None if public.withheld else versions.get(code),
                },
                "geometry": boundaries[code],
            }
        )
    return {
        "type": "FeatureCollection",
        "name": city.name,
        "as_of": _utc(when.as_of),
        "published_at": _utc(when.published_at),
        "next_update_at": _utc(when.next_at),
        "timezone": timezone,  # the city's, for showing the hour as residents read it
        "model_versions": sorted(set(versions.values())),
        "grades": {"names": list(PUBLIC_GRADES), **GRADE_SCALE},
        "boundaries": {
            "attribution": source.attribution,
            "license": source.license,
            "approximate": source.approximate,
            "simplification": (
                f"shapely.coverage_simplify, tolerance {tolerance:g} degrees; "
                f"coordinates rounded to {COORDINATE_DECIMALS} decimals"
            ),
        },
        "features": features,
    }


def encode(doc: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (Korean names stay readable)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def etag_of(body: bytes) -> str:
    """A strong entity tag of ``body`` (its SHA-256, shortened).

    >>> etag_of(b"{}")
    '"44136fa355b3678a1146ad16f7e8649e"'
    """
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
