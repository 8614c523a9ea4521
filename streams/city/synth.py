"""``riskmon city synth``: cities whose district shapes riskmon makes up (pure; shapely 2).

Two ways, both Voronoi cells of one point per district clipped to the city's outline, so the
districts tile the outline exactly (no overlaps, no gaps) and each point lies in its own cell:

* :func:`from_facts`: a small table of facts riskmon keeps (``gimpo_facts.toml``: codes, names,
  kinds, a point inside each district, population and a coarse outline). The result is labelled
  approximate (``approximate = true``, "(approximate districts)" in its name): its borders are not
  the official ones. :func:`approximate_gimpo` is the default city of riskmon.
* :func:`random_city`: ``n`` districts at random points (deterministic per seed) in a blob around
  a centre, with made-up 10-digit codes, names and plausible populations.

The result is a :class:`~streams.city.folder.CityData`; :mod:`streams.city.folder` turns it into
the files of a city folder.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import shapely

from streams.city.folder import (
    CityData,
    DistrictRecord,
    Progress,
    km_to_degrees,
    no_progress,
    partition_problems,
)
from streams.errors import RiskmonError

__all__ = [
    "FACTS_ATTRIBUTION",
    "SynthError",
    "approximate_gimpo",
    "from_facts",
    "gimpo_facts_text",
    "random_city",
    "voronoi_cells",
]

FACTS_ATTRIBUTION = (
    "Codes, names and 2021 population: MOIS 주민등록 / Statistics Korea (KOGL Type 1); "
    "points and outline approximated by riskmon"
)
MAX_DISTRICTS = 99_999  # five digits of the made-up codes
KM2_PER_DISTRICT = 3.0  # the random city's mean district area


class SynthError(RiskmonError, ValueError):
    """The facts or the parameters cannot make a city; the message names the key."""

    retriable = False


def voronoi_cells(
    points: Sequence[tuple[float, float]], outline: shapely.Geometry
) -> list[shapely.Geometry]:
    """The Voronoi cell of each (lon, lat) point clipped to ``outline``, in the points' order.

    Each point must lie inside the outline (so that its cell is not empty) and no two points may
    coincide.
    """
    seeds = shapely.points(np.asarray(points, dtype=float))
    if len(set(map(tuple, np.asarray(points, dtype=float).tolist()))) != len(points):
        raise SynthError("two districts have the same point")
    outside = [
        i for i, inside in enumerate(shapely.contains(outline, seeds).tolist()) if not inside
    ]
    if outside:
        raise SynthError(f"point {outside[0]} ({points[outside[0]]}) lies outside the outline")
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=outline, ordered=True)
    cells = shapely.intersection(shapely.get_parts(diagram), outline)
    return [_polygonal(cell) for cell in cells.tolist()]


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Only the polygons of a clipped cell (a clip may add stray lines or points)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [p for p in shapely.get_parts(geometry).tolist() if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _check(cells: list[shapely.Geometry], codes: list[str], progress: Progress) -> None:
    problems = partition_problems(cells, codes, overlap_m2=1.0, gap_m2=1.0, progress=progress)
    if problems:  # Voronoi cells tile by construction: this would be a bug
        raise SynthError(f"synthesized districts do not tile the outline: {problems[0]}")


# --- from facts ---------------------------------------------------------------------------------


def gimpo_facts_text() -> str:
    """The facts riskmon keeps about Gimpo (``streams/city/gimpo_facts.toml``)."""
    return (resources.files("streams.city") / "gimpo_facts.toml").read_text("utf-8")


def _lat_lon(value: Any, where: str) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2
    if not ok or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise SynthError(f"{where}: expected [lat, lon], got {value!r}")
    lat, lon = float(value[0]), float(value[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SynthError(f"{where}: [lat, lon] out of range: {value!r}")
    return lat, lon


def from_facts(text: str, where: str = "facts", progress: Progress = no_progress) -> CityData:
    """An approximate city from a facts TOML (the layout of ``gimpo_facts.toml``)."""
    try:
        facts = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SynthError(f"{where}: not valid TOML: {exc}") from exc
    city = facts.get("city")
    if not isinstance(city, dict):
        raise SynthError(f"{where}: city: missing table [city]")
    name = city.get("name")
    if not isinstance(name, str) or not name:
        raise SynthError(f"{where}: city.name: missing")
    outline_points = city.get("outline")
    if not isinstance(outline_points, list) or len(outline_points) < 3:
        raise SynthError(f"{where}: city.outline: expected at least 3 [lat, lon] vertices")
    ring = [_lat_lon(p, f"{where}: city.outline[{i}]") for i, p in enumerate(outline_points)]
    outline = shapely.Polygon([(lon, lat) for lat, lon in ring])
    if not outline.is_valid:
        raise SynthError(f"{where}: city.outline: {shapely.is_valid_reason(outline)}")
    rows = city.get("districts")
    if not isinstance(rows, list) or not rows:
        raise SynthError(f"{where}: city.districts: expected a list of districts")
    records: list[dict[str, Any]] = []
    points: list[tuple[float, float]] = []
    for i, row in enumerate(rows):
        at = f"{where}: city.districts[{i}]"
        if not isinstance(row, dict):
            raise SynthError(f"{at}: expected a table")
        for key in ("code", "name_ko", "name_en", "kind"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise SynthError(f"{at}.{key}: missing")
        code = row["code"]
        if len(code) != 10 or not code.isdigit():
            raise SynthError(f"{at}.code: expected 10 digits, got {code!r}")
        population = row.get("population")
        if not isinstance(population, int) or isinstance(population, bool) or population <= 0:
            raise SynthError(f"{at}.population: expected a positive integer")
        lat, lon = _lat_lon(row.get("point"), f"{at}.point")
        records.append(row)
        points.append((lon, lat))
    codes = [r["code"] for r in records]
    if len(set(codes)) != len(codes):
        duplicate = next(c for c in codes if codes.count(c) > 1)
        raise SynthError(f"{where}: city.districts: code {duplicate} appears twice")
    progress(f"growing {len(points)} districts (Voronoi cells clipped to the outline)")
    cells = voronoi_cells(points, outline)
    _check(cells, codes, progress)
    gauges = city.get("river_gauges", {})
    if not isinstance(gauges, dict) or not all(isinstance(v, str) for v in gauges.values()):
        raise SynthError(f"{where}: city.river_gauges: expected sensor id = district code")
    model = facts.get("model", {})
    if not isinstance(model, dict):
        raise SynthError(f"{where}: model: expected a table")
    label = "(approximate districts)"
    return CityData(
        name=name if label in name else f"{name} {label}",
        districts=tuple(
            DistrictRecord(
                code=r["code"],
                name_ko=r["name_ko"],
                name_en=r["name_en"],
                kind=r["kind"],
                population=int(r["population"]),
                geometry=cell,
            )
            for r, cell in zip(records, cells, strict=True)
        ),
        approximate=True,
        river_gauges=dict(gauges),
        model=model,
        header=(
            f"riskmon city, synthesized by `riskmon city synth` from {where}.",
            "APPROXIMATE district shapes: Voronoi cells of one point per district clipped to a",
            "coarse outline, not official boundaries (`riskmon city import` builds those).",
            FACTS_ATTRIBUTION + ".",
        ),
    )


@cache
def approximate_gimpo() -> CityData:
    """Gimpo-si with approximate districts: riskmon's default city (built once per process)."""
    return from_facts(gimpo_facts_text(), where="gimpo_facts.toml")


