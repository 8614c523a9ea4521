"""The detector's parameters, its per-point answer and its explicit O(1) state.

The method is described in :mod:`indices.detect` (and docs/alerting.md); import from there.

>>> params = DetectorParams()
>>> state = DetectorState()
>>> [state.update(t, 2.0, params).score for t in (0.0, 5.0)]
[0.0, 0.0]
>>> DetectorParams(level_alpha=-1.0)
Traceback (most recent call last):
...
indices.errors.InvalidConfig: level_alpha: must be finite, > 0 and ≤ 1, got -1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from indices.errors import InvalidConfig, InvalidEvent, InvalidState

__all__ = [
    "DIRECTIONS",
    "EPS_ABS",
    "EPS_REL",
    "MIN_TAIL",
    "RT_HALF_PI",
    "STATE_FORMAT",
    "Detection",
    "DetectorParams",
    "DetectorState",
    "Direction",
]

STATE_FORMAT = 3  # version of the to_dict layout (1: the CUSUM detector before issue 19; 2: no lag)
RT_HALF_PI = math.sqrt(math.pi / 2.0)  # σ = √(π/2)·E|r| for Gaussian residuals
INV_SQRT2 = 1.0 / math.sqrt(2.0)
EPS_ABS = 1e-9  # σ never falls below EPS_ABS + EPS_REL·|level| (a flat series' first change
EPS_REL = 1e-6  # is then a certain anomaly, not a division by zero)
MIN_TAIL = 1e-300  # the smallest tail probability used (-ln of it is 690.8 nats)

Direction = Literal["up", "down", "both"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "both")


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """Every tunable number of the detector; by default memories are in points (the detector
    counts points, it does not weigh them by time; see the time-aware options below). One set for
    every series: the defaults were chosen on the anomaly-dev corpus (bench/anomaly_eval.py); keep
    one ``DetectorParams`` for a state's life.

    ``direction``: which deviations count, ``"up"`` (rises), ``"down"`` (drops) or ``"both"``.
    ``threshold``: the likelihood at which a point is anomalous (``Detection.anomaly``) and opens
    an alarm episode (``Detection.alarm``); the score and likelihood do not depend on it.
    ``min_spread``: an absolute σ floor in the series' units (0: none; riskmon's 0–10 index series
    use 0.05 so a flat index does not alarm on a rounding step).

    Optional time awareness for irregularly sampled series (all off by default: the detector then
    counts points and ignores the clock). ``level_tau_s``, ``spread_tau_s`` and
    ``spread_slow_tau_s``, when set, replace ``level_alpha``, ``spread_alpha`` and
    ``spread_slow_alpha`` by the gain 1 - exp(-Δt/τ) of the time Δt since the newest point seen
    (the continuous-time EWMA for unevenly spaced series: Wright 1986, "Forecasting data published
    at irregular time intervals using an extension of Holt's method", Management Science 32;
    Eckner 2012, "Algorithms for unevenly spaced time series"), so a memory is a time, the same
    whether points come every 5 s or every minute; a point at or before the newest time (Δt = 0)
    is scored but not learnt. ``residual_max_dt_s`` caps the Δt of the gains of the residual
    statistics (the spreads and the lag below): they describe single observations, so the first
    point after a silence must not replace them.

    Growth of σ across the time Δt since the previous point, σ' = hypot(σ, d), d the distance the
    series may have moved while unseen, so that after a gap its first point is less surprising and
    the baseline (whose winsorising bound widens with σ') catches up on it. ``slope_tau_s`` (needs
    ``level_tau_s``) learns it from the series itself: an EW mean (memory ``slope_tau_s``) of the
    winsorised residual is the baseline's lag, an EW mean with time constant τ lags a trend b by
    b·τ, so |b| = |lag| / ``level_tau_s``, and d = |b|·H·(1 - exp(-Δt/H)), H =
    ``slope_horizon_s``: the slope damped over that horizon (a damped trend: Gardner & McKenzie
    1985, "Forecasting trends in time series", Management Science 31; None: d = |b|·Δt). A series
    that was flat (a quiet district, which publishes nothing because nothing changes) gets no
    growth, and a jump after its silence is the incident it looks like; one that was following a
    daily slope gets σ' for the distance the slope covers. ``gap_drift_per_h`` adds a fixed d of
    that many series units per unseen hour.
    """

    direction: Direction = "both"
    level_alpha: float = 0.01  # baseline: robust EW mean, memory ~100 points
    spread_alpha: float = 0.1  # fast spread: EW mean |residual|, ~10 points
    spread_slow_alpha: float = 0.01  # slow spread, ~100 points: σ = the larger of the two
    short_alpha: float = 0.6  # EW mean of z over the last ~2–3 points (persistence evidence)
    huber_c: float = 5.0  # winsorise residuals at ± huber_c·σ before learning from them
    evidence_nats: float = 100.0  # -ln(tail probability) that maps to likelihood 1
    peak_decay: float = 0.8  # per point: how fast the memory of the last peak fades
    warmup_points: int = 20  # no score before this many points
    min_spread: float = 0.0  # absolute σ floor (series units)
    threshold: float = 0.1  # alarm / anomaly level (likelihood)
    calm_points: int = 10  # points below the threshold that close an alarm episode
    level_tau_s: float | None = None  # baseline memory in seconds (None: level_alpha per point)
    spread_tau_s: float | None = None  # fast spread memory in seconds (None: spread_alpha)
    spread_slow_tau_s: float | None = None  # slow spread memory in s (None: spread_slow_alpha)
    residual_max_dt_s: float | None = None  # spreads' and lag's gains: at most this Δt (None: all)
    slope_tau_s: float | None = None  # memory of the baseline's lag → σ growth (None: off)
    slope_horizon_s: float | None = None  # the slope's damping time across a gap (None: none)
    gap_drift_per_h: float = 0.0  # fixed σ growth per hour since the previous point (0: none)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidConfig(f"direction: must be up, down or both, got {self.direction!r}")
        for name in ("level_alpha", "spread_alpha", "spread_slow_alpha", "short_alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise InvalidConfig(f"{name}: must be finite, > 0 and ≤ 1, got {value!r}")
        for name in ("huber_c", "evidence_nats"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise InvalidConfig(f"{name}: must be finite and > 0, got {value!r}")
        if not (math.isfinite(self.peak_decay) and 0.0 <= self.peak_decay < 1.0):
            raise InvalidConfig(f"peak_decay: must be in [0, 1), got {self.peak_decay!r}")
        for name in ("min_spread", "gap_drift_per_h"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidConfig(f"{name}: must be finite and ≥ 0, got {value!r}")
        for name in (
            "level_tau_s",
            "spread_tau_s",
            "spread_slow_tau_s",
            "residual_max_dt_s",
            "slope_horizon_s",
        ):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise InvalidConfig(f"{name}: must be None or finite and > 0, got {value!r}")
        if self.slope_tau_s is not None:
            if not (math.isfinite(self.slope_tau_s) and self.slope_tau_s > 0.0):
                raise InvalidConfig(
                    f"slope_tau_s: must be None or finite and > 0, got {self.slope_tau_s!r}"
                )
            if self.level_tau_s is None:
                raise InvalidConfig("slope_tau_s: needs level_tau_s (the slope is lag / τ)")
        if not (math.isfinite(self.threshold) and 0.0 < self.threshold < 1.0):
            raise InvalidConfig(f"threshold: must be in (0, 1), got {self.threshold!r}")
        for name in ("warmup_points", "calm_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfig(f"{name}: must be an integer ≥ 1, got {value!r}")

    @property
    def sign(self) -> float:
        """+1 for up, -1 for down, 0 for both (absolute values)."""
        return 1.0 if self.direction == "up" else -1.0 if self.direction == "down" else 0.0

    @property
    def timed(self) -> bool:
        """Whether any option uses the time between points (see the class doc)."""
        return (
            self.level_tau_s is not None
            or self.spread_tau_s is not None
            or self.spread_slow_tau_s is not None
            or self.residual_max_dt_s is not None
            or self.slope_tau_s is not None
            or self.gap_drift_per_h > 0.0
        )

    @property
    def short_norm(self) -> float:
        """σ of an EW mean of independent unit-variance z: √(α / (2 - α))."""
        return math.sqrt(self.short_alpha / (2.0 - self.short_alpha))


@dataclass(frozen=True, slots=True)
class Detection:
    """What one point means.

    ``score`` in [0, 1]: the anomaly score, continuous (a threshold sweep on it is meaningful): the
    part of this point's likelihood that exceeds the fading memory of recent peaks, so the onset
    of an anomaly scores high and its continuation low. ``likelihood`` in [0, 1]: how improbable
    the point is under the learnt baseline and spread (-ln of the tail probability / 100 nats).
    ``anomaly``: ``likelihood ≥ threshold``; ``alarm``: the anomalous point that opens a new
    episode — notify on this one, it is True at most once per episode; ``baseline``: the
    value expected; ``spread``: σ of that expectation.
    """

    score: float
    anomaly: bool
    alarm: bool
    baseline: float
    spread: float
    likelihood: float = 0.0


class DetectorState:
    """Explicit detector state of one series: nine numbers and a flag. Feed points in time order
    with :meth:`update`; persist with :meth:`to_dict` (JSON-safe, exact) and :meth:`from_dict`.

    A point older than the previous one is taken at the newest time seen (the clock never goes
    back); it is scored like any other (with the time-aware options of :class:`DetectorParams`
    it is then 0 s after the newest point, and is not learnt from).
    """

    __slots__ = (
        "calm",
        "episode",
        "lag",
        "level",
        "n",
        "peak",
        "short",
        "spread_fast",
        "spread_slow",
        "t_last",
    )

    def __init__(self) -> None:
        """A state that has seen nothing."""
        self.n = 0  # points seen
        self.t_last = 0.0  # newest time seen
        self.level = 0.0  # robust EW mean: the baseline
        self.lag = 0.0  # EW mean winsorised residual (only with slope_tau_s): the baseline's lag
        self.spread_fast = 0.0  # EW mean |winsorised residual| (fast and slow)
        self.spread_slow = 0.0
        self.short = 0.0  # EW mean of z (signed)
        self.peak = 0.0  # fading memory of the recent likelihood peak
        self.episode = False  # an alarm episode is open
        self.calm = 0  # points in a row below the threshold inside the episode

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DetectorState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<DetectorState n={self.n} t_last={self.t_last} episode={self.episode}>"

    def update(self, t: float, value: float, params: DetectorParams) -> Detection:
        """Take the point (``t`` epoch seconds, ``value``) and say what it means.

        Raises :class:`~indices.errors.InvalidEvent` for a NaN or infinite time or value.
        """
        if not (math.isfinite(t) and math.isfinite(value)):
            raise InvalidEvent(f"point must be finite, got t={t!r} value={value!r}")
        p = params
        if self.n == 0:
            self.n, self.t_last, self.level = 1, t, value
            floor = EPS_ABS + EPS_REL * abs(value)
            return Detection(0.0, False, False, value, max(p.min_spread, floor))
        dt = t - self.t_last if t > self.t_last else 0.0  # time since the newest point seen
        if t > self.t_last:
            self.t_last = t
        self.n += 1
        k = self.n - 1  # residuals seen, this one included
        level = self.level
        spread = RT_HALF_PI * max(self.spread_fast, self.spread_slow)
        floor = max(p.min_spread, EPS_ABS + EPS_REL * abs(level))
        if spread < floor:
            spread = floor
        learnt = spread  # σ of the residuals, before any growth across the gap
        moved = p.gap_drift_per_h / 3600.0 * dt  # how far the series may have moved unseen
        if p.slope_tau_s is not None and p.level_tau_s is not None:
            h = p.slope_horizon_s  # the slope, damped over this horizon
            reach = dt if h is None else h * -math.expm1(-dt / h)  # the damped time
            moved += abs(self.lag) / p.level_tau_s * reach
        if moved > 0.0:
            spread = math.hypot(spread, moved)
        resid = value - level
        z = resid / spread
        self.short += p.short_alpha * (z - self.short)
        zs = self.short / p.short_norm
        sign = p.sign
        stat = abs(zs) if sign == 0.0 else sign * zs

        # Likelihood: -ln of the Gaussian tail probability of the evidence, in [0, 1].
        like = 0.0
        if self.n >= p.warmup_points and stat > 0.0:
            tail = 0.5 * math.erfc(stat * INV_SQRT2)
            like = min(1.0, -math.log(max(tail, MIN_TAIL)) / p.evidence_nats)
        score = max(0.0, like - self.peak)
        self.peak = max(self.peak * p.peak_decay, like)

        # Episodes: the alarm is the first anomalous point; calm points close the episode.
        anomaly = like >= p.threshold
        alarm = False
        if self.episode:
            self.calm = 0 if anomaly else self.calm + 1
            if self.calm >= p.calm_points:
                self.episode, self.calm = False, 0
        elif anomaly:
            self.episode, self.calm, alarm = True, 0, True

        # Learning: winsorised residual (Huber), warm-started means; gains per point or per time.
        bound = p.huber_c * spread
        step = min(max(resid, -bound), bound)
        tau = p.level_tau_s
        self.level = level + (p.level_alpha if tau is None else -math.expm1(-dt / tau)) * step
        cap = p.residual_max_dt_s
        ds = dt if cap is None or dt <= cap else cap
        if p.slope_tau_s is not None:
            self.lag += -math.expm1(-ds / p.slope_tau_s) * (step - self.lag)
        dev = min(abs(resid), p.huber_c * learnt)
        tau = p.spread_tau_s
        gain = max(p.spread_alpha if tau is None else -math.expm1(-ds / tau), 1.0 / k)
        self.spread_fast += gain * (dev - self.spread_fast)
        tau = p.spread_slow_tau_s
        gain = max(p.spread_slow_alpha if tau is None else -math.expm1(-ds / tau), 1.0 / k)
        self.spread_slow += gain * (dev - self.spread_slow)
        return Detection(score, anomaly, alarm, level, spread, like)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal state, bit for bit."""
        return {"format": STATE_FORMAT, **{name: getattr(self, name) for name in self.__slots__}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorState:
        """The state :meth:`to_dict` wrote; anything else raises :class:`.InvalidState`. Format 2
        (before ``lag``) is read with ``lag`` 0: the same detector, whose slope memory starts
        empty. Format 1 (the CUSUM detector) is refused: its detector is gone, start afresh."""
        found = data.get("format")
        if found not in (2, STATE_FORMAT) or isinstance(found, bool):
            raise InvalidState(
                f"detector state of format {found!r}, not {STATE_FORMAT} (or 2): written by "
                "another detector version; start a fresh state"
            )
        names = cls.__slots__ if found == STATE_FORMAT else _FORMAT_2
        if set(data) != {"format", *names}:
            raise InvalidState(f"not a detector state of format {found}")
        state = cls()
        for name in names:
            raw = data[name]
            if name == "episode":
                if not isinstance(raw, bool):
                    raise InvalidState(f"episode: not a flag: {raw!r}")
                state.episode = raw
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise InvalidState(f"{name}: not a finite number: {raw!r}")
            if name in ("n", "calm"):
                if not isinstance(raw, int) or raw < 0:
                    raise InvalidState(f"{name}: not a count: {raw!r}")
                setattr(state, name, raw)
            else:
                setattr(state, name, float(raw))
        return state


_FORMAT_2 = tuple(name for name in DetectorState.__slots__ if name != "lag")
