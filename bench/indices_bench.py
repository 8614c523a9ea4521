"""Benchmarks of the index model on one core, through the public API of :mod:`indices` only.

* ``indices_incremental``: ``DistrictState.apply`` of pre-built random events over 14 districts
  (target: 200,000 updates/s), and ``evaluate`` on the grown states and on a realistic month.
* ``indices_batch``: ``score_batch`` over 1M events, for one district and split over 14 districts
  (target: 2,000,000 events/s).
* ``indices_memory``: tracemalloc size of a state holding a realistic month of a 40k-resident
  district at Gimpo rates, and the size of its ``to_dict()`` JSON.

Events are built before timing (their construction, i.e. validation, is not timed). Each timed
figure is the median of ``runs`` runs after one untimed warm-up run.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench import Result, progress
from indices import (
    District,
    DistrictState,
    Event,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    ModelParams,
    ReadingIn,
    score_batch,
    taxonomy,
)

__all__ = [
    "FULL",
    "QUICK",
    "Sizes",
    "bench_batch",
    "bench_incremental",
    "bench_memory",
    "run",
]

DAY_S = 86_400.0
HOUR_S = 3_600.0
T0 = 1_795_000_000.0  # 2026-11-18, epoch seconds

APPLY_TARGET = 200_000.0  # incremental updates (apply calls) per second, one core
BATCH_TARGET = 2_000_000.0  # events per second through score_batch, one core

# Gimpo's 14 districts: code, name, residents (2021), area km² (official boundaries,
# ../shared/data/gimpo).
GIMPO: tuple[tuple[str, str, int, float], ...] = (
    ("4157025000", "통진읍", 29059, 29.1),
    ("4157025300", "고촌읍", 48142, 25.0),
    ("4157025600", "양촌읍", 29141, 35.9),
    ("4157034000", "대곶면", 9880, 47.4),
    ("4157035000", "월곶면", 5440, 50.0),
    ("4157036000", "하성면", 8200, 54.9),
    ("4157051500", "김포본동", 60981, 10.7),
    ("4157052500", "장기본동", 38875, 2.5),
    ("4157054000", "사우동", 22651, 3.3),
    ("4157055000", "풍무동", 61768, 4.7),
    ("4157056000", "장기동", 41316, 4.3),
    ("4157057000", "구래동", 45249, 2.1),
    ("4157057500", "마산동", 35971, 3.2),
    ("4157058000", "운양동", 49835, 7.5),
)
DISTRICTS: tuple[District, ...] = tuple(District(*row) for row in GIMPO)

# The model's vocabulary as documented in README.md (an unknown name would raise InvalidEvent).
INCIDENT_TYPES = tuple(taxonomy.INCIDENT_TYPES)
SENSOR_RANGES: dict[str, tuple[float, float]] = {
    "rainfall_mm_1h": (0.0, 80.0),
    "river_level_m": (0.0, 8.0),
    "apparent_temperature_c": (-10.0, 38.0),
    "wind_ms": (0.0, 26.0),
    "pm10_ugm3": (0.0, 300.0),
    "pm25_ugm3": (0.0, 150.0),
}
SENSOR_KINDS = tuple(SENSOR_RANGES)
FACILITY_KINDS = taxonomy.FACILITY_KINDS
GRADES = taxonomy.INSPECTION_GRADES
SEVERITY_P = (0.35, 0.3, 0.2, 0.1, 0.05)
RIVER_STAGES = (3.0, 4.5, 6.0, 7.5)


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does."""

    apply_events: int  # events applied per run of indices_incremental
    batch_events: int  # events per run of indices_batch
    eval_budget_s: float  # time spent evaluating per run
    month_days: int  # days of events in the memory benchmark's district
    runs: int  # timed runs (median reported), after one warm-up


