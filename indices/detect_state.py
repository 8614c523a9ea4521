"""The detector's parameters, its per-point answer and its explicit O(1) state.

The method is described in :mod:`indices.detect` (and docs/alerting.md); import from there.

>>> params = DetectorParams()
>>> state = DetectorState()
>>> [state.update(t, 2.0, params).score for t in (0.0, 5.0)]
[0.0, 0.0]
>>> DetectorParams(cusum_h=-1.0)
Traceback (most recent call last):
...
indices.errors.InvalidConfig: cusum_h: must be finite and > 0, got -1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from indices.errors import InvalidConfig, InvalidEvent, InvalidState

__all__ = ["RT_HALF_PI", "STATE_FORMAT", "Detection", "DetectorParams", "DetectorState"]

STATE_FORMAT = 1  # version of the to_dict layout
RT_HALF_PI = math.sqrt(math.pi / 2.0)  # σ = √(π/2)·E|r| for Gaussian residuals


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """Every tunable number of the detector. Times in seconds, values in index units.

    Defaults were tuned on ``bench.detect_research.evaluation.DEV_SET`` (never on the repo set)
    for index series on the 0–10 scale; ``min_spread`` and ``gap_drift_per_h`` are in index units
    and need scaling for other series. Keep one ``DetectorParams`` for a state's whole life.
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


class DetectorState:
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
        if not isinstance(other, DetectorState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<DetectorState n={self.n} t_last={self.t_last} open={self.episode_since}>"

    def update(self, t: float, value: float, params: DetectorParams) -> Detection:
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

    def _episode(self, t: float, anomaly: bool, calm: bool, p: DetectorParams) -> bool:
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

    def _adapt(self, t: float, spread: float, p: DetectorParams) -> None:
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
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorState:
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