# --- random ---------------------------------------------------------------------------------------


def blob(lat: float, lon: float, radius_km: float, rng: np.random.Generator) -> shapely.Polygon:
    """A smooth irregular outline around (lat, lon): a circle of ``radius_km`` with a few waves."""
    angles = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    phases = rng.uniform(0, 2 * math.pi, 3)
    radius = radius_km * (
        1
        + 0.12 * np.sin(2 * angles + phases[0])
        + 0.08 * np.sin(3 * angles + phases[1])
        + 0.05 * np.sin(5 * angles + phases[2])
    )
    dlon, dlat = km_to_degrees(1.0, lat)
    return shapely.Polygon(
        np.column_stack(
            [lon + radius * np.cos(angles) * dlon, lat + radius * np.sin(angles) * dlat]
        )
    )


def _random_points(outline: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    west, south, east, north = outline.bounds
    found = np.empty((0, 2))
    while len(found) < n:
        batch = rng.uniform((west, south), (east, north), size=(2 * n, 2))
        inside = shapely.contains_xy(outline, batch[:, 0], batch[:, 1])
        found = np.unique(np.vstack([found, batch[inside]]), axis=0)
    chosen = found[rng.permutation(len(found))[:n]]
    # codes in reading order: north to south, then west to east, in 1 km bands
    band = np.floor((chosen[:, 1] - south) / km_to_degrees(1.0, (south + north) / 2)[1])
    return chosen[np.lexsort((chosen[:, 0], -band))]


def random_city(
    n: int,
    seed: int,
    *,
    lat: float = 36.5,
    lon: float = 127.8,
    name: str | None = None,
    progress: Progress = no_progress,
) -> CityData:
    """A made-up city of ``n`` districts (deterministic per ``seed``) around (lat, lon).

    Codes are 10 digits, ``99`` + the seed's last three digits + a five-digit number; districts
    average 3 km²; populations are log-normal (median ~19,000, 500 to 150,000 residents).
    """
    if not 1 <= n <= MAX_DISTRICTS:
        raise SynthError(f"--districts: expected 1 to {MAX_DISTRICTS}, got {n}")
    if seed < 0:
        raise SynthError(f"--seed: expected a non-negative integer, got {seed}")
    rng = np.random.default_rng(seed)
    radius_km = math.sqrt(n * KM2_PER_DISTRICT / math.pi)
    outline = blob(lat, lon, radius_km, rng)
    progress(f"drawing {n} random points in a {2 * radius_km:.0f} km wide outline")
    points = _random_points(outline, n, rng)
    progress(f"growing {n} districts (Voronoi cells clipped to the outline)")
    cells = voronoi_cells([(float(x), float(y)) for x, y in points], outline)
    prefix = f"99{seed % 1000:03d}"
    codes = [f"{prefix}{i + 1:05d}" for i in range(n)]
    _check(cells, codes, progress)
    populations = np.clip(np.round(rng.lognormal(math.log(19_000), 0.7, n)), 500, 150_000)
    return CityData(
        name=name or f"Synthetic city {seed} ({n} districts)",
        districts=tuple(
            DistrictRecord(
                code=code,
                name_ko=f"가상{i + 1}동",
                name_en=f"Gasang{i + 1}-dong",
                kind="dong",
                population=int(pop),
                geometry=cell,
            )
            for i, (code, cell, pop) in enumerate(zip(codes, cells, populations, strict=True))
        ),
        approximate=True,
        header=(
            f"riskmon city, synthesized by `riskmon city synth --districts {n} --seed {seed}`:",
            "made-up districts (random points, Voronoi cells), codes, names and populations.",
        ),
    )
