"""Labelled benchmark for spike detectors on index series, and the harness that scores them.

:func:`generate` draws one seeded series of an index on the 0–10 scale as riskmon's worker emits
it: irregular sampling (dense ~5 s ticks while decay moves the value, sparse 15–60 s updates
otherwise), data gaps, a daily cycle, slow drift, drift ramps and noise bursts — all *normal* —
plus labelled *anomalies*: spikes (sudden rise, plateau, decay) and upward level shifts, each with
an onset and an end. :data:`REPO_SET` is the fixed evaluation set (the must-show of the detector,
docs/alerting.md); :data:`DEV_SET` is the disjoint set the parameters were tuned on.

:func:`evaluate` scores one detector's alarm times against one series; :func:`harness` runs a
detector over a set and pools the counts. What counts, precisely:

* anomaly *i* has the window ``[onset_i, end_i + GRACE_S]``;
* an alarm is *true* if it is the first alarm inside the window of an anomaly (one anomaly is one
  event, detected at most once); a later alarm inside an already detected window is a *repeat*;
  an alarm outside every window is a *false alarm*;
* precision = true / all alarms (repeats count against it); recall = detected / anomalies;
  false alarms per day = false alarms / observed days; delay = first true alarm − onset.

>>> series = generate(SeriesSpec(seed=1, days=2.0))
>>> bool(np.all(np.diff(series.t) > 0)), len(series.anomalies) > 0
(True, True)
>>> a = series.anomalies[0]
>>> result = evaluate(series, np.array([a.onset + 30.0, a.onset + 60.0, series.t[0] + 60.0]))
>>> result.detected, result.repeats, result.false_alarms, result.delays_s[0]
(1, 1, 1, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEV_SET",
    "GRACE_S",
    "REPO_SET",
    "Anomaly",
    "Episode",
    "Evaluation",
    "LabelledSeries",
    "SeriesSpec",
    "evaluate",
    "generate",
    "harness",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Detector = Callable[[Floats, Floats], Bools]  # (times, values) -> alarm flag per point

DAY_S = 86_400.0
HOUR_S = 3_600.0
MIN_S = 60.0
T0 = 1_795_000_000.0  # 2026-11-19T07:06:40Z; each series starts here
GRACE_S = 600.0  # alarms up to 10 min after a labelled end still count as detections
WARMUP_S = 6 * HOUR_S  # no anomaly in a series' first hours: detectors learn the baseline
SHIFT_WINDOW_S = HOUR_S  # a level shift's window: the hour after its rise
MIN_SNR = 8.0  # every anomaly rises by at least this many noise standard deviations
BUMPS_PER_DAY = 6.0  # minor normal rises (small incidents): 1.5–3 noise σ, decaying


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One series of a benchmark set: its seed and length."""

    seed: int
    days: float = 4.0


