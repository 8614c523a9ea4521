"""The simulator's inputs as plain data, taken from the city configuration
(:mod:`streams.city.config`): any city folder can be simulated.

The core in :mod:`streams.simulator.core` takes plain :class:`DistrictInput` values and a
:class:`SimConfig`, so tests can build them themselves::

    city = load_city_config(settings.city)
    sim = Simulator(districts_from_city(city.city), seed=7, start=datetime.now(KST),
                    config=SimConfig(river_gauges=river_gauges_of(city)))
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping

from streams.city.config import CityConfig
from streams.city.map import CityMap
from streams.simulator.base import DistrictInput, PolygonCoords, RiverGauge

__all__ = ["districts_from_city", "river_gauges_of"]

TIDE_LAG_S = 3600.0  # the first gauge stands upstream: the tide reaches it an hour later


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


def river_gauges_of(config: CityConfig) -> tuple[RiverGauge, ...]:
    """A simulated gauge for every gauge of the city's ``[model.river_stages]`` (a reading from a
    gauge without stages would be dead-lettered), in the district ``[city] river_gauges`` names.

    Calm water stays around a third of the first flood stage (Gimpo: 1.0 m for 3.0 m) with a tide
    of ±2/15 of it, so only a heavy storm reaches the caution/alert stages.
    """
    gauges = []
    for rank, (sensor_id, stages) in enumerate(sorted(config.params.river_stages.items())):
        first = float(stages[0])
        gauges.append(
            RiverGauge(
                sensor_id=sensor_id,
                district=config.river_gauges.get(sensor_id),
                mean_m=round(first / 3, 2),
                tide_m=round(first * 2 / 15, 2),
                tide_lag_s=TIDE_LAG_S if rank == 0 else 0.0,
            )
        )
    return tuple(gauges)
