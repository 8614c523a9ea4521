"""Simulated weather, river and air-quality stations, with storms and haze episodes.

Pure: time is seconds since the simulation start. Each station reports every ``reading_interval``:

* ``rain-<district>``: a gauge in every district (mm in the last hour, 0.5 mm steps as KMA AWS);
* ``temp-<district>``: apparent temperature (°C), seasonal and daily cycles, peak ~15:00;
* ``wind-<district>``: mean wind (m/s), stronger in the afternoon and on the coast;
* ``pm10-<district>``, ``pm25-<district>``: µg/m³, seasonal (winter/spring high), morning rush and
  night inversion peaks, washed out by rain, higher during haze episodes;
* river gauges (``SimConfig.river_gauges``, from the city's ``[model.river_stages]`` and
  ``[city] river_gauges``; Gimpo's stand in 고촌읍 by the Singok weir and in 하성면 at the Han
  estuary): metres above the gauge datum, semidiurnal tide, a lagged rise after rain.

A storm ramps rainfall up over an hour to 30-70 mm/h at its centre (a district's rain gauge),
falling off with distance over 4-9 km so that several neighbouring districts get heavy rain; it also
raises wind and, through the basin's response, river levels; then it recedes over 1-2 hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from streams.contract import SensorReading
from streams.simulator.base import (
    Area,
    FloatArray,
    LocalClock,
    SimConfig,
    SimEvent,
    at,
    distance_km,
    envelope,
)

__all__ = ["Conditions", "Station", "Storm", "Weather"]

# Climate of Gimpo (close to the Seoul/Incheon 1991-2020 normals): January mean ~-2 °C, August
# ~26 °C, daily range ~8 °C with the maximum mid-afternoon.
TEMP_MEAN_C, TEMP_SEASON_C, TEMP_PEAK_DOY = 12.0, 14.0, 213.0
TEMP_DAILY_C, TEMP_PEAK_HOUR = 4.0, 15.0
WIND_MEAN_MS, WIND_DAILY_MS, WIND_COAST_MS = 2.3, 0.8, 1.2
# PM2.5 annual mean ~21 µg/m³ in northwest Gyeonggi, ~30 in Feb-Mar and ~13 in Aug; PM10 ~1.9x.
PM25_MEAN, PM25_SEASON, PM25_PEAK_DOY, PM10_RATIO = 21.0, 0.4, 45.0, 1.9
M2_TIDE_S = 12.4206 * 3600  # principal lunar semidiurnal tide
SPRING_NEAP_S = 14.765 * 86_400
RIVER_GAIN_M_PER_MMH = 0.3  # rise per mm/h of city-mean rain, approached with the lag below
RIVER_LAG_S = 2 * 3600.0

TEMPERATURE_AT = ("4157054000", "4157025000", "4157025300", "4157036000")
WIND_AT = ("4157035000", "4157034000", "4157054000")
AIR_AT = ("4157054000", "4157025300", "4157025000", "4157057500")
COASTAL = frozenset({"4157034000", "4157035000"})  # Daegot, Wolgot: open to the Yellow Sea


@dataclass(frozen=True)
class Conditions:
    """Weather the incident model reacts to: rain and wind at each district, city apparent temp."""

    rain_mmh: FloatArray
    wind_ms: FloatArray
    apparent_c: float


@dataclass(frozen=True)
class Station:
    """A fixed sensor: where it is and its own bias (site factor, datum, tide)."""

    sensor_id: str
    kind: str
    source: str
    district: int
    lat: float
    lon: float
    bias: float = 0.0
    tide_m: float = 0.0
    tide_lag_s: float = 0.0


@dataclass(frozen=True)
class Storm:
    """A convective storm centred on (lat, lon)."""

    begin: float
    ramp: float
    hold: float
    recede: float
    lat: float
    lon: float
    radius_km: float
    peak_mmh: float
    peak_wind_ms: float

    @property
    def end(self) -> float:
        return self.begin + self.ramp + self.hold + self.recede

    def weight(self, t: float, lat: float, lon: float) -> float:
        """0..1: the storm's strength at (lat, lon) and time t."""
        falloff = math.exp(-((distance_km(self.lat, self.lon, lat, lon) / self.radius_km) ** 2))
        return envelope(t, self.begin, self.ramp, self.hold, self.recede) * falloff


