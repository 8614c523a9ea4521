"""Simulated safety registry: facilities per district and structure-inspection grades.

Pure: time is seconds since the simulation start. :meth:`SafetyRegistry.inventory` is the city's
register at the start (a ``FacilityFact`` "added" per facility, the latest ``InspectionFact`` per
structure); :meth:`SafetyRegistry.step` then adds and removes the odd facility and files new
inspections. Facility and structure ids depend on the seed only, so a restart with the same seed
re-announces the same facilities at the same places; fact ids also carry the start time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from indices.taxonomy import FACILITY_KINDS, INSPECTION_GRADES
from streams.contract import FacilityFact, InspectionFact
from streams.simulator.base import Area, SimConfig, SimEvent, at

__all__ = ["SafetyRegistry"]

# Facilities per 10,000 residents: orders of magnitude of Korean cities' registers (the national
# Living Safety Map, safemap.go.kr, publishes such layers per 읍·면·동).
PER_10K: dict[str, float] = {
    "cctv": 80.0,  # cameras watched by the city's integrated control centre (통합관제센터)
    "security_light": 120.0,  # 보안등 on alleys and rural roads
    "emergency_bell": 15.0,  # 비상벨 in parks, toilets, alleys
    "shelter": 6.0,  # civil-defence, earthquake and heat shelters (무더위쉼터)
    "hydrant": 35.0,
    "aed": 10.0,
}
# City-wide counts, spread over districts by population: a fire station and its 119 safety centres;
# the police's 지구대 and 파출소.
CITY_TOTAL: dict[str, int] = {"fire_station": 8, "police_box": 11}
assert set(PER_10K) | set(CITY_TOTAL) == set(FACILITY_KINDS)
SOURCE = {"fire_station": "gimpo-fire", "hydrant": "gimpo-fire", "police_box": "gimpo-police"}

# Structures under the 시설물안전법 (bridges, underpasses, retaining walls, large buildings); grades
# mostly A-C, a few D and rare E, as in the national FMS register.
STRUCTURES_PER_10K = 12.0
Grade = Literal["A", "B", "C", "D", "E"]
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D", "E")
assert GRADES == INSPECTION_GRADES
GRADE_P = np.array([0.12, 0.50, 0.32, 0.05, 0.01])
GRADE_STEP_P = 0.15  # a re-inspection moves the grade one step up, or down, with this probability
INSPECTION_SOURCE = "gimpo-fms"

# Share of registry changes: facility added, facility removed, structure re-inspected.
CHANGE_P = np.array([0.45, 0.20, 0.35])


@dataclass
class _Facility:
    kind: str
    district: int
    lat: float
    lon: float


@dataclass
class _Structure:
    structure_id: str
    district: int
    lat: float
    lon: float
    grade: Grade


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` into integers that add up to ``total``."""
    exact = np.asarray(weights, dtype=float) / sum(weights) * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


