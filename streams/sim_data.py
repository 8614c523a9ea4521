"""Load the simulator's inputs (district polygons and population) from package data.

This is the simulator's only file access; the core in :mod:`streams.simulator` takes the result as
plain data, so tests and other cities can build :class:`DistrictInput` values themselves::

    sim = Simulator(load_gimpo_districts(), seed=7, start=datetime.now(KST))
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from typing import Any

from .sim_base import DistrictInput, PolygonCoords

__all__ = ["load_gimpo_districts", "parse_districts"]


def _polygons(geometry: dict[str, Any]) -> tuple[PolygonCoords, ...]:
    if geometry["type"] == "Polygon":
        parts = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        parts = geometry["coordinates"]
    else:
        raise ValueError(f"expected a Polygon or MultiPolygon, got {geometry['type']}")
    return tuple(
        tuple(tuple((float(x), float(y)) for x, y in ring) for ring in polygon) for polygon in parts
    )


def parse_districts(geojson: str, population_csv: str) -> list[DistrictInput]:
    """Districts from GeoJSON text (properties ``code``, ``name_ko``, ``name_en``, ``kind``) and
    CSV text with ``code`` and ``population`` columns, sorted by code.

    Raises ValueError if a district has no population row.
    """
    population = {
        row["code"]: int(row["population"]) for row in csv.DictReader(io.StringIO(population_csv))
    }
    districts = []
    for feature in json.loads(geojson)["features"]:
        props = feature["properties"]
        code = props["code"]
        if code not in population:
            raise ValueError(f"district {code} ({props.get('name_ko')}) has no population row")
        districts.append(
            DistrictInput(
                code=code,
                name_ko=props["name_ko"],
                name_en=props.get("name_en") or props["name_ko"],
                kind=props.get("kind", ""),
                population=population[code],
                polygons=_polygons(feature["geometry"]),
            )
        )
    return sorted(districts, key=lambda d: d.code)


def load_gimpo_districts() -> list[DistrictInput]:
    """Gimpo's 14 districts from ``streams/data/gimpo/`` (sources and licence in its README)."""
    folder = resources.files("streams").joinpath("data", "gimpo")
    return parse_districts(
        folder.joinpath("districts.geojson").read_text("utf-8"),
        folder.joinpath("population.csv").read_text("utf-8"),
    )
