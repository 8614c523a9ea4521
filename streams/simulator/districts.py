"""The simulator's inputs as plain data, taken from the city map (:mod:`streams.city.map`).

The core in :mod:`streams.simulator.core` takes plain :class:`DistrictInput` values, so tests and
other cities can build them themselves::

    sim = Simulator(load_gimpo_districts(), seed=7, start=datetime.now(KST))
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping

from streams.city.map import CityMap, load_gimpo
from streams.simulator.base import DistrictInput, PolygonCoords

__all__ = ["districts_from_city", "load_gimpo_districts"]


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


def districts_from_city(city: CityMap) -> list[DistrictInput]:
    """Every district of ``city`` as simulator input, sorted by code."""
    return [
        DistrictInput(
            code=info.code,
            name_ko=info.name_ko,
            name_en=info.name_en,
            kind=info.kind,
            population=info.population,
            polygons=_polygons(dict(mapping(info.geometry))),
        )
        for info in (city.districts[code] for code in city.codes)
    ]


def load_gimpo_districts() -> list[DistrictInput]:
    """Gimpo's 14 districts from ``streams/data/gimpo/`` (sources and licence in its README)."""
    return districts_from_city(load_gimpo())
