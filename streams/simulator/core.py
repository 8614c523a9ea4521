"""The event simulator's pure core: a city's incidents, sensor readings and safety facts over time.

Build it from plain district data, a seed and a start time, then move its clock forward::

    from streams.simulator.districts import districts_from_city, river_gauges_of
    city = load_city_config(None)           # the configured city (None: approximate Gimpo)
    start = datetime(2026, 11, 24, 9, 0, tzinfo=KST)
    sim = Simulator(districts_from_city(city.city), seed=7, start=start,
                    config=SimConfig(rate_multiplier=30, river_gauges=river_gauges_of(city)))
    events = sim.advance(start + timedelta(seconds=10))   # wire models, oldest send time first

No I/O and no clock reading here; :mod:`streams.simulator.producer` publishes what ``advance``
returns.

The city is simulated in fixed ticks of :data:`TICK_S` seconds, whatever the steps of ``advance``.
Events are pre-drawn tick by tick and held until their send time has passed, so the events of a run
depend only on (districts, seed, start, config) and the latest time reached: the same seed and
calls give the same events, and so do ``advance(t)`` once or in many small steps up to ``t``.

What it produces (see the ``sim_*`` modules for rates and their sources):

* :class:`Incident` per district and type, Poisson rates proportional to population, self-exciting
  clusters, ~5 % resent unchanged (same source, id and content) to exercise idempotency;
* :class:`SensorReading` from rain, temperature, wind, PM10/PM2.5 and the city's river gauges every
  ``reading_interval``, with daily cycles, storms and haze episodes;
* :class:`FacilityFact` and :class:`InspectionFact`: the register at the start, then changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from streams.contract import InputEvent
from streams.simulator.base import KST, Area, DistrictInput, SimConfig, SimEvent
from streams.simulator.incidents import IncidentProcess
from streams.simulator.safety import SafetyRegistry
from streams.simulator.weather import Storm, Weather

__all__ = ["KST", "TICK_S", "DistrictInput", "SimConfig", "SimEvent", "Simulator"]

TICK_S = 10.0
"""Simulation step (s): rates, storms and anomalies are evaluated once per tick."""


class Simulator:
    """A deterministic simulated city. Call :meth:`advance` with a non-decreasing clock.

    ``start`` must be timezone-aware; emitted times carry the KST offset. Ids contain the seed and
    the start time (``s7-20261124T120500Z-inc-000042``), so runs with another seed or start never
    reuse an id for different content, while a rerun of the same seed and start repeats itself.
    """

    def __init__(
        self,
        districts: Sequence[DistrictInput],
        seed: int,
        start: datetime,
        config: SimConfig | None = None,
    ) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware, e.g. datetime.now(KST)")
        if not districts or any(d.population <= 0 for d in districts):
            raise ValueError("give at least one district, each with a positive population")
        self.config = config or SimConfig()
        self.start = start
        self.seed = seed
        self.areas = [Area(d) for d in districts]
        tag = f"s{seed}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
        self._weather = Weather(self.areas, streams[0], start, self.config)
        self._incidents = IncidentProcess(self.areas, streams[1], start, self.config, tag)
        self._safety = SafetyRegistry(
            self.areas, streams[2], start, self.config, seed=seed, id_tag=tag
        )
        self._queue: list[tuple[float, int, SimEvent]] = []
        self._pushed = 0
        self._ticks = 0
        self._reached = 0.0
        self._push(self._safety.inventory())

    @property
    def now(self) -> datetime:
        """The latest time :meth:`advance` reached."""
        return self.start + timedelta(seconds=self._reached)

    @property
    def storms(self) -> list[Storm]:
        """Storms that are active or over less than a tick ago (for logging and dashboards)."""
        return list(self._weather.storms)

    @property
    def sensor_ids(self) -> list[str]:
        return [s.sensor_id for s in self._weather.stations]

    def advance(self, now: datetime) -> list[InputEvent]:
        """Events sent in (previous ``now``, ``now``], oldest first; the first call also returns
        the safety register at the start. A ``now`` earlier than the previous one returns []."""
        return [e.event for e in self.advance_with_districts(now)]

    def advance_with_districts(self, now: datetime) -> list[SimEvent]:
        """Like :meth:`advance`, each event paired with the district it was placed in."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        elapsed = (now - self.start).total_seconds()
        while self._ticks * TICK_S <= elapsed:
            self._tick(self._ticks * TICK_S)
            self._ticks += 1
        self._reached = max(self._reached, elapsed)
        out: list[SimEvent] = []
        while self._queue and self._queue[0][0] <= elapsed:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def _tick(self, t0: float) -> None:
        conditions, readings = self._weather.step(t0, TICK_S)
        self._push(readings)
        self._push(self._incidents.step(t0, TICK_S, conditions))
        self._push(self._safety.step(t0, TICK_S))

    def _push(self, timed: list[tuple[float, SimEvent]]) -> None:
        entries = [(sent, self._pushed + i, event) for i, (sent, event) in enumerate(timed)]
        self._pushed += len(entries)
        if len(entries) > len(self._queue):  # e.g. the register at the start: heapify is O(n)
            self._queue.extend(entries)
            heapq.heapify(self._queue)
        else:
            for entry in entries:
                heapq.heappush(self._queue, entry)
