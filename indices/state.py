"""Per-district incremental state: feed events with ``apply``, read scores with ``evaluate``.

>>> params = ModelParams()
>>> district = District("4157056000", "장기동", population=41_316, area_km2=4.1)
>>> state = DistrictState.new()
>>> fire = IncidentIn("gimpo-fire:981", "fire", severity=4, t=0.0)
>>> state.apply(fire, params), state.apply(fire, params)
('applied', 'duplicate')
>>> state.apply(IncidentIn("gimpo-fire:981", "fire", severity=5, t=0.0), params)
'conflict'
>>> scores = state.evaluate(district, params, at=12 * 3600.0)  # one fire half-life later
>>> scores.domains["fire"].intensity, scores.events
(4.0, 1)
>>> round(state.contribution(fire, district, params, at=12 * 3600.0), 3)
1.813
>>> [(key, kind, round(c, 3)) for key, kind, c in state.drivers("fire", district, params, 43200.0)]
[('gimpo-fire:981', 'fire', 1.813)]
>>> DistrictState.from_dict(state.to_dict()) == state
True
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Mapping

from indices.errors import InvalidConfig, InvalidEvent, InvalidState
from indices.formulas import Components, clamp, compose, fade, incident_hazard, mark, sensor_hazard
from indices.model import (
    District,
    Event,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    Outcome,
    ReadingIn,
    Scores,
    WithdrawIn,
)
from indices.params import RIVER_KIND, ModelParams, StateLimits
from indices.records import (
    FacilityRecord,
    FactRecord,
    IncidentRecord,
    InspectionRecord,
    ReadingRecord,
    decode_fact,
    decode_intensity,
    decode_table,
    fact_rank,
    reading_rank,
)
from indices.taxonomy import DOMAINS, SENSOR_DOMAIN

__all__ = ["STATE_FORMAT", "DistrictState", "Driver"]

DEFAULT_LIMITS = StateLimits()
STATE_FORMAT = 2  # version of the to_dict layout; from_dict also reads 1 and refuses others
Driver = tuple[str, str, float]  # (event id, type or sensor kind, contribution 0-10)


class DistrictState:
    """Explicit per-district state. Mutated only by :meth:`apply` and :meth:`prune`;
    :meth:`evaluate`, :meth:`contribution` and :meth:`drivers` only read (``drivers`` keeps a
    derived ordering as a cache, which is not part of the state's value).

    Keeps, per domain, the Hawkes sum S and the newest event time (O(1) per incident, independent of
    arrival order); every incident's dedup key with the domain it went to; each sensor's newest
    reading; every safety fact, with the newest one per facility and structure. Persist it with
    :meth:`to_dict` (JSON-safe) and restore it with :meth:`from_dict`; never pickle it. Use one
    :class:`ModelParams` for a state's whole life.
    """

    __slots__ = (
        "_by_domain",
        "_counts",
        "_facts",
        "_grades",
        "_incidents",
        "_intensity",
        "_newest",
        "_ranked",
        "_readings",
        "_times",
        "_withdrawn",
    )

    def __init__(self) -> None:
        """An empty state; prefer :meth:`new` or :meth:`from_dict`."""
        self._incidents: dict[str, IncidentRecord] = {}
        self._intensity: dict[str, tuple[float, float]] = {}  # domain -> (S at t_last, t_last)
        self._readings: dict[str, ReadingRecord] = {}  # sensor_id -> newest reading
        self._facts: dict[str, FactRecord] = {}  # dedup key -> fact
        # Derived from _facts (rebuilt by from_dict): newest fact key per ("facility"|"structure",
        # id), facilities in service per kind, structures per newest grade.
        self._newest: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._grades: dict[str, int] = {}
        self._by_domain: dict[str, set[str]] = {}  # domain -> keys of its held incidents
        # A cache for drivers(): per domain, the held incidents ordered by their time-invariant
        # rank, largest first, as (-rank, key); built on first use, kept by apply, dropped by prune.
        self._ranked: dict[str, list[tuple[float, str]]] = {}
        # domain -> times of its held incidents, sorted (derived): counting those inside the
        # domain's horizon is a binary search, not a walk over every incident.
        self._times: dict[str, list[float]] = {}
        # incident key -> when its effect was withdrawn (WithdrawIn): the incident is gone and a
        # copy arriving later is ignored; forgotten by prune after the longest horizon.
        self._withdrawn: dict[str, float] = {}

    @classmethod
    def new(cls) -> DistrictState:
        """A state that has seen nothing."""
        return cls()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DistrictState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"<DistrictState incidents={len(self._incidents)} sensors={len(self._readings)} "
            f"facts={len(self._facts)}>"
        )

    def sizes(self) -> dict[str, int]:
        """What the state holds of each kind :class:`StateLimits` bounds (for metrics)."""
        return {
            "incidents": len(self._incidents),
            "sensors": len(self._readings),
            "facts": len(self._facts),
        }

    # --- mutation ---------------------------------------------------------------------------

    def apply(
        self, event: Event, params: ModelParams, limits: StateLimits = DEFAULT_LIMITS
    ) -> Outcome:
        """Take ``event`` into the state and say what happened to it.

        - ``"applied"``: taken into account. It may not move any score: a reading or fact older
          than the newest one for its sensor, facility or structure is applied and has no effect.
        - ``"duplicate"``: this incident or fact key (or this exact reading) was already applied;
          nothing changed. Expected on redelivery; acknowledge and move on.
        - ``"conflict"``: the key was applied before with different content; the first one stays.
          Report it (dead-letter ``conflict``): the source reused an id.
        - ``"unknown_gauge"``: a river level from a gauge without ``params.river_stages``; nothing
          changed. Configure the gauge's stages to use it.
        - ``"unmapped_type"``: an incident whose type ``params.incident_domain`` leaves out; nothing
          changed. The city chose not to count that type.
        - ``"over_capacity"``: a new incident key, sensor or fact key while the state already
          holds ``limits``' maximum of that kind; nothing changed (see :class:`StateLimits`).
        - ``"withdrawn"``: an incident whose effect was withdrawn (:class:`WithdrawIn`) before it
          arrived; nothing changed. A withdrawal itself is ``"applied"`` (the incident, if held,
          no longer counts) or a ``"duplicate"``.
        """
        if isinstance(event, IncidentIn):
            return self._apply_incident(event, params, limits)
        if isinstance(event, ReadingIn):
            return self._apply_reading(event, params, limits)
        if isinstance(event, FacilityIn):
            return self._apply_fact(event.key, FacilityRecord.of(event), limits)
        if isinstance(event, InspectionIn):
            return self._apply_fact(event.key, InspectionRecord.of(event), limits)
        if isinstance(event, WithdrawIn):
            return self._withdraw(event, params, limits)
        raise InvalidEvent(f"not an indices event: {type(event).__name__}")

    def prune(self, params: ModelParams, at: float) -> int:
        """Forget dedup keys that can no longer matter at ``at`` or later; returns how many.

        An incident key goes once ``at - t`` exceeds its domain's horizon (``horizon_half_lives``
        half-lives: less than 1e-12 of its mark is left). A safety fact's key goes once another fact
        superseded it and it is older than the longest domain horizon. Scores evaluated at ``at`` or
        later do not change. It walks every key, so call it now and then (e.g. hourly) with the
        current time; a key redelivered after being forgotten adds less than 1e-12 of its mark to
        scores at ``at`` or later.
        """
        expired = [
            key
            for key, record in self._incidents.items()
            if at - record.t > params.horizon_s(record.domain)
        ]
        for key in expired:
            self._forget_incident(key)
        horizon = params.fact_horizon_s()
        done = [key for key, t in self._withdrawn.items() if at - t > horizon]
        for key in done:
            del self._withdrawn[key]
        newest = set(self._newest.values())
        stale = [
            key
            for key, record in self._facts.items()
            if key not in newest and at - record.t > horizon
        ]
        for key in stale:
            del self._facts[key]
        return len(expired) + len(done) + len(stale)

    def _forget_incident(self, key: str) -> IncidentRecord:
        record = self._incidents.pop(key)
        self._by_domain[record.domain].discard(key)
        times = self._times[record.domain]
        del times[bisect.bisect_left(times, record.t)]
        self._ranked.pop(record.domain, None)
        return record

    def _apply_incident(
        self, event: IncidentIn, params: ModelParams, limits: StateLimits
    ) -> Outcome:
        domain = params.incident_domain.get(event.type)
        if domain is None:
            return "unmapped_type"
        record = IncidentRecord.of(event, domain)
        held = self._incidents.get(event.key)
        if held is not None:
            return "duplicate" if held == record else "conflict"
        if event.key in self._withdrawn:
            return "withdrawn"
        if len(self._incidents) >= limits.max_incidents:
            return "over_capacity"
        self._incidents[event.key] = record
        self._by_domain.setdefault(domain, set()).add(event.key)
        bisect.insort(self._times.setdefault(domain, []), record.t)
        ranked = self._ranked.get(domain)
        if ranked is not None:
            bisect.insort(ranked, (-_rank(record, params), event.key))
        weight = mark(record.severity, record.casualties, params)
        omega = params.decay_rate(domain)
        total, t_last = self._intensity.get(domain, (0.0, record.t))
        # Exponential kernels commute (Mohler et al. 2015): decay the sum to the newer of the two
        # times and add the mark decayed to the same time. Arrival order only changes rounding.
        if record.t >= t_last:
            total = total * math.exp(-omega * (record.t - t_last)) + weight
            t_last = record.t
        else:
            total += weight * math.exp(-omega * (t_last - record.t))
        self._intensity[domain] = (total, t_last)
        return "applied"

    def _withdraw(self, event: WithdrawIn, params: ModelParams, limits: StateLimits) -> Outcome:
        """End incident ``event.key``'s effect: forget it and recompute its domain's sum from the
        incidents still held (withdrawals are rare; subtracting would leave rounding residue and
        keep the withdrawn incident's time as the domain's newest)."""
        if event.key in self._withdrawn:
            return "duplicate"
        if len(self._withdrawn) >= limits.max_incidents:
            return "over_capacity"
        self._withdrawn[event.key] = float(event.t)
        if event.key not in self._incidents:
            return "applied"
        domain = self._forget_incident(event.key).domain
        held = [self._incidents[key] for key in self._by_domain[domain]]
        if not held:
            del self._intensity[domain]
            return "applied"
        omega = params.decay_rate(domain)
        t_last = max(record.t for record in held)
        ordered = sorted(held, key=lambda record: (record.t, record.severity, record.casualties))
        total = math.fsum(
            mark(r.severity, r.casualties, params) * math.exp(-omega * (t_last - r.t))
            for r in ordered
        )
        self._intensity[domain] = (total, t_last)
        return "applied"

    def _apply_reading(self, event: ReadingIn, params: ModelParams, limits: StateLimits) -> Outcome:
        if event.kind == RIVER_KIND and event.sensor_id not in params.river_stages:
            return "unknown_gauge"
        record = ReadingRecord.of(event)
        held = self._readings.get(event.sensor_id)
        if held == record:
            return "duplicate"
        if held is None and len(self._readings) >= limits.max_sensors:
            return "over_capacity"
        if held is None or reading_rank(record) > reading_rank(held):
            self._readings[event.sensor_id] = record
        return "applied"

    def _apply_fact(self, key: str, record: FactRecord, limits: StateLimits) -> Outcome:
        held = self._facts.get(key)
        if held is not None:
            return "duplicate" if held == record else "conflict"
        if len(self._facts) >= limits.max_facts:
            return "over_capacity"
        self._facts[key] = record
        self._promote(key, record)
        return "applied"

    def _promote(self, key: str, record: FactRecord) -> None:
        """Make ``record`` its facility's or structure's newest fact if it outranks the holder."""
        table = "facility" if isinstance(record, FacilityRecord) else "structure"
        subject = (table, record.subject)
        current = self._newest.get(subject)
        if current is not None:
            if fact_rank(current, self._facts[current]) >= fact_rank(key, record):
                return
            self._count(self._facts[current], -1)
        self._newest[subject] = key
        self._count(record, +1)

    def _count(self, record: FactRecord, step: int) -> None:
        if isinstance(record, FacilityRecord):
            if record.present:
                self._counts[record.facility] = self._counts.get(record.facility, 0) + step
        else:
            self._grades[record.grade] = self._grades.get(record.grade, 0) + step

    # --- reading ----------------------------------------------------------------------------

    def evaluate(self, district: District, params: ModelParams, at: float) -> Scores:
        """The district's scores at ``at`` (epoch seconds); does not change the state.

        Each domain's incidents are read at ``max(at, newest incident time)``: the model never
        evaluates before an event it has seen. Readings stamped after ``at`` count as fresh.
        """
        return compose(district, params, self._components(params, at))

    def contribution(
        self, event: Event, district: District, params: ModelParams, at: float
    ) -> float:
        """How much of its domain's hazard (0-10) ``event`` explains at ``at``; ranks drivers.

        For an incident the state holds: its proportional share of the domain's incident hazard
        (the shares of all held incidents of a domain sum to that hazard). For a reading that is its
        sensor's newest: its faded sensor hazard. 0.0 for everything else: safety facts, readings
        superseded by newer ones, incidents whose key is not held or is held with other content.
        """
        if isinstance(event, IncidentIn):
            domain = params.incident_domain.get(event.type)
            record = IncidentRecord.of(event, domain) if domain is not None else None
            if record is None or self._incidents.get(event.key) != record:
                return 0.0
            return self._shares(record.domain, district, params, at)(record)
        if isinstance(event, ReadingIn) and self._readings.get(event.sensor_id) == ReadingRecord.of(
            event
        ):
            return _reading_hazard(event.sensor_id, ReadingRecord.of(event), params, at)
        return 0.0

    def drivers(
        self, domain: str, district: District, params: ModelParams, at: float, limit: int = 5
    ) -> list[Driver]:
        """The ``limit`` events that explain most of ``domain``'s hazard at ``at``, largest first.

        Each is ``(event_id, type, contribution)``: an incident's key, type and share of the
        incident hazard (all held incidents' shares sum to it), or a sensor's id, kind and faded
        hazard. Only positive contributions; ties go by id, then type.

        An incident's share at any time is proportional to ``mark * e^(omega t)``, so the order of a
        domain's incidents does not change with time: it is kept sorted as incidents arrive, and
        only the first ``limit`` (plus near-ties) are evaluated. Cost: O(limit) plus the sensors.
        """
        if domain not in DOMAINS:
            raise InvalidConfig(f"unknown domain {domain!r}; known: {', '.join(DOMAINS)}")
        share = self._shares(domain, district, params, at)
        found: list[Driver] = []
        for key in self._top_incidents(domain, params, limit):
            record = self._incidents[key]
            found.append((key, record.type, share(record)))
        for sensor_id, reading in self._readings.items():
            if SENSOR_DOMAIN[reading.kind] == domain:
                found.append(
                    (sensor_id, reading.kind, _reading_hazard(sensor_id, reading, params, at))
                )
        ranked = (item for item in found if item[2] > 0.0)
        return heapq.nsmallest(max(limit, 0), ranked, key=lambda d: (-d[2], d[0], d[1]))

    def _top_incidents(self, domain: str, params: ModelParams, limit: int) -> list[str]:
        """Keys of the domain's ``limit`` largest incidents by rank, and any within a rounding
        error of the last of them (the caller ranks these by their computed shares)."""
        ranked = self._ranked.get(domain)
        if ranked is None:
            ranked = sorted(
                (-_rank(self._incidents[key], params), key)
                for key in self._by_domain.get(domain, ())
            )
            self._ranked[domain] = ranked
        if limit <= 0 or not ranked:
            return []
        cut = ranked[min(limit, len(ranked)) - 1][0] + RANK_SLACK
        chosen: list[str] = []
        for negative_rank, key in ranked:
            if len(chosen) >= limit and negative_rank > cut:
                break
            chosen.append(key)
        return chosen

    def _shares(
        self, domain: str, district: District, params: ModelParams, at: float
    ) -> Callable[[IncidentRecord], float]:
        """Share of the domain's incident hazard of a held incident of ``domain``."""
        total, t_last = self._intensity.get(domain, (0.0, at))
        omega = params.decay_rate(domain)
        when = max(at, t_last)
        intensity = total * math.exp(-omega * (when - t_last))
        hazard = incident_hazard(intensity, district.population, domain, params)

        def share(record: IncidentRecord) -> float:
            if intensity <= 0.0:
                return 0.0
            own = mark(record.severity, record.casualties, params) * math.exp(
                -omega * (when - record.t)
            )
            return clamp(hazard * min(own / intensity, 1.0))

        return share

    def _components(self, params: ModelParams, at: float) -> Components:
        intensity = {
            domain: total * math.exp(-params.decay_rate(domain) * (max(at, t_last) - t_last))
            for domain, (total, t_last) in self._intensity.items()
        }
        hazards: dict[str, float] = {}
        newest: dict[str, float] = {}
        for sensor_id, record in self._readings.items():
            domain = SENSOR_DOMAIN[record.kind]
            value = _reading_hazard(sensor_id, record, params, at)
            hazards[domain] = max(hazards.get(domain, 0.0), value)
            newest[record.kind] = max(newest.get(record.kind, -math.inf), record.t)
        events = sum(
            len(times) - _first_within(times, at, params.horizon_s(domain))
            for domain, times in self._times.items()
        )
        return Components(
            intensity=intensity,
            sensor_hazard=hazards,
            facilities=dict(self._counts),
            grades=dict(self._grades),
            events=events,
            freshness_s={kind: at - t for kind, t in newest.items()},
        )

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The state as JSON-safe data (str, int, float, list, dict); :meth:`from_dict` restores it
        exactly, also through ``json.dumps``/``json.loads``."""
        data: dict[str, object] = {
            "format": STATE_FORMAT,
            "incidents": {key: record.encode() for key, record in self._incidents.items()},
            "intensity": {domain: [total, t] for domain, (total, t) in self._intensity.items()},
            "readings": {sensor: record.encode() for sensor, record in self._readings.items()},
            "facts": {key: record.encode() for key, record in self._facts.items()},
        }
        if self._withdrawn:  # absent when empty: states without withdrawals stay as they were
            data["withdrawn"] = dict(self._withdrawn)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DistrictState:
        """Restore a state written by :meth:`to_dict`.

        Raises :class:`~indices.errors.InvalidState` if ``data`` is malformed or of another format
        version; rebuild such a state by replaying its events.
        """
        version = data.get("format")
        if version not in (1, STATE_FORMAT):
            raise InvalidState(f"state format {version!r}, expected {STATE_FORMAT} (or 1)")
        state = cls()
        decode = IncidentRecord.decode if version == STATE_FORMAT else IncidentRecord.decode_v1
        state._incidents = decode_table(data, "incidents", decode)
        state._intensity = decode_table(data, "intensity", decode_intensity)
        state._readings = decode_table(data, "readings", ReadingRecord.decode)
        state._facts = decode_table(data, "facts", decode_fact)
        if "withdrawn" in data:
            state._withdrawn = decode_table(data, "withdrawn", _decode_time)
        for key, record in state._incidents.items():
            state._by_domain.setdefault(record.domain, set()).add(key)
            state._times.setdefault(record.domain, []).append(record.t)
        for times in state._times.values():
            times.sort()
        missing = set(state._by_domain) - set(state._intensity)
        if missing:
            raise InvalidState(f"incidents of {sorted(missing)} held without their intensity")
        for key, fact in state._facts.items():
            state._promote(key, fact)
        return state


def _decode_time(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidState(f"withdrawal {key!r}: time must be a finite number, got {value!r}")
    return float(value)


# Ranks are compared within this (absolute, in log units) so that two incidents whose shares may
# round to the same float are both evaluated; ranks are ~1e4-1e5 with epoch times, ulp ~1e-11.
RANK_SLACK = 1e-9


def _first_within(times: list[float], at: float, horizon: float) -> int:
    """Index of the first of the sorted ``times`` with ``at - t <= horizon``: a binary search on
    that very test (monotone in t), so it counts exactly what a walk over every time would."""
    lo, hi = 0, len(times)
    while lo < hi:
        mid = (lo + hi) // 2
        if at - times[mid] <= horizon:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _rank(record: IncidentRecord, params: ModelParams) -> float:
    """log(mark) + omega * t: larger means a larger share of the domain's hazard, at any time."""
    weight = mark(record.severity, record.casualties, params)
    if weight <= 0.0:
        return -math.inf
    return math.log(weight) + params.decay_rate(record.domain) * record.t


def _reading_hazard(sensor_id: str, record: ReadingRecord, params: ModelParams, at: float) -> float:
    """A held reading's hazard at ``at``: its curve value times its freshness fade."""
    value = sensor_hazard(record.kind, record.value, sensor_id, params)
    return value * fade(at - record.t, params.validity_s[record.kind])
