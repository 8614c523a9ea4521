"""Simulated incidents: Poisson rates per district and type, self-exciting clusters, duplicates.

Pure: time is seconds since the simulation start, handed in by
:class:`streams.simulator.core.Simulator`.

Model, per district d and incident type k:

* roots arrive as a Poisson process with rate ``mu[d, k] = share_d * per_day_k * (1 - theta_k)``
  (``share_d`` = the district's share of residents), modulated by time of day and, for
  weather-driven types, by the storm conditions of the district;
* each incident has Poisson(``theta_k``) direct offspring of the same type, after an exponential
  delay (mean ``cluster_decay``) and ~400 m away inside the same district. This is the branching
  form of a Hawkes process (Mohler et al., JASA 106 (2011) 100-108), so an incident raises the
  short-term rate of its kind nearby, and ``per_day_k`` stays the long-run total
  (roots / (1 - theta)).
* it reaches the wire after an exponential reporting delay (mean ``report_delay_mean``), so
  arrival order differs from occurrence order; ``duplicate_fraction`` of incidents are sent again,
  unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from indices.taxonomy import INCIDENT_TYPES
from streams.contract import Incident
from streams.simulator.base import Area, FloatArray, LocalClock, SimConfig, SimEvent, at
from streams.simulator.weather import Conditions

__all__ = ["KINDS", "IncidentKind", "IncidentProcess"]


@dataclass(frozen=True)
class IncidentKind:
    """Rates and marks of one incident type (``per_day``: city-wide long-run mean)."""

    per_day: float
    source: str
    theta: float  # expected direct offspring per incident (Hawkes branching ratio)
    severe: bool  # severity skewed up (explosions, collapses, robberies ...)
    casualties_at_3: float  # mean casualties of a severity-3 incident
    label: str


# City-wide rates for Gimpo (486,508 residents in 2021, ~0.94 % of Korea's 51.7 M), i.e. national
# yearly counts scaled by population, rounded to an order of magnitude:
# * traffic: KoROAD TAAS, ~200k police-reported accidents/yr nationally -> ~5/day; we use 6;
# * fire: National Fire Agency (국가화재정보시스템), ~38-40k fires/yr -> ~1/day;
# * crime: the KNPA counts ~1.5 M offences/yr (~39/day for Gimpo), theft and violence the bulk;
#   the four types here total ~20/day, burglary clustering most (near-repeat victimisation);
# * living safety (생활안전): ~5/day of falls, gas, electrical, water-main and rarer accidents;
# * weather types are mostly storm- or heat-driven (see the *_PER_HOUR constants below).
KINDS: dict[str, IncidentKind] = {
    "fire": IncidentKind(1.0, "gimpo-fire", 0.10, False, 0.3, "화재"),
    "explosion": IncidentKind(0.01, "gimpo-fire", 0.0, True, 1.0, "폭발"),
    "gas_leak": IncidentKind(0.5, "gimpo-119", 0.05, False, 0.3, "가스 누출"),
    "electrical": IncidentKind(0.8, "gimpo-119", 0.05, False, 0.2, "전기 사고"),
    "building_collapse": IncidentKind(0.01, "gimpo-119", 0.0, True, 1.5, "건축물 붕괴"),
    "sinkhole": IncidentKind(0.03, "gimpo-city", 0.1, False, 0.2, "지반 침하"),
    "water_main_break": IncidentKind(0.5, "gimpo-city", 0.1, False, 0.0, "상수도관 파열"),
    "fall": IncidentKind(3.0, "gimpo-119", 0.0, False, 0.8, "추락·낙상"),
    "drowning": IncidentKind(0.05, "gimpo-119", 0.0, True, 1.0, "익수"),
    "traffic_accident": IncidentKind(6.0, "gimpo-police", 0.10, False, 0.8, "교통사고"),
    "flood": IncidentKind(0.02, "gimpo-city", 0.30, False, 0.1, "침수"),
    "landslide": IncidentKind(0.005, "gimpo-city", 0.20, True, 0.5, "산사태"),
    "storm_damage": IncidentKind(0.05, "gimpo-city", 0.20, False, 0.1, "강풍 피해"),
    "heat_illness": IncidentKind(0.0, "gimpo-119", 0.0, False, 1.0, "온열질환"),
    "assault": IncidentKind(7.0, "gimpo-police", 0.15, False, 0.6, "폭행"),
    "burglary": IncidentKind(1.5, "gimpo-police", 0.30, False, 0.0, "침입 절도"),
    "theft": IncidentKind(11.0, "gimpo-police", 0.20, False, 0.0, "절도"),
    "robbery": IncidentKind(0.1, "gimpo-police", 0.10, True, 0.5, "강도"),
}
assert set(KINDS) == set(INCIDENT_TYPES), "every taxonomy incident type needs a simulated rate"

# Severity 1..5: most incidents are minor; "severe" types are shifted up.
SEVERITY_P = np.array([0.55, 0.28, 0.11, 0.045, 0.015])
SEVERE_SEVERITY_P = np.array([0.15, 0.30, 0.30, 0.17, 0.08])
CASUALTY_FACTOR = np.array([0.0, 0.2, 1.0, 2.5, 6.0])  # x casualties_at_3, by severity

# Time of day: rate x (1 + amplitude * cos(2 pi (hour - peak) / 24)), mean 1 over a day. Peaks from
# the usual hourly profiles: traffic accidents late afternoon rush (TAAS), crime late evening, fires
# and everyday accidents in the active hours.
DIURNAL: dict[str, tuple[float, float]] = {
    "traffic": (0.35, 18.0),
    "crime": (0.40, 22.0),
    "fire": (0.20, 15.0),
    "living_safety": (0.30, 13.0),
    "flood_weather": (0.0, 12.0),
}

# Weather-driven extra rates, per district (x rate_multiplier):
# Qiu & Nixon (TRR 2055, 2008, meta-analysis): rain raises crash rates by ~70 %; heavier rain more.
TRAFFIC_RAIN_MM_FOR_DOUBLE = 30.0
FLOOD_PER_HOUR_AT_30MM = 0.1  # flooded roads/basements reported per district-hour at 30 mm/h
LANDSLIDE_PER_HOUR_AT_30MM = 0.02  # hilly eup/myeon only
STORM_DAMAGE_PER_HOUR = 0.3  # per district-hour at 15 m/s mean wind, none below 10 m/s
# KDCA heat-illness surveillance counts ~1.5-2.8k cases per summer nationally (~20 for Gimpo),
# nearly all on heat-wave days: ~1/day city-wide at 34 °C apparent, none below 31 °C.
HEAT_PER_DAY_AT_34C = 1.0
CLUSTER_SIGMA_KM = 0.4
DUPLICATE_DELAY_S = (10.0, 900.0)


class IncidentProcess:
    """Draws the incidents of each simulator tick; owns its random stream and id counter."""

    def __init__(
        self,
        areas: Sequence[Area],
        rng: np.random.Generator,
        start: datetime,
        config: SimConfig,
        id_tag: str,
    ) -> None:
        self._areas = areas
        self._rng = rng
        self._start = start
        self._clock = LocalClock(start)
        self._config = config
        self._tag = id_tag
        self._count = 0
        self.types = tuple(KINDS)
        population = np.array([a.district.population for a in areas], dtype=float)
        self._share = population / population.sum()
        self._weight = 0.5 + 0.5 * population / population.mean()
        self._hilly = np.array([a.district.kind != "dong" for a in areas], dtype=float)
        roots = np.array([KINDS[t].per_day * (1 - KINDS[t].theta) for t in self.types])
        self._mu: FloatArray = np.outer(self._share, roots) * config.rate_multiplier / 86_400
        shape = [DIURNAL[INCIDENT_TYPES[t]] for t in self.types]
        self._amplitude = np.array([a for a, _ in shape])
        self._peak = np.array([p for _, p in shape])
        self._col = {t: i for i, t in enumerate(self.types)}

    def rates(self, t: float, conditions: Conditions) -> FloatArray:
        """Root rates (incidents per second) at ``t``, one row per district, one column per type."""
        hour = self._clock.hour(t)
        diurnal = 1 + self._amplitude * np.cos(2 * np.pi * (hour - self._peak) / 24)
        rates: FloatArray = self._mu * diurnal
        m = self._config.rate_multiplier / 3600
        rain = conditions.rain_mmh
        wind = np.maximum(conditions.wind_ms - 10.0, 0.0) / 5.0
        heat = max(conditions.apparent_c - 31.0, 0.0) / 3.0
        col = self._col
        rates[:, col["traffic_accident"]] *= 1 + np.minimum(rain, 60.0) / TRAFFIC_RAIN_MM_FOR_DOUBLE
        rates[:, col["flood"]] += m * FLOOD_PER_HOUR_AT_30MM * (rain / 30) ** 2 * self._weight
        rates[:, col["landslide"]] += (
            m * LANDSLIDE_PER_HOUR_AT_30MM * (rain / 30) ** 2 * self._hilly
        )
        rates[:, col["storm_damage"]] += m * STORM_DAMAGE_PER_HOUR * wind**2 * self._weight
        rates[:, col["heat_illness"]] += m / 24 * HEAT_PER_DAY_AT_34C * heat**2 * self._share
        return rates

    def step(self, t0: float, dt: float, conditions: Conditions) -> list[tuple[float, SimEvent]]:
        """Incidents rooted in [t0, t0 + dt), with their clusters and duplicates, as
        (send time in seconds since start, event) pairs; offspring may lie far past ``t0 + dt``."""
        counts = self._rng.poisson(self.rates(t0, conditions) * dt)
        out: list[tuple[float, SimEvent]] = []
        for d, k in zip(*np.nonzero(counts), strict=True):
            for _ in range(int(counts[d, k])):
                t = t0 + float(self._rng.uniform(0.0, dt))
                lat, lon = self._areas[d].sample(self._rng, 1)[0]
                self._cluster(int(d), self.types[k], t, float(lat), float(lon), out)
        return out

    def _cluster(
        self, d: int, kind: str, t: float, lat: float, lon: float, out: list[tuple[float, SimEvent]]
    ) -> None:
        theta = KINDS[kind].theta
        decay = self._config.cluster_decay.total_seconds()
        pending = [(t, lat, lon)]
        while pending:
            t, lat, lon = pending.pop()
            self._emit(d, kind, t, lat, lon, out)
            for _ in range(int(self._rng.poisson(theta))):
                child_t = t + float(self._rng.exponential(decay))
                child = self._areas[d].sample_near(self._rng, lat, lon, CLUSTER_SIGMA_KM)
                pending.append((child_t, *child))

    def _emit(
        self, d: int, kind: str, t: float, lat: float, lon: float, out: list[tuple[float, SimEvent]]
    ) -> None:
        spec = KINDS[kind]
        rng = self._rng
        severity = int(rng.choice(5, p=SEVERE_SEVERITY_P if spec.severe else SEVERITY_P)) + 1
        casualties = int(rng.poisson(spec.casualties_at_3 * CASUALTY_FACTOR[severity - 1]))
        district = self._areas[d].district
        self._count += 1
        incident = Incident(
            id=f"{self._tag}-inc-{self._count:06d}",
            source=spec.source,
            type=kind,
            severity=severity,
            occurred_at=at(self._start, t),
            casualties=casualties,
            description=f"{spec.label} · {district.name_ko} ({district.name_en})",
            status="reported",
            lat=lat,
            lon=lon,
        )
        event = SimEvent(incident, district.code)
        sent = t + float(rng.exponential(self._config.report_delay_mean.total_seconds()))
        out.append((sent, event))
        if rng.random() < self._config.duplicate_fraction:
            out.append((sent + float(rng.uniform(*DUPLICATE_DELAY_S)), event))
