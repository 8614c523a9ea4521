"""The complaints routes: ``/api/complaints/stats`` (per district by category, JSON or CSV) and
``/api/complaints/cells`` (per H3 cell, the heat layer), read from the ``complaints`` table.

Who sees what: both routes need only ``viewer`` (:attr:`Action.HISTORY_READ`), like the
statistics map and the incident heat layer, because they answer counts, never a complaint: no
description, no point, no facility id, no complaint id. The cells are the one place a count
could come close to a household (a res-9 cell is ≈ 0.1 km²), so, as for incidents, viewers get
resolution 7 (≈ 5 km²) and ``analyst`` and above resolution 9 (:attr:`Action.EVENTS_EXACT`).

:func:`stats_response`, :func:`cells_response` and :func:`stats_csv` are pure.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

import asyncpg
import h3
from pydantic import BaseModel

from dashboard_ws.api.mapdata import COARSE_RESOLUTION, FINE_RESOLUTION
from dashboard_ws.api.params import ComplaintsRequest
from streams.city.config import CityConfig
from streams.contract import (
    ComplaintCell,
    ComplaintCellsResponse,
    ComplaintDistrictStats,
    ComplaintStatsResponse,
)
from streams.persistence.complaints import complaint_cells, complaint_counts

__all__ = [
    "ComplaintStatsResponse",
    "answer_complaints",
    "cells_response",
    "stats_csv",
    "stats_response",
]


def stats_response(
    counts: Iterable[tuple[str, str, int, int]],
    config: CityConfig,
    *,
    start: datetime,
    end: datetime,
    category: str | None,
) -> ComplaintStatsResponse:
    """(district, category, complaints, open) rows -> every district of the city, with zeros."""
    city = config.city
    by_district: dict[str, dict[str, int]] = {code: {} for code in city.codes}
    still_open: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for district, cat, count, open_ in counts:
        if district not in by_district:
            continue  # a district of an earlier city configuration
        by_district[district][cat] = count
        still_open[district] += open_
        totals[cat] += count
    rows = []
    for code in city.codes:
        info = city.districts[code]
        total = sum(by_district[code].values())
        per_10k = total * 10_000 / info.population if info.population > 0 else 0.0
        rows.append(
            ComplaintDistrictStats(
                district=code,
                name=info.name_ko,
                population=info.population,
                total=total,
                open=still_open[code],
                per_10k=round(per_10k, 3),
                by_category=dict(sorted(by_district[code].items())),
            )
        )
    categories = [c for c, _ in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]
    return ComplaintStatsResponse(
        start=start, end=end, category=category, categories=categories, districts=rows
    )


def cells_response(
    cells: Iterable[tuple[str, int]],
    *,
    start: datetime,
    end: datetime,
    category: str | None,
    resolution: int,
) -> ComplaintCellsResponse:
    """Stored (cell, complaints) merged into cells of ``resolution``."""
    counts: defaultdict[str, int] = defaultdict(int)
    for cell, count in cells:
        try:
            target = (
                cell
                if h3.get_resolution(cell) <= resolution
                else h3.cell_to_parent(cell, resolution)
            )
        except (ValueError, h3.H3BaseException):
            continue  # not a cell: not drawable
        counts[target] += count
    return ComplaintCellsResponse(
        start=start,
        end=end,
        category=category,
        resolution=resolution,
        cells=[ComplaintCell(h3=c, count=counts[c]) for c in sorted(counts)],
    )


def stats_csv(answer: ComplaintStatsResponse) -> bytes:
    """One row per district: code, name, population, total, open, per 10,000, a column per
    category.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> row = ComplaintDistrictStats(district="4157056000", name="장기동", population=20000,
    ...     total=3, open=1, per_10k=1.5, by_category={"noise": 2, "road_damage": 1})
    >>> print(stats_csv(ComplaintStatsResponse(start=t, end=t, category=None,
    ...     categories=["noise", "road_damage"], districts=[row])).decode().strip())
    district,name,population,total,open,per_10k,noise,road_damage
    4157056000,장기동,20000,3,1,1.5,2,1
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["district", "name", "population", "total", "open", "per_10k", *answer.categories]
    )
    for row in answer.districts:
        writer.writerow(
            [
                row.district,
                row.name,
                row.population,
                row.total,
                row.open,
                row.per_10k,
                *(row.by_category.get(c, 0) for c in answer.categories),
            ]
        )
    return out.getvalue().encode()


async def answer_complaints(
    conn: asyncpg.Connection, request: ComplaintsRequest, city: CityConfig | None, *, fine: bool
) -> BaseModel | None:
    """The answer to ``request`` (None: this gateway has no city for the statistics)."""
    if request.what == "cells":
        cells = await complaint_cells(
            conn, start=request.start, end=request.end, category=request.category
        )
        return cells_response(
            cells,
            start=request.start,
            end=request.end,
            category=request.category,
            resolution=FINE_RESOLUTION if fine else COARSE_RESOLUTION,
        )
    if city is None:
        return None
    counts = await complaint_counts(
        conn, start=request.start, end=request.end, category=request.category
    )
    return stats_response(
        counts, city, start=request.start, end=request.end, category=request.category
    )