# The repo's labelled set: 16 series × 4 days. Never tune on it (tune on DEV_SET).
REPO_SET: tuple[SeriesSpec, ...] = tuple(SeriesSpec(seed) for seed in range(1, 17))
DEV_SET: tuple[SeriesSpec, ...] = tuple(SeriesSpec(seed) for seed in range(101, 117))


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A labelled event a detector should report once: ``kind`` spike or level_shift."""

    kind: Literal["spike", "level_shift"]
    onset: float
    end: float
    size: float  # rise above the normal value, in index units


@dataclass(frozen=True, slots=True)
class Episode:
    """A stretch of normal behaviour that is hard for detectors (never an anomaly)."""

    kind: Literal["noise_burst", "drift", "gap", "bump"]
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """Times (epoch s, increasing), values, labelled anomalies and hard normal episodes."""

    name: str
    t: Floats
    x: Floats
    anomalies: tuple[Anomaly, ...]
    episodes: tuple[Episode, ...]
    noise: float  # standard deviation of the normal noise

    @property
    def days(self) -> float:
        return float(self.t[-1] - self.t[0]) / DAY_S if len(self.t) > 1 else 0.0


def generate(spec: SeriesSpec) -> LabelledSeries:
    """The labelled series of ``spec`` (deterministic: same spec, same arrays)."""
    rng = np.random.default_rng(spec.seed)
    span = spec.days * DAY_S
    t = _sampling(rng, span)
    noise = float(np.exp(rng.uniform(np.log(0.03), np.log(0.15))))
    busy: list[tuple[float, float]] = []
    episodes: list[Episode] = []
    for _ in range(int(rng.integers(1, 4))):  # data gaps of 10 min to 3 h
        start = _free_time(rng, span, busy, 0.0, lead=HOUR_S)
        end = start + float(rng.uniform(10 * MIN_S, 3 * HOUR_S))
        episodes.append(Episode("gap", start, end))
        busy.append((start - HOUR_S, end + HOUR_S))
    x = _normal_signal(rng, t, span)
    sigma = np.full(len(t), noise)
    for _ in range(int(rng.integers(1, 4))):  # noise bursts: ×2.5–4 noise for 20–90 min
        length = float(rng.uniform(20 * MIN_S, 90 * MIN_S))
        start = _free_time(rng, span, busy, length, lead=HOUR_S)
        sigma[(t >= start) & (t < start + length)] *= rng.uniform(2.5, 4.0)
        episodes.append(Episode("noise_burst", start, start + length))
        busy.append((start - HOUR_S, start + length + HOUR_S))
    for _ in range(int(rng.integers(0, 3))):  # drift ramps: +0.5–1.5 over 3–8 h
        length = float(rng.uniform(3 * HOUR_S, 8 * HOUR_S))
        start = _free_time(rng, span, [], length, lead=0.0)
        x += rng.uniform(0.5, 1.5) * np.clip((t - start) / length, 0.0, 1.0)
        episodes.append(Episode("drift", start, start + length))
    for _ in range(int(rng.poisson(BUMPS_PER_DAY * spec.days))):
        start = float(rng.uniform(0.0, span))
        half_life = float(rng.uniform(5 * MIN_S, 20 * MIN_S))
        after = np.maximum(t - start, 0.0)
        x += (t >= start) * rng.uniform(1.5, 3.0) * noise * np.exp2(-after / half_life)
        episodes.append(Episode("bump", start, start + 3 * half_life))
    anomalies: list[Anomaly] = []
    for kind in _anomaly_kinds(rng):
        anomaly, bump = _anomaly(rng, kind, t, span, busy, noise)
        x += bump
        anomalies.append(anomaly)
        busy.append((anomaly.onset - 2 * HOUR_S, anomaly.end + 2 * HOUR_S))
    # Student-t noise (5 degrees of freedom, unit variance): isolated outliers are normal too.
    x = np.clip(x + sigma * rng.standard_t(5.0, len(t)) * math.sqrt(3 / 5), 0.0, 10.0)
    keep = np.ones(len(t), dtype=bool)
    for gap in episodes:
        if gap.kind == "gap":
            keep &= (t < gap.start) | (t >= gap.end)
    return LabelledSeries(
        name=f"seed-{spec.seed}",
        t=T0 + t[keep],
        x=x[keep],
        anomalies=tuple(_shifted(a) for a in sorted(anomalies, key=lambda a: a.onset)),
        episodes=tuple(
            Episode(e.kind, T0 + e.start, T0 + e.end) for e in sorted(episodes, key=_start)
        ),
        noise=noise,
    )


def _start(episode: Episode) -> float:
    return episode.start


def _shifted(a: Anomaly) -> Anomaly:
    return Anomaly(a.kind, T0 + a.onset, T0 + a.end, a.size)


def _sampling(rng: np.random.Generator, span: float) -> Floats:
    """Sample times in [0, span): regimes of 30 min–3 h, dense (4–7 s) or sparse (15–60 s)."""
    parts: list[Floats] = []
    start = 0.0
    while start < span:
        length = float(rng.uniform(0.5 * HOUR_S, 3 * HOUR_S))
        low, high = (4.0, 7.0) if rng.random() < 0.5 else (15.0, 60.0)
        steps = rng.uniform(low, high, int(length / low) + 2)
        times = start + np.cumsum(steps)
        parts.append(times[times < min(start + length, span)])
        start += length
    return np.concatenate(parts)


def _normal_signal(rng: np.random.Generator, t: Floats, span: float) -> Floats:
    """Base level + daily cycle (two harmonics and a rush-hour peak) + slow drift."""
    day = 2 * np.pi * t / DAY_S
    hour = (t / HOUR_S + rng.uniform(0, 24)) % 24
    width = rng.uniform(1.0, 3.0)
    rush = rng.uniform(0.0, 1.0) * np.exp(-0.5 * ((hour - 18.0) / width) ** 2)
    cycle = rng.uniform(0.2, 1.2) * np.sin(day + rng.uniform(0, 2 * np.pi)) + rng.uniform(
        0.0, 0.4
    ) * np.sin(2 * day + rng.uniform(0, 2 * np.pi))
    drift = rng.uniform(-0.4, 0.4) * t / DAY_S + rng.uniform(0.0, 0.5) * np.sin(
        2 * np.pi * t / (rng.uniform(1.5, 3.0) * DAY_S) + rng.uniform(0, 2 * np.pi)
    )
    base: Floats = rng.uniform(2.0, 3.0) + cycle + rush + drift
    return base


def _anomaly_kinds(rng: np.random.Generator) -> list[Literal["spike", "level_shift"]]:
    kinds: list[Literal["spike", "level_shift"]] = ["spike"] * int(rng.integers(3, 6))
    if rng.random() < 0.6:
        kinds.insert(int(rng.integers(0, len(kinds) + 1)), "level_shift")
    return kinds


def _anomaly(
    rng: np.random.Generator,
    kind: Literal["spike", "level_shift"],
    t: Floats,
    span: float,
    busy: list[tuple[float, float]],
    noise: float,
) -> tuple[Anomaly, Floats]:
    """One anomaly placed away from gaps, bursts and other anomalies, and its added signal."""
    rise = float(rng.uniform(0.0, 2 * MIN_S))
    if kind == "spike":
        size = max(float(rng.uniform(0.6, 3.0)), MIN_SNR * noise)
        plateau = float(rng.uniform(0.0, 40 * MIN_S))
        half_life = float(rng.uniform(5 * MIN_S, 45 * MIN_S))
        length = rise + plateau + 2 * half_life  # the excess is down to a quarter of the size
    else:
        size = max(float(rng.uniform(0.6, 2.0)), MIN_SNR * noise)
        plateau, half_life = math.inf, math.inf
        length = rise + SHIFT_WINDOW_S
    onset = _free_time(rng, span, busy, length, lead=WARMUP_S)
    after = t - onset
    ramp = np.clip(after / rise, 0.0, 1.0) if rise > 0 else (after >= 0).astype(np.float64)
    bump = size * ramp
    if kind == "spike":
        decaying = after > rise + plateau
        bump[decaying] *= np.exp2(-(after[decaying] - rise - plateau) / half_life)
    return Anomaly(kind, onset, onset + length, size), bump


def _free_time(
    rng: np.random.Generator,
    span: float,
    busy: Sequence[tuple[float, float]],
    length: float,
    lead: float,
) -> float:
    """A start in [lead, span - length - 1 h) whose [start, start + length] avoids ``busy``."""
    for _ in range(10_000):
        start = float(rng.uniform(lead, span - length - HOUR_S))
        if all(start + length <= low or start >= high for low, high in busy):
            return start
    raise ValueError("series too short for its episodes; use more days")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Pooled counts of a detector over one or more series (see the module doc for rules)."""

    anomalies: int
    detected: int
    alarms: int
    repeats: int
    false_alarms: int
    days: float
    delays_s: tuple[float, ...]
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (n, detected)
    false_by_cause: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """True alarms / all alarms; 1.0 when there is no alarm at all."""
        return self.detected / self.alarms if self.alarms else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.anomalies if self.anomalies else 1.0

    @property
    def false_alarms_per_day(self) -> float:
        return self.false_alarms / self.days if self.days else 0.0

    def delay_s(self, percentile: float) -> float:
        """A percentile of detection delays (linear interpolation); NaN when nothing detected."""
        return float(np.percentile(self.delays_s, percentile)) if self.delays_s else math.nan

    def summary(self) -> dict[str, float | int]:
        """The headline figures, rounded for reports."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "false_alarms_per_day": round(self.false_alarms_per_day, 4),
            "median_delay_s": round(self.delay_s(50), 1),
            "p90_delay_s": round(self.delay_s(90), 1),
            "anomalies": self.anomalies,
            "alarms": self.alarms,
            "repeats": self.repeats,
            "false_alarms": self.false_alarms,
            "days": round(self.days, 2),
        }


def evaluate(series: LabelledSeries, alarm_times: Floats) -> Evaluation:
    """Match alarm times (any order) against ``series``' labelled anomalies."""
    windows = [(a.onset, a.end + GRACE_S) for a in series.anomalies]
    first: list[float | None] = [None] * len(windows)
    repeats = 0
    false_by_cause: dict[str, int] = {}
    for at in np.sort(np.asarray(alarm_times, dtype=np.float64)).tolist():
        hit = next((i for i, (low, high) in enumerate(windows) if low <= at <= high), None)
        if hit is None:
            cause = _cause(series.episodes, at)
            false_by_cause[cause] = false_by_cause.get(cause, 0) + 1
        elif first[hit] is None:
            first[hit] = at
        else:
            repeats += 1
    by_kind: dict[str, tuple[int, int]] = {}
    for anomaly, seen in zip(series.anomalies, first, strict=True):
        n, hits = by_kind.get(anomaly.kind, (0, 0))
        by_kind[anomaly.kind] = (n + 1, hits + (seen is not None))
    delays = tuple(
        seen - a.onset for a, seen in zip(series.anomalies, first, strict=True) if seen is not None
    )
    return Evaluation(
        anomalies=len(windows),
        detected=len(delays),
        alarms=len(alarm_times),
        repeats=repeats,
        false_alarms=sum(false_by_cause.values()),
        days=series.days,
        delays_s=delays,
        by_kind=by_kind,
        false_by_cause=false_by_cause,
    )


