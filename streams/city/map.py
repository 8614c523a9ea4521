"""The city: its districts (polygons, population) and how a point is placed in one of them.

:func:`load_city` builds the map from a city folder's GeoJSON and population CSV (see
:mod:`streams.city.config`; riskmon ships no boundary data).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3
import numpy as np
import shapely
from shapely.geometry import shape
from shapely.strtree import STRtree

from indices import District

H3_RESOLUTION = 9  # ~0.1 km² hexagons: street-block scale for heat maps
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class DistrictInfo:
    """One district: its code, names, kind (eup/myeon/dong), population and polygon."""

    code: str
    name_ko: str
    name_en: str
    kind: str
    population: int
    area_km2: float
    geometry: shapely.Geometry

    def as_model_input(self) -> District:
        return District(
            code=self.code, name=self.name_ko, population=self.population, area_km2=self.area_km2
        )


class CityMap:
    """Districts of one city with a spatial index; :meth:`locate` finds the district of a point."""

    def __init__(self, name: str, districts: list[DistrictInfo]) -> None:
        if not districts:
            raise ValueError("a city needs at least one district")
        self.name = name
        self.districts: dict[str, DistrictInfo] = {d.code: d for d in districts}
        self.codes: tuple[str, ...] = tuple(sorted(self.districts))
        self._geoms = [self.districts[c].geometry for c in self.codes]
        for geom in self._geoms:
            shapely.prepare(geom)
        self._tree = STRtree(self._geoms)
        west, south, east, north = (float(v) for v in shapely.total_bounds(self._geoms))
        self.bounds = (west, south, east, north)

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the district containing (lat, lon), or None outside the city.

        A point exactly on a shared border goes to the district with the smallest code.
        """
        point = shapely.Point(lon, lat)
        for index in sorted(self._tree.query(point, predicate="intersects").tolist()):
            return self.codes[int(index)]
        return None

    def locate_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """:meth:`locate` of many points in one vectorised query (shapely 2 arrays): the same
        answers, including the smallest code on a shared border, at a fraction of the cost per
        point."""
        if not lats:
            return []
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        found = np.full(len(points), len(self.codes), dtype=np.int64)
        inputs, trees = self._tree.query(points, predicate="intersects")
        np.minimum.at(found, inputs, trees)
        return [self.codes[i] if i < len(self.codes) else None for i in found.tolist()]

    def h3_cell(self, lat: float, lon: float) -> str:
        """The H3 cell (resolution 9) of a point, for heat maps."""
        cell: str = h3.latlng_to_cell(lat, lon, H3_RESOLUTION)
        return cell

    def adjacency(self, tolerance_deg: float = 1e-5) -> dict[str, frozenset[str]]:
        """Neighbours of each district: polygons that touch, within ``tolerance_deg`` (about
        1 m), since generalised boundaries may leave hairline gaps or overlaps."""
        grown = [geom.buffer(tolerance_deg) for geom in self._geoms]
        neighbours: dict[str, set[str]] = {code: set() for code in self.codes}
        for i, area in enumerate(grown):
            for j in self._tree.query(area, predicate="intersects").tolist():
                if int(j) != i:
                    neighbours[self.codes[i]].add(self.codes[int(j)])
        return {code: frozenset(found) for code, found in neighbours.items()}

    def model_districts(self) -> dict[str, District]:
        return {code: info.as_model_input() for code, info in self.districts.items()}

    def partition_of(self, code: str, partitions: int) -> int:
        """The partition of the located-events topic that owns ``code`` (stable, explicit)."""
        return self.codes.index(code) % partitions

    def codes_of_partition(self, partition: int, partitions: int) -> list[str]:
        return [c for c in self.codes if self.partition_of(c, partitions) == partition]


def geodesic_area_km2(geometry: shapely.Geometry) -> float:
    """Area of a lon/lat polygon in km², on a local equirectangular projection.

    Accurate to about 0.1 % at a city's scale, which is plenty for population density.
    """
    lat0 = math.radians(shapely.centroid(geometry).y)

    def project(coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = EARTH_RADIUS_M * math.radians(1) * coords[:, 0] * math.cos(lat0)
        out[:, 1] = EARTH_RADIUS_M * math.radians(1) * coords[:, 1]
        return out

    area: float = shapely.transform(geometry, project).area / 1e6
    return area


def load_city(geojson: str, population_csv: str, name: str) -> CityMap:
    """Build a :class:`CityMap` from GeoJSON text (features with ``code``, ``name_ko``, ``name_en``,
    ``kind`` properties) and CSV text with ``code`` and ``population`` columns."""
    population = {
        row["code"]: int(row["population"]) for row in csv.DictReader(io.StringIO(population_csv))
    }
    districts = []
    for feature in json.loads(geojson)["features"]:
        props = feature["properties"]
        code = props["code"]
        if code not in population:
            raise ValueError(f"district {code} ({props.get('name_ko')}) has no population row")
        geometry = shape(feature["geometry"])
        districts.append(
            DistrictInfo(
                code=code,
                name_ko=props["name_ko"],
                name_en=props.get("name_en", props["name_ko"]),
                kind=props.get("kind", ""),
                population=population[code],
                area_km2=geodesic_area_km2(geometry),
                geometry=geometry,
            )
        )
    return CityMap(name, districts)


def load_city_files(geojson: Path, population_csv: Path, name: str) -> CityMap:
    return load_city(geojson.read_text("utf-8"), population_csv.read_text("utf-8"), name)
