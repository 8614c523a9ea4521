"""What the map draws, built from the city and from stored events (pure: no I/O).

* :func:`city_document`: every district's shape (GeoJSON, coordinates to 6 decimals ≈ 0.1 m),
  names and population, the city's time zone and language, the configured base map.
* :func:`heat_response`: incidents per H3 cell, coarsened to the resolution the caller may see
  (:data:`COARSE_RESOLUTION` below analyst: cells of ≈ 5 km² say where, not which door).
* :func:`stats_response` and :func:`stats_csv`: incidents per district by type (the 통계지도),
  with a rate per 10,000 residents so that districts of different sizes compare.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import h3
import shapely

from streams.city.config import CityConfig
from streams.contract import (
    BaseMap,
    CityResponse,
    DistrictStats,
    HeatCell,
    HeatResponse,
    StatsResponse,
)

__all__ = [
    "COARSE_RESOLUTION",
    "FINE_RESOLUTION",
    "city_document",
    "heat_response",
    "stats_csv",
    "stats_response",
]

COARSE_RESOLUTION = 7
FINE_RESOLUTION = 9  # what the pipeline stores (streams.city.map.H3_RESOLUTION)
COORDINATE_DECIMALS = 6


def city_document(config: CityConfig, base_map: BaseMap | None = None) -> CityResponse:
    """The city as the dashboard's map needs it."""
    city = config.city
    features: list[dict[str, Any]] = []
    for code in city.codes:
        district = city.districts[code]
        geometry = shapely.set_precision(district.geometry, 10**-COORDINATE_DECIMALS)
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {
                    "code": code,
                    "name": district.name_ko,
                    "name_en": district.name_en,
                    "population": district.population,
                },
                "geometry": shapely.geometry.mapping(geometry),
            }
        )
    return CityResponse(
        name=city.name,
        timezone=config.timezone,
        language=config.language,  # validated by the city loader
        approximate=config.approximate,
        bounds=[round(v, COORDINATE_DECIMALS) for v in city.bounds],
        grade_cuts=list(config.params.grade_cuts),
        districts={"type": "FeatureCollection", "features": features},
        base_map=base_map,
    )


def heat_response(
    cells: Iterable[tuple[str, int, float]], *, start: datetime, end: datetime, resolution: int
) -> HeatResponse:
    """``cells`` (H3 cell, incidents, summed severity) merged into cells of ``resolution``."""
    counts: Counter[str] = Counter()
    intensity: defaultdict[str, float] = defaultdict(float)
    for cell, count, severity in cells:
        try:
            target = (
                cell
                if h3.get_resolution(cell) <= resolution
                else h3.cell_to_parent(cell, resolution)
            )
        except (ValueError, h3.H3BaseException):
            continue  # not a cell (hand-made data): not drawable
        counts[target] += count
        intensity[target] += severity
    return HeatResponse(
        start=start,
        end=end,
        resolution=resolution,
        cells=[HeatCell(h3=c, count=counts[c], intensity=intensity[c]) for c in sorted(counts)],
    )


def stats_response(
    counts: Iterable[tuple[str, str, int]], config: CityConfig, *, start: datetime, end: datetime
) -> StatsResponse:
    """Incidents per district and type; every district of the city appears, with zeros."""
    city = config.city
    by_district: dict[str, dict[str, int]] = {code: {} for code in city.codes}
    totals: Counter[str] = Counter()
    for district, type_, count in counts:
        if district not in by_district:
            continue  # a district of an earlier city configuration
        by_district[district][type_] = count
        totals[type_] += count
    rows = []
    for code in city.codes:
        info = city.districts[code]
        total = sum(by_district[code].values())
        per_10k = total * 10_000 / info.population if info.population > 0 else 0.0
        rows.append(
            DistrictStats(
                district=code,
                name=info.name_ko,
                population=info.population,
                total=total,
                per_10k=round(per_10k, 3),
                by_type=dict(sorted(by_district[code].items())),
            )
        )
    types = [t for t, _ in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]
    return StatsResponse(start=start, end=end, types=types, districts=rows)


def stats_csv(answer: StatsResponse) -> bytes:
    """One row per district: code, name, population, total, per 10,000, then a column per type.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> row = DistrictStats(district="4157056000", name="장기동", population=20000, total=3,
    ...                     per_10k=1.5, by_type={"fire": 2, "theft": 1})
    >>> print(stats_csv(StatsResponse(start=t, end=t, types=["fire", "theft"], districts=[row]))
    ...       .decode().strip())
    district,name,population,total,per_10k,fire,theft
    4157056000,장기동,20000,3,1.5,2,1
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["district", "name", "population", "total", "per_10k", *answer.types])
    for row in answer.districts:
        writer.writerow(
            [
                row.district,
                row.name,
                row.population,
                row.total,
                row.per_10k,
                *(row.by_type.get(t, 0) for t in answer.types),
            ]
        )
    return out.getvalue().encode()