def _cause(episodes: Sequence[Episode], at: float) -> str:
    """The hard normal episode a false alarm fell in (gaps: the hour after), else ``other``."""
    for e in episodes:
        if e.start <= at <= e.end + (HOUR_S if e.kind == "gap" else 0.0):
            return e.kind
    return "other"


def pooled(results: Iterable[Evaluation]) -> Evaluation:
    """Sum the counts of several evaluations (delays concatenated)."""
    items = list(results)
    by_kind: dict[str, tuple[int, int]] = {}
    causes: dict[str, int] = {}
    for r in items:
        for kind, (n, hits) in r.by_kind.items():
            old = by_kind.get(kind, (0, 0))
            by_kind[kind] = (old[0] + n, old[1] + hits)
        for cause, count in r.false_by_cause.items():
            causes[cause] = causes.get(cause, 0) + count
    return Evaluation(
        anomalies=sum(r.anomalies for r in items),
        detected=sum(r.detected for r in items),
        alarms=sum(r.alarms for r in items),
        repeats=sum(r.repeats for r in items),
        false_alarms=sum(r.false_alarms for r in items),
        days=sum(r.days for r in items),
        delays_s=tuple(d for r in items for d in r.delays_s),
        by_kind=by_kind,
        false_by_cause=causes,
    )


def harness(detector: Detector, specs: Sequence[SeriesSpec] = REPO_SET) -> Evaluation:
    """Run ``detector`` on every series of ``specs`` and pool the evaluations."""
    results = []
    for spec in specs:
        series = generate(spec)
        alarms = np.asarray(detector(series.t, series.x), dtype=bool)
        results.append(evaluate(series, series.t[alarms]))
    return pooled(results)