def _slug(name_en: str) -> str:
    return name_en.lower().replace(" ", "-")


def _ou(x: float, dt: float, tau: float, sigma: float, rng: np.random.Generator) -> float:
    """One exact step of an Ornstein-Uhlenbeck process (mean 0, stationary sd ``sigma``)."""
    keep = math.exp(-dt / tau)
    return x * keep + sigma * math.sqrt(1 - keep * keep) * float(rng.normal())


def _bump(hour: float, centre: float, width: float) -> float:
    gap = (hour - centre + 12) % 24 - 12
    return math.exp(-((gap / width) ** 2))


class Weather:
    """The city's weather state: :meth:`step` advances it a tick and returns the tick's readings."""

    def __init__(
        self, areas: Sequence[Area], rng: np.random.Generator, start: datetime, config: SimConfig
    ) -> None:
        self._areas = areas
        self._rng = rng
        self._start = start
        self._clock = LocalClock(start)
        self._epoch = start.timestamp()
        self._config = config
        self._interval = config.reading_interval.total_seconds()
        self._next_reading = 0
        self.stations = self._place_stations()
        self._gauges = [s for s in self.stations if s.kind == "rainfall_mm_1h"]
        self.storms: list[Storm] = []
        self._hazes: list[tuple[float, float, float, float, float]] = []
        self._next_storm = self._first(config.storms_per_day, config.first_storm_after)
        self._next_haze = self._first(config.haze_per_day, None)
        self._temp_anomaly = float(rng.normal(0, 1.5))
        self._wind_anomaly = 0.0
        self._pm_anomaly = float(rng.normal(0, 0.3))
        self._basin_rise = 0.0

    def _index(self, code: str, rank: int) -> int:
        """The district with ``code``, else (another city) the rank-th most populous one."""
        for i, area in enumerate(self._areas):
            if area.district.code == code:
                return i
        by_population = sorted(
            range(len(self._areas)), key=lambda i: -self._areas[i].district.population
        )
        return by_population[rank % len(by_population)]

    def _gauge_index(self, code: str | None, rank: int) -> int:
        """The district a river gauge stands in: ``code``'s, else the first (even ranks) or the
        last (odd ranks) district by code."""
        by_code = sorted(range(len(self._areas)), key=lambda i: self._areas[i].district.code)
        for i in by_code:
            if self._areas[i].district.code == code:
                return i
        return by_code[0] if rank % 2 == 0 else by_code[-1]

    def _place_stations(self) -> list[Station]:
        rng, areas = self._rng, self._areas
        stations: list[Station] = []

        def add(prefix: str, kind: str, source: str, d: int, bias: float = 0.0) -> None:
            lat, lon = areas[d].sample(rng, 1)[0]
            name = _slug(areas[d].district.name_en)
            stations.append(
                Station(f"{prefix}-{name}", kind, source, d, float(lat), float(lon), bias)
            )

        for d in range(len(areas)):
            add("rain", "rainfall_mm_1h", "kma-aws", d)
        for rank, code in enumerate(TEMPERATURE_AT):
            add(
                "temp",
                "apparent_temperature_c",
                "kma-aws",
                self._index(code, rank),
                float(rng.normal(0, 0.5)),
            )
        for rank, code in enumerate(WIND_AT):
            d = self._index(code, rank)
            add(
                "wind",
                "wind_ms",
                "kma-aws",
                d,
                WIND_COAST_MS if areas[d].district.code in COASTAL else 0.0,
            )
        for rank, code in enumerate(AIR_AT):
            d = self._index(code, rank)
            add("pm10", "pm10_ugm3", "airkorea", d, float(rng.lognormal(0, 0.1)))
            add("pm25", "pm25_ugm3", "airkorea", d, float(rng.lognormal(0, 0.1)))
        for rank, gauge in enumerate(self._config.river_gauges):
            d = self._gauge_index(gauge.district, rank)
            lat, lon = areas[d].sample(rng, 1)[0]
            stations.append(
                Station(
                    gauge.sensor_id,
                    "river_level_m",
                    "hrfco",
                    d,
                    float(lat),
                    float(lon),
                    gauge.mean_m,
                    gauge.tide_m,
                    gauge.tide_lag_s,
                )
            )
        return stations

    def _first(self, per_day: float, forced: timedelta | None) -> float:
        return forced.total_seconds() if forced is not None else self._gap(per_day)

    def _gap(self, per_day: float) -> float:
        return float(self._rng.exponential(86_400 / per_day)) if per_day > 0 else math.inf

    # --- state --------------------------------------------------------------------------------

    def _start_events(self, until: float) -> None:
        rng = self._rng
        while self._next_storm < until:
            weights = np.array([a.geometry.area for a in self._areas], dtype=float)
            centre = self._gauges[int(rng.choice(len(self._gauges), p=weights / weights.sum()))]
            self.storms.append(
                Storm(
                    begin=self._next_storm,
                    ramp=3600.0,
                    hold=float(rng.uniform(1800, 5400)),
                    recede=float(rng.uniform(3600, 7200)),
                    lat=centre.lat,
                    lon=centre.lon,
                    radius_km=float(rng.uniform(4, 9)),
                    peak_mmh=float(rng.uniform(30, 70)),
                    peak_wind_ms=float(rng.uniform(8, 18)),
                )
            )
            self._next_storm += self._gap(self._config.storms_per_day)
        while self._next_haze < until:
            self._hazes.append(
                (
                    self._next_haze,
                    3 * 3600.0,
                    float(rng.uniform(4, 12)) * 3600,
                    3 * 3600.0,
                    float(rng.uniform(2.0, 3.5)),
                )
            )
            self._next_haze += self._gap(self._config.haze_per_day)

    def rain_at(self, t: float, lat: float, lon: float) -> float:
        """Rain rate (mm/h) at a point, the sum over active storms."""
        return sum(s.peak_mmh * s.weight(t, lat, lon) for s in self.storms)

    def _storm_wind(self, t: float, lat: float, lon: float) -> float:
        return sum(s.peak_wind_ms * s.weight(t, lat, lon) for s in self.storms)

    def step(self, t0: float, dt: float) -> tuple[Conditions, list[tuple[float, SimEvent]]]:
        """Advance over [t0, t0 + dt): start storms and haze due, evolve the slow anomalies, and
        return the conditions at t0 and the readings due in the interval (send time, event)."""
        rng = self._rng
        self._start_events(t0 + dt)
        self.storms = [s for s in self.storms if s.end > t0]
        self._hazes = [h for h in self._hazes if h[0] + h[1] + h[2] + h[3] > t0]
        self._temp_anomaly = _ou(self._temp_anomaly, dt, 2 * 86_400, 2.5, rng)
        self._wind_anomaly = _ou(self._wind_anomaly, dt, 3 * 3600, 1.0, rng)
        self._pm_anomaly = _ou(self._pm_anomaly, dt, 86_400, 0.45, rng)
        base = self._wind_base(t0)
        if self.storms:
            rain = np.array([self.rain_at(t0, g.lat, g.lon) for g in self._gauges])
            gusts = np.array([self._storm_wind(t0, g.lat, g.lon) for g in self._gauges])
        else:
            rain = gusts = np.zeros(len(self._gauges))
        wind = np.maximum(base + gusts, 0.0)
        target = RIVER_GAIN_M_PER_MMH * float(rain.mean())
        self._basin_rise += (target - self._basin_rise) * (1 - math.exp(-dt / RIVER_LAG_S))
        temp, humidity = self._air(t0, 0.0, float(rain.max(initial=0.0)))
        conditions = Conditions(rain, wind, _apparent(temp, humidity, float(wind.mean())))
        readings: list[tuple[float, SimEvent]] = []
        while self._next_reading * self._interval < t0 + dt:
            t = self._next_reading * self._interval
            self._next_reading += 1
            readings.extend((t, self._read(s, t)) for s in self.stations)
        return conditions, readings

    # --- readings -----------------------------------------------------------------------------

    def _wind_base(self, t: float) -> float:
        hour = self._clock.hour(t)
        daily = WIND_DAILY_MS * math.cos(2 * math.pi * (hour - 14) / 24)
        return WIND_MEAN_MS + daily + self._wind_anomaly

    def _air(self, t: float, bias: float, rain: float) -> tuple[float, float]:
        """Air temperature (°C) and relative humidity (%) at ``t``; rain cools and moistens."""
        hour, doy = self._clock.hour(t), self._clock.day_of_year(t)
        season = math.cos(2 * math.pi * (doy - TEMP_PEAK_DOY) / 365.25)
        daily = math.cos(2 * math.pi * (hour - TEMP_PEAK_HOUR) / 24)
        wet = min(rain / 30, 1.0)
        temp = (
            TEMP_MEAN_C
            + TEMP_SEASON_C * season
            + TEMP_DAILY_C * daily
            + self._temp_anomaly
            + bias
            - 3.0 * wet
        )
        humidity = min(62 + 10 * season - 12 * daily + 30 * wet, 100.0)
        return temp, humidity

    def _pm25(self, t: float, rain: float) -> float:
        hour, doy = self._clock.hour(t), self._clock.day_of_year(t)
        season = 1 + PM25_SEASON * math.cos(2 * math.pi * (doy - PM25_PEAK_DOY) / 365.25)
        # morning rush-hour traffic, night-time inversion, afternoon mixing
        daily = 1 + 0.25 * _bump(hour, 8, 1.5) + 0.2 * _bump(hour, 0, 3) - 0.15 * _bump(hour, 15, 3)
        haze = 1 + sum((f - 1) * envelope(t, b, r, h, d) for b, r, h, d, f in self._hazes)
        washout = 1 - 0.6 * min(rain / 20, 1.0)
        return PM25_MEAN * season * daily * haze * washout * math.exp(self._pm_anomaly)

    def _read(self, station: Station, t: float) -> SimEvent:
        rng = self._rng
        rain = self.rain_at(t, station.lat, station.lon)
        kind = station.kind
        if kind == "rainfall_mm_1h":
            value = round(max(rain * (1 + 0.1 * float(rng.normal())), 0.0) * 2) / 2
        elif kind == "apparent_temperature_c":
            temp, humidity = self._air(t, station.bias, rain)
            wind = self._wind_base(t) + self._storm_wind(t, station.lat, station.lon)
            value = round(_apparent(temp, humidity, max(wind, 0.0)) + 0.2 * float(rng.normal()), 1)
        elif kind == "wind_ms":
            wind = self._wind_base(t) + station.bias + self._storm_wind(t, station.lat, station.lon)
            value = round(max(wind + 0.4 * float(rng.normal()), 0.0), 1)
        elif kind in ("pm10_ugm3", "pm25_ugm3"):
            ratio = PM10_RATIO if kind == "pm10_ugm3" else 1.0
            noise = math.exp(0.08 * float(rng.normal()))
            value = round(self._pm25(t, rain) * ratio * station.bias * noise, 1)
        else:  # river_level_m
            clock = self._epoch + t - station.tide_lag_s
            spring = 1 + 0.3 * math.cos(2 * math.pi * clock / SPRING_NEAP_S)
            tide = station.tide_m * spring * math.cos(2 * math.pi * clock / M2_TIDE_S)
            value = round(station.bias + tide + self._basin_rise + 0.02 * float(rng.normal()), 2)
        reading = SensorReading(
            sensor_id=station.sensor_id,
            source=station.source,
            kind=kind,
            value=value,
            observed_at=at(self._start, t),
            lat=station.lat,
            lon=station.lon,
        )
        return SimEvent(reading, self._areas[station.district].district.code)


def _apparent(temp_c: float, humidity: float, wind_ms: float) -> float:
    """Apparent temperature (Steadman 1994, as used by the Australian Bureau of Meteorology):
    AT = T + 0.33 e - 0.70 ws - 4.00, with e the water-vapour pressure in hPa."""
    vapour = humidity / 100 * 6.105 * math.exp(17.27 * temp_c / (237.7 + temp_c))
    return temp_c + 0.33 * vapour - 0.70 * wind_ms - 4.00
