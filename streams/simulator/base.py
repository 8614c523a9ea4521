"""Plain inputs and shared geometry of the event simulator (pure: no I/O, never reads the clock).

A district is handed to the simulator as a :class:`DistrictInput` (GeoJSON-shaped coordinates and a
population); :class:`Area` prepares its polygon once and samples points strictly inside it.

>>> square = (((126.6, 37.6), (126.7, 37.6), (126.7, 37.7), (126.6, 37.7), (126.6, 37.6)),)
>>> area = Area(DistrictInput("4157000000", "시험동", "Test-dong", "dong", 1000, (square,)))
>>> points = area.sample(np.random.default_rng(1), 3)
>>> points.shape, bool(area.contains(*points[0]))
((3, 2), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon

from streams.contract import InputEvent

KST = timezone(timedelta(hours=9), "KST")
"""Korea Standard Time; every timestamp the simulator emits carries this offset."""

KM_PER_DEG_LAT = 111.13
COORD_DECIMALS = 6  # ~0.1 m, the precision of the district file

Ring = tuple[tuple[float, float], ...]
"""A closed ring of (lon, lat) pairs, GeoJSON order."""
PolygonCoords = tuple[Ring, ...]
"""An exterior ring followed by its holes."""
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DistrictInput:
    """One district as plain data: 10-digit code, names, kind (eup/myeon/dong), residents, shape.

    ``polygons`` holds the parts of a GeoJSON MultiPolygon in (lon, lat) order.
    """

    code: str
    name_ko: str
    name_en: str
    kind: str
    population: int
    polygons: tuple[PolygonCoords, ...] = field(repr=False)


class SimEvent(NamedTuple):
    """A simulated wire event and the code of the district the simulator placed it in."""

    event: InputEvent
    district: str


class Area:
    """A district's polygon, prepared for point-in-polygon tests and uniform point sampling."""

    def __init__(self, district: DistrictInput) -> None:
        if not district.polygons:
            raise ValueError(f"district {district.code} has no polygon")
        self.district = district
        self.geometry = MultiPolygon([Polygon(p[0], p[1:]) for p in district.polygons])
        if not self.geometry.is_valid or self.geometry.area <= 0:
            raise ValueError(f"district {district.code} has an invalid or empty polygon")
        shapely.prepare(self.geometry)
        west, south, east, north = (float(v) for v in self.geometry.bounds)
        self._low = np.array([west, south])
        self._span = np.array([east - west, north - south])
        self._acceptance = max(float(self.geometry.area) / float(np.prod(self._span)), 0.02)
        inside = self.geometry.representative_point()
        self.anchor = (
            round(float(inside.y), COORD_DECIMALS),
            round(float(inside.x), COORD_DECIMALS),
        )
        """A (lat, lon) point guaranteed to lie inside the district."""

    def contains(self, lat: float, lon: float) -> bool:
        """Whether (lat, lon) lies inside the district."""
        return bool(shapely.contains_xy(self.geometry, lon, lat))

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` uniform (lat, lon) rows inside the district, rounded to 6 decimals.

        Rejection sampling in the bounding box; a point is tested *after* rounding, so the emitted
        coordinates themselves are inside.
        """
        found: list[FloatArray] = []
        have = 0
        while have < n:
            draw = math.ceil((n - have) / self._acceptance * 1.25) + 4
            lonlat = np.round(self._low + rng.random((draw, 2)) * self._span, COORD_DECIMALS)
            keep = lonlat[shapely.contains_xy(self.geometry, lonlat[:, 0], lonlat[:, 1])]
            found.append(keep[:, ::-1])
            have += len(keep)
        return np.concatenate(found)[:n] if found else np.empty((0, 2))

    def sample_near(
        self, rng: np.random.Generator, lat: float, lon: float, sigma_km: float
    ) -> tuple[float, float]:
        """A (lat, lon) inside the district, Gaussian around (lat, lon); uniform after 20 misses."""
        km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(lat))
        for _ in range(20):
            dy, dx = rng.normal(0.0, sigma_km, 2)
            cand_lat = round(lat + float(dy) / KM_PER_DEG_LAT, COORD_DECIMALS)
            cand_lon = round(lon + float(dx) / km_per_deg_lon, COORD_DECIMALS)
            if self.contains(cand_lat, cand_lon):
                return cand_lat, cand_lon
        point = self.sample(rng, 1)[0]
        return float(point[0]), float(point[1])


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on a local equirectangular projection; within 0.1 % at a city's scale."""
    dy = (lat2 - lat1) * KM_PER_DEG_LAT
    dx = (lon2 - lon1) * KM_PER_DEG_LAT * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def at(start: datetime, seconds: float) -> datetime:
    """The KST timestamp ``seconds`` after ``start``, to the millisecond."""
    return (start + timedelta(milliseconds=round(seconds * 1000))).astimezone(KST)


class LocalClock:
    """Korean local time of day and season ``seconds`` after ``start`` (cheap: no datetimes).

    >>> clock = LocalClock(datetime(2026, 1, 1, 23, 30, tzinfo=KST))
    >>> clock.hour(3600), round(clock.day_of_year(3600), 3)
    (0.5, 1.021)
    """

    def __init__(self, start: datetime) -> None:
        local = start.astimezone(KST)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._offset = (local - midnight).total_seconds()
        self._jan1 = local.timetuple().tm_yday - 1  # whole days since 1 January

    def hour(self, seconds: float) -> float:
        """Hour of day (0..24)."""
        return ((self._offset + seconds) % 86_400) / 3600

    def day_of_year(self, seconds: float) -> float:
        """Days since 1 January, fractional (0..366); wraps at 365.25 on long runs."""
        return (self._jan1 + (self._offset + seconds) / 86_400) % 365.25


def envelope(t: float, begin: float, ramp: float, hold: float, recede: float) -> float:
    """0 → 1 → 0: a smooth ramp up over ``ramp`` s from ``begin``, ``hold`` s at 1, then down."""
    x = t - begin
    if x <= 0 or x >= ramp + hold + recede:
        return 0.0
    if x < ramp:
        u = x / ramp
    elif x <= ramp + hold:
        return 1.0
    else:
        u = 1 - (x - ramp - hold) / recede
    return u * u * (3 - 2 * u)  # smoothstep: no kink where the ramp meets the plateau


@dataclass(frozen=True)
class RiverGauge:
    """A simulated river gauge: its sensor id (which needs flood stages in the city's
    ``[model.river_stages]``), the district it stands in (None: the first district for the 1st,
    3rd... gauge, the last for the 2nd, 4th...), its calm mean level and semidiurnal tide (m), and
    how late the tide reaches it (s)."""

    sensor_id: str
    district: str | None
    mean_m: float
    tide_m: float
    tide_lag_s: float = 0.0


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulator; the defaults are Gimpo's real orders of magnitude.

    ``rate_multiplier`` scales every incident rate and the rate of safety-registry changes (30
    makes the city-wide ~32 incidents/day about one every 90 s); it does not change cluster sizes,
    severities or storm frequency. Storms and haze episodes are far more frequent than the climate
    so that a demo sees them; set ``storms_per_day=0`` for a calm city, ``first_storm_after`` to
    force one.
    """

    rate_multiplier: float = 1.0
    reading_interval: timedelta = timedelta(seconds=60)
    duplicate_fraction: float = 0.05
    report_delay_mean: timedelta = timedelta(seconds=60)
    cluster_decay: timedelta = timedelta(minutes=30)
    storms_per_day: float = 0.25
    first_storm_after: timedelta | None = None
    haze_per_day: float = 0.1
    safety_changes_per_day: float = 6.0
    river_gauges: tuple[RiverGauge, ...] = ()

    def __post_init__(self) -> None:
        if self.reading_interval <= timedelta(0):
            raise ValueError("reading_interval must be positive")
        if not 0 <= self.duplicate_fraction < 1:
            raise ValueError("duplicate_fraction must be in [0, 1)")
        rates = (
            self.rate_multiplier,
            self.storms_per_day,
            self.haze_per_day,
            self.safety_changes_per_day,
        )
        if min(rates) < 0:
            raise ValueError("rates and multipliers must not be negative")
        if self.cluster_decay <= timedelta(0) or self.report_delay_mean < timedelta(0):
            raise ValueError("cluster_decay must be positive and report_delay_mean not negative")