FULL = Sizes(apply_events=200_000, batch_events=1_000_000, eval_budget_s=0.5, month_days=30, runs=3)
QUICK = Sizes(apply_events=3_000, batch_events=10_000, eval_budget_s=0.02, month_days=3, runs=3)


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Shares of event kinds (incidents, readings, facts) and of redelivered duplicates."""

    incidents: float = 0.85
    readings: float = 0.10
    facts: float = 0.05
    duplicates: float = 0.05
    inspection_share: float = 0.25  # of facts
    sensors_per_district: int = 30  # 5 per kind
    facilities_per_district: int = 800
    structures_per_district: int = 60


def model_params(sensors_per_district: int = Mix().sensors_per_district) -> ModelParams:
    """Default parameters, plus flood stages for every river gauge the generator makes."""
    gauges = {
        sensor_id(d, j): RIVER_STAGES
        for d in range(len(DISTRICTS))
        for j in range(sensors_per_district)
        if sensor_kind(j) == "river_level_m"
    }
    return dataclasses.replace(ModelParams(), river_stages=gauges)


def sensor_id(district: int, j: int) -> str:
    return f"{sensor_kind(j)}-{district:02d}-{j:02d}"


def sensor_kind(j: int) -> str:
    return SENSOR_KINDS[j % len(SENSOR_KINDS)]


def random_events(
    n: int,
    districts: Sequence[int],
    rng: np.random.Generator,
    *,
    span_s: float,
    mix: Mix = Mix(),
    t0: float = T0,
) -> list[tuple[int, Event]]:
    """``n`` (district index, event) pairs, districts drawn uniformly from ``districts``; times
    uniform over ``span_s``, in random order.

    A ``mix.duplicates`` share are redeliveries: equal copies of an earlier event of the list.
    """
    kind = rng.choice(3, size=n, p=(mix.incidents, mix.readings, mix.facts))
    district = rng.choice(np.asarray(districts), size=n)
    t = t0 + rng.uniform(0.0, span_s, size=n)
    severity = rng.choice(5, size=n, p=SEVERITY_P) + 1
    casualties = np.where(rng.random(n) < 0.1, rng.integers(1, 4, size=n), 0)
    pick = rng.integers(0, 1 << 30, size=n)
    unit = rng.random(n)
    duplicate = rng.random(n) < mix.duplicates
    out: list[tuple[int, Event]] = []
    for i in range(n):
        if duplicate[i] and out:
            d, earlier = out[int(pick[i]) % len(out)]
            out.append((d, dataclasses.replace(earlier)))  # equal content, a new object
            continue
        d = int(district[i])
        ti = float(t[i])
        p = int(pick[i])
        event: Event
        if kind[i] == 0:
            itype = INCIDENT_TYPES[p % len(INCIDENT_TYPES)]
            event = IncidentIn(
                f"agency-{itype}:{d}-{i}", itype, int(severity[i]), ti, int(casualties[i])
            )
        elif kind[i] == 1:
            j = p % mix.sensors_per_district
            low, high = SENSOR_RANGES[sensor_kind(j)]
            value = round(low + (high - low) * float(unit[i]), 1)
            event = ReadingIn(sensor_id(d, j), sensor_kind(j), value, ti)
        elif unit[i] < mix.inspection_share:
            structure = f"structure-{d:02d}-{p % mix.structures_per_district:03d}"
            event = InspectionIn(f"gimpo-city:insp-{d}-{i}", structure, GRADES[p % 5], ti)
        else:
            facility = FACILITY_KINDS[p % len(FACILITY_KINDS)]
            facility_id = f"{facility}-{d:02d}-{p % mix.facilities_per_district:04d}"
            present = bool(unit[i] < 0.9)
            event = FacilityIn(f"gimpo-city:fac-{d}-{i}", facility_id, facility, present, ti)
        out.append((d, event))
    return out


def month_events(days: int, rng: np.random.Generator) -> list[Event]:
    """A realistic stretch of one 40k-resident district at Gimpo rates.

    About 3 incidents a day, 30 sensors each reporting hourly (newest per sensor is kept), and about
    1000 safety facts (800 facilities, 60 structures, of which some facts supersede others).
    """
    events: list[Event] = []
    span = days * DAY_S
    for i in range(3 * days):
        itype = INCIDENT_TYPES[int(rng.integers(len(INCIDENT_TYPES)))]
        severity = int(rng.choice(5, p=SEVERITY_P)) + 1
        t = T0 + float(rng.uniform(0.0, span))
        events.append(IncidentIn(f"agency-{itype}:m-{i}", itype, severity, t))
    for hour in range(24 * days):
        for j in range(30):
            low, high = SENSOR_RANGES[sensor_kind(j)]
            value = round(float(rng.uniform(low, high)), 1)
            events.append(ReadingIn(sensor_id(0, j), sensor_kind(j), value, T0 + hour * HOUR_S))
    for i in range(900):
        facility = FACILITY_KINDS[i % len(FACILITY_KINDS)]
        facility_id = f"{facility}-00-{int(rng.integers(800)):04d}"
        t = T0 - float(rng.uniform(0.0, 365 * DAY_S))
        present = bool(rng.random() < 0.9)
        events.append(FacilityIn(f"gimpo-city:fac-{i}", facility_id, facility, present, t))
    for i in range(100):
        structure = f"structure-00-{int(rng.integers(60)):03d}"
        t = T0 - float(rng.uniform(0.0, 365 * DAY_S))
        grade = GRADES[int(rng.integers(5))]
        events.append(InspectionIn(f"gimpo-city:insp-{i}", structure, grade, t))
    return events


def month_state(days: int, params: ModelParams, rng: np.random.Generator) -> DistrictState:
    state = DistrictState.new()
    for event in month_events(days, rng):
        state.apply(event, params)
    return state


# --- timing helpers -------------------------------------------------------------------------------


Apply = Callable[[Event, ModelParams], str]


def apply_all(work: Sequence[tuple[Apply, Event]], params: ModelParams) -> list[str]:
    """The timed loop: each event to its district's bound ``apply``; the outcomes."""
    outcomes: list[str] = []
    append = outcomes.append
    for apply, event in work:
        append(apply(event, params))
    return outcomes


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def rate_over_budget(call: Callable[[int], None], budget_s: float) -> float:
    """Calls per second of ``call(i)``, called with i = 0, 1, ... for at least ``budget_s``."""
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < budget_s:
        for _ in range(10):
            call(calls)
            calls += 1
        elapsed = time.perf_counter() - start
    return calls / elapsed