class SafetyRegistry:
    """The city's safety facilities and inspected structures, and the facts announcing them."""

    def __init__(
        self,
        areas: Sequence[Area],
        rng: np.random.Generator,
        start: datetime,
        config: SimConfig,
        *,
        seed: int,
        id_tag: str,
    ) -> None:
        self._areas = areas
        self._rng = rng
        self._start = start
        self._config = config
        self._seed = seed
        self._tag = id_tag
        self._facts = 0
        self._serial: dict[tuple[str, int], int] = {}
        self.facilities: dict[str, _Facility] = {}
        self.structures: list[_Structure] = []
        population = np.array([a.district.population for a in areas], dtype=float)
        self._share = population / population.sum()
        weights = np.array([PER_10K.get(k, 0.01) for k in FACILITY_KINDS])
        self._kind_p = weights / weights.sum()

    def inventory(self) -> list[tuple[float, SimEvent]]:
        """The register at the start, all sent at t = 0; call once, before :meth:`step`."""
        out: list[tuple[float, SimEvent]] = []
        spread = {
            kind: _largest_remainder(total, list(self._share)) for kind, total in CITY_TOTAL.items()
        }
        for d, area in enumerate(self._areas):
            residents = area.district.population / 10_000
            counts = {kind: round(per * residents) for kind, per in PER_10K.items()}
            counts.update({kind: per_district[d] for kind, per_district in spread.items()})
            for kind in FACILITY_KINDS:
                for lat, lon in area.sample(self._rng, counts[kind]):
                    out.append((0.0, self._add(kind, d, float(lat), float(lon), 0.0)))
            structures = max(1, round(STRUCTURES_PER_10K * residents))
            for n, (lat, lon) in enumerate(area.sample(self._rng, structures), start=1):
                grade = GRADES[int(self._rng.choice(5, p=GRADE_P))]
                sid = f"s{self._seed}-structure-{area.district.code}-{n:04d}"
                structure = _Structure(sid, d, float(lat), float(lon), grade)
                self.structures.append(structure)
                inspected = -float(self._rng.uniform(0, 365)) * 86_400  # within the past year
                out.append((0.0, self._inspection(structure, inspected)))
        return out

    def step(self, t0: float, dt: float) -> list[tuple[float, SimEvent]]:
        """Registry changes in [t0, t0 + dt) as (send time, event) pairs."""
        rng = self._rng
        rate = self._config.safety_changes_per_day * self._config.rate_multiplier / 86_400
        out: list[tuple[float, SimEvent]] = []
        for _ in range(int(rng.poisson(rate * dt))):
            t = t0 + float(rng.uniform(0, dt))
            change = int(rng.choice(3, p=CHANGE_P))
            if change == 0 or (change == 1 and not self.facilities):
                kind = FACILITY_KINDS[int(rng.choice(len(FACILITY_KINDS), p=self._kind_p))]
                d = int(rng.choice(len(self._areas), p=self._share))
                lat, lon = self._areas[d].sample(rng, 1)[0]
                out.append((t, self._add(kind, d, float(lat), float(lon), t)))
            elif change == 1:
                ids = list(self.facilities)
                out.append((t, self._remove(ids[int(rng.integers(len(ids)))], t)))
            elif self.structures:
                structure = self.structures[int(rng.integers(len(self.structures)))]
                move = int(rng.choice(3, p=[GRADE_STEP_P, 1 - 2 * GRADE_STEP_P, GRADE_STEP_P])) - 1
                index = GRADES.index(structure.grade) + move
                structure.grade = GRADES[min(max(index, 0), len(GRADES) - 1)]
                out.append((t, self._inspection(structure, t)))
        return out

    def _next_fact_id(self, what: str) -> str:
        self._facts += 1
        return f"{self._tag}-{what}-{self._facts:06d}"

    def _add(self, kind: str, d: int, lat: float, lon: float, t: float) -> SimEvent:
        serial = self._serial.get((kind, d), 0) + 1
        self._serial[(kind, d)] = serial
        code = self._areas[d].district.code
        facility_id = f"s{self._seed}-{kind}-{code}-{serial:05d}"
        self.facilities[facility_id] = _Facility(kind, d, lat, lon)
        return self._facility_fact(facility_id, "added", t)

    def _remove(self, facility_id: str, t: float) -> SimEvent:
        event = self._facility_fact(facility_id, "removed", t)
        del self.facilities[facility_id]
        return event

    def _facility_fact(
        self, facility_id: str, action: Literal["added", "removed"], t: float
    ) -> SimEvent:
        facility = self.facilities[facility_id]
        fact = FacilityFact(
            id=self._next_fact_id("fac"),
            source=SOURCE.get(facility.kind, "gimpo-city"),
            facility_id=facility_id,
            facility=facility.kind,
            action=action,
            effective_at=at(self._start, t),
            lat=facility.lat,
            lon=facility.lon,
        )
        return SimEvent(fact, self._areas[facility.district].district.code)

    def _inspection(self, structure: _Structure, t: float) -> SimEvent:
        fact = InspectionFact(
            id=self._next_fact_id("insp"),
            source=INSPECTION_SOURCE,
            structure_id=structure.structure_id,
            grade=structure.grade,
            effective_at=at(self._start, t),
            lat=structure.lat,
            lon=structure.lon,
        )
        return SimEvent(fact, self._areas[structure.district].district.code)
