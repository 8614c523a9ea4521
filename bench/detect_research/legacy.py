"""The spike detector riskmon used before the anomaly-likelihood detector (format 1), kept verbatim
for comparison: robust Holt baseline + Page's CUSUM (its write-up is docs/alerting.md as of
commit a083a62, before issue 19).

:func:`legacy_batch` gives its per-point scores; :mod:`bench.detect_research.candidates` and
:mod:`bench.anomaly_eval` use it. Not used by the worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from indices.errors import InvalidConfig, InvalidEvent, InvalidState

__all__ = [
    "RT_HALF_PI",
    "BatchDetections",
    "Detection",
    "LegacyParams",
    "LegacyState",
    "detect_batch",
    "legacy_batch",
]

STATE_FORMAT = 1  # the layout of indices.detect before format 2
RT_HALF_PI = math.sqrt(math.pi / 2.0)  # σ = √(π/2)·E|r| for Gaussian residuals


@dataclass(frozen=True, slots=True)
class LegacyParams:
    """Every tunable number of the detector. Times in seconds, values in index units.

    Defaults were tuned on ``bench.detect_research.evaluation.DEV_SET`` (never on the repo set)
    for index series on the 0–10 scale; ``min_spread`` and ``gap_drift_per_h`` are in index units
    and need scaling for other series. Keep one ``LegacyParams`` for a state's whole life.
    """

    level_tau_s: float = 1200.0  # baseline (level and trend) memory
    fast_tau_s: float = 120.0  # fast level that a persistent shift is adopted from
    spread_tau_s: float = 600.0  # fast spread: follows noise bursts within minutes
    spread_slow_tau_s: float = 21_600.0  # slow spread: stable where samples are sparse
    huber_c: float = 3.0  # winsorise residuals at ± huber_c·σ before learning from them
    min_spread: float = 0.05  # σ floor: a rise under cusum_k·min_spread never alarms
    gap_drift_per_h: float = 0.3  # how far the value may wander per unseen hour (σ growth)
    cusum_k: float = 3.0  # CUSUM allowance, in σ
    cusum_h: float = 6.0  # CUSUM decision threshold, in σ
    cusum_cap: float = 12.0  # CUSUM ceiling: it drains within a few points after an anomaly
    z_clip: float = 8.0  # one point adds at most z_clip - cusum_k < cusum_h: never alarms alone
    calm_z: float = 2.0  # a point is calm below this z; also the drift band of adaptation
    calm_s: float = 300.0  # calm time that closes an episode
    adapt_s: float = 900.0  # persistent deviation time after which the baseline is re-anchored
    warmup_s: float = 1800.0  # no alarm before this much time ...
    warmup_points: int = 20  # ... and this many points

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidConfig(f"{item.name}: must be finite and > 0, got {value!r}")
        if self.cusum_cap < self.cusum_h:
            raise InvalidConfig("cusum_cap: must be ≥ cusum_h")


@dataclass(frozen=True, slots=True)
class Detection:
    """What one point means.

    ``score`` in [0, 1] (0.5 at the decision threshold); ``anomaly``: the point is over the
    threshold; ``alarm``: the point opened a new episode — notify on this one, it is True at most
    once per episode; ``baseline``: the value expected at this time; ``spread``: σ of that
    expectation (grown by the gap since the previous point).
    """

    score: float
    anomaly: bool
    alarm: bool
    baseline: float
    spread: float


class LegacyState:
    """Explicit detector state of one series: a dozen floats. Feed points in time order with
    :meth:`update`; persist with :meth:`to_dict` (JSON-safe, exact) and :meth:`from_dict`.

    A point older than the previous one is taken as simultaneous with it (Δt = 0); the clock
    never goes back.
    """

    __slots__ = (
        "calm_since",
        "cusum",
        "dev_since",
        "episode_since",
        "fast",
        "n",
        "s1",
        "s2",
        "sf",
        "sf_w",
        "ss",
        "ss_w",
        "t_first",
        "t_last",
    )

    def __init__(self) -> None:
        """A state that has seen nothing."""
        self.n = 0  # points seen
        self.t_first = 0.0
        self.t_last = 0.0
        self.s1 = 0.0  # first and second exponential smoothing (Brown): level 2·s1-s2
        self.s2 = 0.0
        self.fast = 0.0  # fast EW level of raw values
        self.sf = 0.0  # fast and slow EW of |residual|·√(π/2), with their weight sums
        self.sf_w = 0.0
        self.ss = 0.0
        self.ss_w = 0.0
        self.cusum = 0.0
        self.episode_since: float | None = None  # start of the open alarm episode
        self.calm_since: float | None = None  # start of the current calm run inside it
        self.dev_since: float | None = None  # start of the fast level's persistent deviation

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LegacyState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<LegacyState n={self.n} t_last={self.t_last} open={self.episode_since}>"

    def update(self, t: float, value: float, params: LegacyParams) -> Detection:
        """Take the point (``t`` epoch seconds, ``value``) and say what it means.

        Raises :class:`~indices.errors.InvalidEvent` for a NaN or infinite time or value.
        """
        if not (math.isfinite(t) and math.isfinite(value)):
            raise InvalidEvent(f"point must be finite, got t={t!r} value={value!r}")
        p = params
        if self.n == 0:
            self.n, self.t_first, self.t_last = 1, t, t
            self.s1 = self.s2 = self.fast = value
            return Detection(0.0, False, False, value, p.min_spread)
        dt = t - self.t_last
        if dt < 0.0:
            dt, t = 0.0, self.t_last
        self.n += 1
        self.t_last = t
        trend = (self.s1 - self.s2) / p.level_tau_s
        forecast = 2.0 * self.s1 - self.s2 + trend * min(dt, p.level_tau_s)
        spread = p.min_spread
        if self.sf_w > 0.0:
            spread = max(spread, self.sf / self.sf_w)
        if self.ss_w > 0.0:
            spread = max(spread, self.ss / self.ss_w)
        sigma = math.hypot(spread, p.gap_drift_per_h * dt / 3600.0)
        resid = value - forecast
        z = resid / sigma
        calm = z < p.calm_z

        # Decision: Page's CUSUM, silent during warm-up; the score uses the uncapped sum.
        cusum = 0.0
        if self.n >= p.warmup_points and t - self.t_first >= p.warmup_s:
            cusum = max(0.0, self.cusum + min(z, p.z_clip) - p.cusum_k)
        anomaly = cusum >= p.cusum_h
        evidence = cusum / p.cusum_h
        score = 1.0 - 0.5 ** (evidence * evidence)
        self.cusum = min(cusum, p.cusum_cap)
        alarm = self._episode(t, anomaly, calm, p)

        # Learning: winsorised observation (or the bare forecast inside an episode).
        learn = self.episode_since is None or calm
        bound = p.huber_c * sigma
        step = min(max(resid, -bound), bound) if learn else 0.0
        gain = 1.0 - math.exp(-dt / p.level_tau_s)
        self.s1 += gain * (forecast + step - self.s1)
        self.s2 += gain * (self.s1 - self.s2)
        self.fast += (1.0 - math.exp(-dt / p.fast_tau_s)) * (value - self.fast)
        if learn:
            # In noise units (a gap's extra uncertainty removed); one point weighs ≤ 1 - 1/e.
            dev = min(abs(resid), bound) * (spread / sigma) * RT_HALF_PI
            keep = math.exp(-min(dt, p.spread_tau_s) / p.spread_tau_s)
            self.sf = keep * self.sf + (1.0 - keep) * dev
            self.sf_w = keep * self.sf_w + (1.0 - keep)
            keep = math.exp(-min(dt, p.spread_slow_tau_s) / p.spread_slow_tau_s)
            self.ss = keep * self.ss + (1.0 - keep) * dev
            self.ss_w = keep * self.ss_w + (1.0 - keep)
        self._adapt(t, spread, p)
        return Detection(score, anomaly, alarm, forecast, sigma)

    def _episode(self, t: float, anomaly: bool, calm: bool, p: LegacyParams) -> bool:
        """Open an episode on an anomaly (the alarm), close it after ``calm_s`` of calm."""
        if self.episode_since is None:
            if anomaly:
                self.episode_since, self.calm_since = t, None
                return True
            return False
        if not calm:
            self.calm_since = None
        elif self.calm_since is None:
            self.calm_since = t
        elif t - self.calm_since >= p.calm_s:
            self.episode_since = self.calm_since = None
            self.cusum = 0.0
        return False

    def _adapt(self, t: float, spread: float, p: LegacyParams) -> None:
        """Re-anchor the baseline on the fast level after ``adapt_s`` of persistent deviation."""
        if abs(self.fast - (2.0 * self.s1 - self.s2)) <= p.calm_z * spread:
            self.dev_since = None
        elif self.dev_since is None:
            self.dev_since = t
        elif t - self.dev_since >= p.adapt_s:
            self.s1 = self.s2 = self.fast
            self.cusum = 0.0
            self.dev_since = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal state, bit for bit."""
        return {"format": STATE_FORMAT, **{name: getattr(self, name) for name in self.__slots__}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LegacyState:
        """The state :meth:`to_dict` wrote; anything else raises :class:`.InvalidState`."""
        if data.get("format") != STATE_FORMAT or set(data) != {"format", *cls.__slots__}:
            raise InvalidState(f"not a detector state of format {STATE_FORMAT}")
        state = cls()
        for name in cls.__slots__:
            raw = data[name]
            if raw is None and name.endswith("_since"):
                continue  # absent times stay None
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise InvalidState(f"{name}: not a finite number: {raw!r}")
            if name == "n" and (not isinstance(raw, int) or raw < 0):
                raise InvalidState(f"n: not a count: {raw!r}")
            setattr(state, name, raw if name == "n" else float(raw))
        return state


Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class BatchDetections(NamedTuple):
    """Per-point results of :func:`detect_batch` and the state after the last point."""

    scores: Floats
    anomalies: Bools
    alarms: Bools
    baselines: Floats
    spreads: Floats
    state: LegacyState


def detect_batch(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    params: LegacyParams,
    state: LegacyState | None = None,
) -> BatchDetections:
    """The batch twin: :meth:`LegacyState.update` over whole arrays, bit for bit.

    Starts from a copy of ``state`` (default: a new one) and returns the state after the last
    point, so a backfill can hand over to the stream. Validation and the clock clamp are
    vectorised; the recursion itself cannot be (each point's winsorising depends on the state the
    previous point left), so it runs as one loop over plain floats in local variables, written
    independently of :meth:`~LegacyState.update` and checked against it by the tests.
    Raises :class:`~indices.errors.InvalidEvent` for NaN or infinite input, naming the index.
    """
    t_arr = np.asarray(ts, dtype=np.float64)
    x_arr = np.asarray(values, dtype=np.float64)
    if t_arr.ndim != 1 or t_arr.shape != x_arr.shape:
        raise InvalidEvent(
            f"ts and values must be 1-D and equally long: {t_arr.shape}, {x_arr.shape}"
        )
    bad = ~(np.isfinite(t_arr) & np.isfinite(x_arr))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidEvent(f"point {i} must be finite, got t={t_arr[i]!r} value={x_arr[i]!r}")
    s = LegacyState.from_dict(state.to_dict()) if state is not None else LegacyState()
    if s.n > 0 and len(t_arr):
        t_arr = np.maximum(t_arr, s.t_last)
    clock: list[float] = np.maximum.accumulate(t_arr).tolist() if len(t_arr) else []
    out = _loop(clock, x_arr.tolist(), params, s)
    return BatchDetections(
        np.array(out[0], dtype=np.float64),
        np.array(out[1], dtype=np.bool_),
        np.array(out[2], dtype=np.bool_),
        np.array(out[3], dtype=np.float64),
        np.array(out[4], dtype=np.float64),
        s,
    )


def _loop(
    clock: list[float], xs: list[float], p: LegacyParams, s: LegacyState
) -> tuple[list[float], list[bool], list[bool], list[float], list[float]]:
    """The recursion of :meth:`LegacyState.update` on local floats; leaves the end state in s."""
    level_tau, fast_tau, spread_tau, slow_tau = (
        p.level_tau_s,
        p.fast_tau_s,
        p.spread_tau_s,
        p.spread_slow_tau_s,
    )
    huber_c, floor, gap_rate, calm_z = p.huber_c, p.min_spread, p.gap_drift_per_h, p.calm_z
    calm_s, adapt_s, warm_n, warm_s = p.calm_s, p.adapt_s, p.warmup_points, p.warmup_s
    k, h, cap, clip = p.cusum_k, p.cusum_h, p.cusum_cap, p.z_clip
    n, t_first, t_last, s1, s2, fast = s.n, s.t_first, s.t_last, s.s1, s.s2, s.fast
    sf, sf_w, ss, ss_w, cusum = s.sf, s.sf_w, s.ss, s.ss_w, s.cusum
    opened, calm_since, dev_since = s.episode_since, s.calm_since, s.dev_since
    exp, hypot = math.exp, math.hypot
    scores: list[float] = []
    anomalies: list[bool] = []
    alarms: list[bool] = []
    baselines: list[float] = []
    spreads: list[float] = []
    for t, x in zip(clock, xs, strict=True):
        if n == 0:
            n, t_first, t_last, s1, s2, fast = 1, t, t, x, x, x
            scores.append(0.0)
            anomalies.append(False)
            alarms.append(False)
            baselines.append(x)
            spreads.append(floor)
            continue
        dt = t - t_last
        n += 1
        t_last = t
        forecast = 2.0 * s1 - s2 + (s1 - s2) / level_tau * min(dt, level_tau)
        spread = floor
        if sf_w > 0.0 and sf / sf_w > spread:
            spread = sf / sf_w
        if ss_w > 0.0 and ss / ss_w > spread:
            spread = ss / ss_w
        sigma = hypot(spread, gap_rate * dt / 3600.0)
        resid = x - forecast
        z = resid / sigma
        calm = z < calm_z
        total = 0.0
        if n >= warm_n and t - t_first >= warm_s:
            total = cusum + (clip if z > clip else z) - k
            if total < 0.0:
                total = 0.0
        anomaly = total >= h
        evidence = total / h
        scores.append(1.0 - 0.5 ** (evidence * evidence))
        cusum = total if total < cap else cap
        alarm = False
        if opened is None:
            if anomaly:
                opened, calm_since, alarm = t, None, True
        elif not calm:
            calm_since = None
        elif calm_since is None:
            calm_since = t
        elif t - calm_since >= calm_s:
            opened = calm_since = None
            cusum = 0.0
        anomalies.append(anomaly)
        alarms.append(alarm)
        baselines.append(forecast)
        spreads.append(sigma)
        learn = opened is None or calm
        bound = huber_c * sigma
        step = (bound if resid > bound else -bound if resid < -bound else resid) if learn else 0.0
        gain = 1.0 - exp(-dt / level_tau)
        s1 += gain * (forecast + step - s1)
        s2 += gain * (s1 - s2)
        fast += (1.0 - exp(-dt / fast_tau)) * (x - fast)
        if learn:
            dev = (bound if abs(resid) > bound else abs(resid)) * (spread / sigma) * RT_HALF_PI
            keep = exp(-(dt if dt < spread_tau else spread_tau) / spread_tau)
            sf = keep * sf + (1.0 - keep) * dev
            sf_w = keep * sf_w + (1.0 - keep)
            keep = exp(-(dt if dt < slow_tau else slow_tau) / slow_tau)
            ss = keep * ss + (1.0 - keep) * dev
            ss_w = keep * ss_w + (1.0 - keep)
        if abs(fast - (2.0 * s1 - s2)) <= calm_z * spread:
            dev_since = None
        elif dev_since is None:
            dev_since = t
        elif t - dev_since >= adapt_s:
            s1 = s2 = fast
            cusum = 0.0
            dev_since = None
    s.n, s.t_first, s.t_last, s.s1, s.s2, s.fast = n, t_first, t_last, s1, s2, fast
    s.sf, s.sf_w, s.ss, s.ss_w, s.cusum = sf, sf_w, ss, ss_w, cusum
    s.episode_since, s.calm_since, s.dev_since = opened, calm_since, dev_since
    return scores, anomalies, alarms, baselines, spreads


def legacy_batch(ts: npt.ArrayLike, values: npt.ArrayLike, params: LegacyParams) -> Floats:
    """The old detector's score per point (time steps back are clamped as it always did)."""
    return detect_batch(ts, values, params).scores
