"""CAP areas → the city's districts, with each district's share.

:func:`cover` takes the areas of an alert (all of its ``info`` blocks: the languages describe the
same place) and the city's :class:`~streams.city.map.CityMap`, and answers which districts the
alert covers and how much of each:

* ``district_fraction`` — the part of the district's area inside the alert's area (0..1]; the
  weight an index effect should get;
* ``area_fraction`` — the part of the alert's area (inside the city) that lies in the district.

What counts as the alert's area is the union of every

* ``polygon`` (``lat,lon`` rings, made valid with shapely when a ring crosses itself, noted);
* ``circle``, approximated by a geodesic polygon of :data:`CIRCLE_VERTICES` vertices on the
  WGS84 ellipsoid (``pyproj.Geod``); without pyproj, by the destination-point formula on a sphere
  of the mean Earth radius (within 0.5 % of the ellipsoid at any latitude). A circle smaller than
  :data:`MIN_RADIUS_KM` (CAP's radius 0 is a point) is drawn with that radius;
* ``geocode`` of a known scheme, taken as the named districts' own polygons. Built in:
  ``행정구역코드`` (and ``법정동코드``, ``행정동코드``, ``admin_code``): Korea's 10-digit
  administrative codes, where trailing zeros widen the code to its level — ``4157000000``
  (or ``41570``) is all of 김포시, ``4100000000`` all of 경기도, ``4157056000`` one 동. More
  schemes come as tables (``GeocodeTable``: value → district codes), e.g. a city's own zones.

Geocodes of unknown schemes, or whose value names no district of the city, are reported in
``unmatched`` (an area can be outside the city: that is not an error). Areas are computed on the
local equirectangular projection of :func:`streams.city.map.geodesic_area_km2`. Areas that cross
the antimeridian or a pole are not supported (no city is there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import shapely

from streams.cap.model import CapAlert, CapArea, Circle, ValuePair
from streams.city.map import EARTH_RADIUS_M, CityMap, geodesic_area_km2

__all__ = [
    "ADMIN_CODE_SCHEMES",
    "AreaCoverage",
    "DistrictShare",
    "GeocodeTable",
    "circle_polygon",
    "cover",
    "districts_of_admin_code",
]

CIRCLE_VERTICES: Final = 64
MIN_RADIUS_KM: Final = 0.05
ADMIN_CODE_SCHEMES: Final = frozenset({"행정구역코드", "법정동코드", "행정동코드", "admin_code"})
_LEVELS: Final = (2, 5, 8, 10)  # 시도, 시군구, 읍면동, 리: the digits of each level

GeocodeTable = Mapping[str, Mapping[str, tuple[str, ...]]]
"""Configured geocode schemes: valueName → value → the district codes it names."""


@dataclass(frozen=True)
class DistrictShare:
    """How much of one district an alert covers (see the module's docstring)."""

    code: str
    district_fraction: float
    area_fraction: float


@dataclass(frozen=True)
class AreaCoverage:
    """The districts an alert covers, largest ``district_fraction`` first, and what was not
    placed: geocodes of unknown schemes or of no district, and notes (repaired polygons)."""

    shares: tuple[DistrictShare, ...]
    unmatched: tuple[ValuePair, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(share.code for share in self.shares)


def districts_of_admin_code(value: str, codes: Iterable[str]) -> tuple[str, ...]:
    """The district codes a Korean administrative code names.

    >>> districts_of_admin_code("4157000000", ["4157025000", "4157056000", "4128011000"])
    ('4157025000', '4157056000')
    >>> districts_of_admin_code("41570", ["4157025000", "4128011000"])
    ('4157025000',)
    >>> districts_of_admin_code("4157056000", ["4157056000", "4157057000"])
    ('4157056000',)
    """
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in _LEVELS:
        return ()
    significant = digits.rstrip("0")
    # the shortest level that holds every significant digit: 4157000000 -> "41570" (시군구)
    level = next(n for n in _LEVELS if n >= len(significant))
    prefix = digits[:level]
    return tuple(sorted(code for code in codes if code.startswith(prefix)))


def circle_polygon(circle: Circle, vertices: int = CIRCLE_VERTICES) -> shapely.Polygon:
    """A geodesic polygon (lon/lat) approximating ``circle``."""
    lat, lon = circle.center
    radius_m = max(circle.radius_km, MIN_RADIUS_KM) * 1000.0
    azimuths = [360.0 * i / vertices for i in range(vertices)]
    try:
        from pyproj import Geod
    except ImportError:  # pragma: no cover - exercised when pyproj is absent
        ring = [_destination(lat, lon, az, radius_m) for az in azimuths]
    else:
        geod = Geod(ellps="WGS84")
        lons, lats, _ = geod.fwd(
            [lon] * vertices, [lat] * vertices, azimuths, [radius_m] * vertices
        )
        ring = list(zip(lons, lats, strict=True))
    return shapely.Polygon(ring)


def _destination(
    lat: float, lon: float, azimuth_deg: float, distance_m: float
) -> tuple[float, float]:
    """(lon, lat) at ``distance_m`` from (lat, lon) along ``azimuth_deg`` on a sphere
    (the great-circle destination formula, e.g. Williams' Aviation Formulary)."""
    phi1, lam1, theta = math.radians(lat), math.radians(lon), math.radians(azimuth_deg)
    delta = distance_m / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    return (math.degrees(lam2), math.degrees(phi2))


def _area_geometry(
    area: CapArea, city: CityMap, tables: GeocodeTable, path: str
) -> tuple[list[shapely.Geometry], list[ValuePair], list[str]]:
    parts: list[shapely.Geometry] = []
    unmatched: list[ValuePair] = []
    notes: list[str] = []
    for i, ring in enumerate(area.polygons):
        polygon = shapely.Polygon([(lon, lat) for lat, lon in ring])
        if not polygon.is_valid:
            notes.append(f"{path}/polygon[{i}]: not a simple ring; repaired (shapely make_valid)")
            polygon = shapely.make_valid(polygon)
        parts.append(polygon)
    parts.extend(circle_polygon(circle) for circle in area.circles)
    for geocode in area.geocodes:
        named = _geocode_districts(geocode, city, tables)
        if not named:
            unmatched.append(geocode)
        parts.extend(city.districts[code].geometry for code in named)
    return parts, unmatched, notes


def _geocode_districts(geocode: ValuePair, city: CityMap, tables: GeocodeTable) -> tuple[str, ...]:
    if geocode.name in tables:
        return tuple(c for c in tables[geocode.name].get(geocode.value, ()) if c in city.districts)
    if geocode.name in ADMIN_CODE_SCHEMES:
        return districts_of_admin_code(geocode.value, city.codes)
    return ()


def cover(
    alert: CapAlert | Iterable[CapArea], city: CityMap, tables: GeocodeTable | None = None
) -> AreaCoverage:
    """The districts of ``city`` that the areas of ``alert`` (every info block) cover."""
    areas = (
        [
            (f"info[{i}]/area[{j}]", a)
            for i, info in enumerate(alert.infos)
            for j, a in enumerate(info.areas)
        ]
        if isinstance(alert, CapAlert)
        else [(f"area[{j}]", a) for j, a in enumerate(alert)]
    )
    parts: list[shapely.Geometry] = []
    unmatched: list[ValuePair] = []
    notes: list[str] = []
    for path, area in areas:
        found, missed, said = _area_geometry(area, city, tables or {}, path)
        parts += found
        unmatched += [m for m in missed if m not in unmatched]
        notes += said
    if not parts:
        return AreaCoverage((), tuple(unmatched), tuple(notes))
    whole = shapely.union_all(parts)
    inside = [
        (code, shapely.intersection(city.districts[code].geometry, whole)) for code in city.codes
    ]
    overlap = {code: geodesic_area_km2(g) for code, g in inside if not g.is_empty}
    total = sum(overlap.values())
    shares = [
        DistrictShare(
            code=code,
            district_fraction=min(1.0, km2 / city.districts[code].area_km2),
            area_fraction=km2 / total,
        )
        for code, km2 in overlap.items()
        if km2 > 0
    ]
    shares.sort(key=lambda s: (-s.district_fraction, s.code))
    return AreaCoverage(tuple(shares), tuple(unmatched), tuple(notes))
