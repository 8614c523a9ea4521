"""A city folder in memory (:class:`CityData`) and its three files as text:
``districts.geojson``, ``population.csv`` and ``city.toml`` (pure: the caller writes them), plus
:func:`partition_problems`, the check that districts tile the city (no overlaps, no gaps)
shared by ``riskmon city synth`` and ``riskmon city import``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import mapping
from shapely.strtree import STRtree

from streams.city.map import CityMap, DistrictInfo, geodesic_area_km2

DISTRICTS_FILE = "districts.geojson"
POPULATION_FILE = "population.csv"
CONFIG_FILE = "city.toml"

Progress = Callable[[str], None]


def no_progress(stage: str) -> None:
    """The default progress callback: say nothing."""


@dataclass(frozen=True)
class DistrictRecord:
    """One district as written to a city folder."""

    code: str
    name_ko: str
    name_en: str
    kind: str
    population: int
    geometry: shapely.Geometry


@dataclass(frozen=True)
class CityData:
    """A whole city folder: its districts, name, labels and the tables of its ``city.toml``."""

    name: str
    districts: tuple[DistrictRecord, ...]
    approximate: bool = False
    river_gauges: Mapping[str, str] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    header: tuple[str, ...] = ()

    def city_map(self) -> CityMap:
        return CityMap(
            self.name,
            [
                DistrictInfo(
                    code=d.code,
                    name_ko=d.name_ko,
                    name_en=d.name_en,
                    kind=d.kind,
                    population=d.population,
                    area_km2=geodesic_area_km2(d.geometry),
                    geometry=d.geometry,
                )
                for d in self.districts
            ],
        )


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list | tuple):
        return [_rounded(v, digits) for v in value]
    return value


def geojson_text(data: CityData, digits: int = 7) -> str:
    """``districts.geojson``: a FeatureCollection sorted by code, coordinates rounded to
    ``digits`` decimals (7: about 1 cm)."""
    features = []
    for d in sorted(data.districts, key=lambda d: d.code):
        geometry = dict(mapping(d.geometry))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": d.code,
                    "name_ko": d.name_ko,
                    "name_en": d.name_en,
                    "kind": d.kind,
                },
                "geometry": {
                    "type": geometry["type"],
                    "coordinates": _rounded(geometry["coordinates"], digits),
                },
            }
        )
    return json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def population_text(data: CityData) -> str:
    """``population.csv``: columns code, name_ko, population."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name_ko", "population"])
    for d in sorted(data.districts, key=lambda d: d.code):
        writer.writerow([d.code, d.name_ko, d.population])
    return out.getvalue()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key, ensure_ascii=False)


def _toml_table(name: str, table: Mapping[str, Any]) -> list[str]:
    scalars = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, Mapping)
    ]
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    lines = [f"[{name}]", *scalars] if scalars or not tables else []
    for key, value in tables.items():
        lines += (
            ["", *_toml_table(f"{name}.{_toml_key(key)}", value)]
            if lines
            else [*_toml_table(f"{name}.{_toml_key(key)}", value)]
        )
    return lines


def city_toml_text(data: CityData) -> str:
    """``city.toml``: [city] with the conventional file names, then the model's tables."""
    city: dict[str, Any] = {
        "name": data.name,
        "districts": DISTRICTS_FILE,
        "population": POPULATION_FILE,
    }
    if data.approximate:
        city["approximate"] = True
    if data.river_gauges:
        city["river_gauges"] = dict(data.river_gauges)
    lines = [f"# {line}".rstrip() for line in data.header]
    if lines:
        lines.append("")
    lines += _toml_table("city", city)
    if data.model:
        lines += ["", *_toml_table("model", data.model)]
    return "\n".join(lines) + "\n"


def folder_texts(data: CityData) -> dict[str, str]:
    """The three files of the city folder: file name -> text."""
    return {
        DISTRICTS_FILE: geojson_text(data),
        POPULATION_FILE: population_text(data),
        CONFIG_FILE: city_toml_text(data),
    }


def partition_problems(
    geometries: Sequence[shapely.Geometry],
    labels: Sequence[str],
    *,
    overlap_m2: float = 100.0,
    gap_m2: float = 1000.0,
    progress: Progress = no_progress,
) -> list[str]:
    """What keeps these polygons from tiling their union: overlaps between two districts larger
    than ``overlap_m2``, and holes in their union (gaps between districts) larger than
    ``gap_m2``. Each problem names the districts by ``labels`` and says where."""
    problems: list[str] = []
    geoms = list(geometries)
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = [(int(i), int(j)) for i, j in zip(left.tolist(), right.tolist(), strict=True) if i < j]
    progress(f"checking {len(pairs)} pairs of neighbouring districts for overlaps")
    if pairs:
        shared = shapely.intersection(
            [geoms[i] for i, _ in pairs], [geoms[j] for _, j in pairs], grid_size=None
        )
        for (i, j), piece in zip(pairs, shared.tolist(), strict=True):
            if piece.is_empty or piece.area == 0:
                continue
            area_m2 = geodesic_area_km2(piece) * 1e6
            if area_m2 > overlap_m2:
                where = shapely.point_on_surface(piece)
                problems.append(
                    f"{labels[i]} and {labels[j]} overlap by {area_m2:,.0f} m² "
                    f"(near lat {where.y:.5f}, lon {where.x:.5f})"
                )
    progress(f"checking the union of {len(geoms)} districts for gaps")
    union = shapely.union_all(geoms)
    for polygon in shapely.get_parts(union).tolist():
        for ring in getattr(polygon, "interiors", ()):
            hole = shapely.Polygon(ring)
            area_m2 = geodesic_area_km2(hole) * 1e6
            if area_m2 > gap_m2:
                where = shapely.point_on_surface(hole)
                problems.append(
                    f"a gap of {area_m2:,.0f} m² between districts "
                    f"(near lat {where.y:.5f}, lon {where.x:.5f})"
                )
    return problems


def km_to_degrees(km: float, lat: float) -> tuple[float, float]:
    """(degrees of longitude, degrees of latitude) spanning ``km`` at latitude ``lat``."""
    per_degree = 6_371.0088 * math.pi / 180
    return km / (per_degree * math.cos(math.radians(lat))), km / per_degree