def median_rate(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


# --- benchmarks -----------------------------------------------------------------------------------


def bench_incremental(sizes: Sizes, seed: int = 1) -> Result:
    """apply() throughput over 14 districts, then evaluate() throughput."""
    params = model_params()
    rng = np.random.default_rng(seed)
    progress(f"indices_incremental: building {sizes.apply_events:,} events")
    events = random_events(sizes.apply_events, range(len(DISTRICTS)), rng, span_s=7 * DAY_S)
    outcomes: Counter[str] = Counter()
    apply_times: list[float] = []
    states: list[DistrictState] = []
    for run in range(sizes.runs + 1):  # run 0 warms up
        states = [DistrictState.new() for _ in DISTRICTS]
        work: list[tuple[Apply, Event]] = [(states[d].apply, event) for d, event in events]
        gc.collect()
        start = time.perf_counter()
        results = apply_all(work, params)
        seconds = time.perf_counter() - start
        if run == 0:
            outcomes.update(results)
        else:
            apply_times.append(seconds)
            progress(f"indices_incremental: run {run}: {len(events) / seconds:,.0f} apply/s")
    apply_per_s = len(events) / statistics.median(apply_times)

    at = T0 + 7 * DAY_S
    grown = [
        rate_over_budget(
            lambda i: _evaluate(states, i, params, at),
            sizes.eval_budget_s,
        )
        for _ in range(sizes.runs)
    ]
    month = month_state(sizes.month_days, params, np.random.default_rng(seed))
    district = DISTRICTS[10]
    month_at = T0 + sizes.month_days * DAY_S
    realistic = [
        rate_over_budget(
            lambda i: _discard(month.evaluate(district, params, month_at + i)),
            sizes.eval_budget_s,
        )
        for _ in range(sizes.runs)
    ]
    return {
        "events": len(events),
        "districts": len(DISTRICTS),
        "outcomes": dict(sorted(outcomes.items())),
        "apply_per_s": round(apply_per_s),
        "apply_us": round(1e6 / apply_per_s, 3),
        "apply_runs_s": [round(s, 4) for s in apply_times],
        "incidents_held_per_district": round(
            statistics.mean(_incidents_held(s) for s in states), 1
        ),
        "evaluate_per_s_grown_state": round(median_rate(grown)),
        "evaluate_per_s_month_state": round(median_rate(realistic)),
        "target": {"apply_per_s": APPLY_TARGET},
        "met": apply_per_s >= APPLY_TARGET,
    }


def _evaluate(states: list[DistrictState], i: int, params: ModelParams, at: float) -> None:
    d = i % len(states)
    states[d].evaluate(DISTRICTS[d], params, at + i)


def _discard(_: object) -> None:
    return None


def _incidents_held(state: DistrictState) -> int:
    incidents = state.to_dict()["incidents"]
    assert isinstance(incidents, dict)
    return len(incidents)


def bench_batch(sizes: Sizes, seed: int = 2) -> dict[str, Result]:
    """score_batch throughput: all events as one district's, and split over 14 districts."""
    params = model_params()
    rng = np.random.default_rng(seed)
    progress(f"indices_batch: building {sizes.batch_events:,} events")
    # Built district by district, so each district's events lie together in memory, as they do
    # when a backfill loads one district's history. Built interleaved, the 14-district figure
    # drops by ~40 % from cache misses alone (see bench/README.md).
    per_district: list[list[Event]] = [
        [event for _, event in random_events(share, [d], rng, span_s=7 * DAY_S)]
        for d, share in enumerate(_shares(sizes.batch_events, len(DISTRICTS)))
    ]
    everything = [event for events in per_district for event in events]
    at = T0 + 7 * DAY_S

    def one() -> None:
        score_batch(DISTRICTS[0], everything, params, at)

    def fourteen() -> None:
        for district, events in zip(DISTRICTS, per_district, strict=True):
            score_batch(district, events, params, at)

    results: dict[str, Result] = {}
    for name, work, districts in (
        ("indices_batch_1_district", one, 1),
        ("indices_batch_14_districts", fourteen, len(DISTRICTS)),
    ):
        gc.collect()
        work()  # warm-up
        seconds = []
        for run in range(1, sizes.runs + 1):
            seconds.append(timed(work))
            progress(f"{name}: run {run}: {len(everything) / seconds[-1]:,.0f} events/s")
        per_s = len(everything) / statistics.median(seconds)
        results[name] = {
            "events": len(everything),
            "districts": districts,
            "events_per_s": round(per_s),
            "runs_s": [round(s, 4) for s in seconds],
            "target": {"events_per_s": BATCH_TARGET},
            "met": per_s >= BATCH_TARGET,
        }
    return results


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def bench_memory(sizes: Sizes, seed: int = 3) -> Result:
    """Bytes a realistic month of one 40k-resident district holds, in memory and as JSON."""
    params = model_params()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # Events are built inside the traced region and dropped: what stays is what the state
        # keeps (its own records and the key and id strings it shares with the events).
        state = month_state(sizes.month_days, params, np.random.default_rng(seed))
        gc.collect()
        state_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    data = state.to_dict()
    json_bytes = len(json.dumps(data, separators=(",", ":")).encode())
    tables = {name: len(value) for name, value in data.items() if isinstance(value, dict)}
    return {
        "days": sizes.month_days,
        "population": 40_000,
        "applied": {
            "incidents": 3 * sizes.month_days,
            "readings": 30 * 24 * sizes.month_days,
            "facts": 1000,
        },
        "held": tables,
        "state_bytes": state_bytes,
        "to_dict_json_bytes": json_bytes,
        "city_state_bytes_14_districts": round(state_bytes * len(DISTRICTS)),
        "target": None,
        "met": None,
    }


def run(sizes: Sizes, only: set[str] | None = None) -> dict[str, Result]:
    """Run the selected index benchmarks (all if ``only`` is None) and return their results."""
    results: dict[str, Result] = {}
    if only is None or "indices_incremental" in only:
        results["indices_incremental"] = bench_incremental(sizes)
    if only is None or "indices_batch" in only:
        results.update(bench_batch(sizes))
    if only is None or "indices_memory" in only:
        results["indices_memory"] = bench_memory(sizes)
    return results
