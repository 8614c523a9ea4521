"""Streaming anomaly detector for any series: O(1) state, O(1) update per point, a continuous score.

Feed a series point by point to a :class:`DetectorState` (the worker's path), or whole arrays to
:func:`detect_batch` (the batch twin: same numbers bit for bit; the CLI's and backfill's path).
Method, evaluation (bench/anomaly_eval.py on the anomaly-dev corpus) and rejected candidates:
docs/alerting.md.

1. *Baseline*: a robust exponentially weighted mean (memory ~100 points); each residual is
   winsorised at ``huber_c``·σ before it is learnt (Huber's M-estimate of location in its
   recursive form; Gelper, Fried & Croux 2010, "Robust forecasting with exponential and
   Holt–Winters smoothing", J. Forecasting 29), so spikes barely move it and a level shift is
   followed within a few hundred points.
2. *Spread* σ: √(π/2) × the larger of a fast (~10 points) and a slow (~100 points) EW mean absolute
   winsorised residual (warm-started as plain means), floored at ``min_spread`` and at a relative
   epsilon.
3. *Evidence*: z = (x - baseline)/σ, smoothed by an EW mean over ~2-3 points and standardised
   (zs = mean / √(α/(2-α)), unit variance for independent z): one outlier counts as
   z·√(α(2-α)) = 0.92 z, a shift that persists accumulates to its full size (the short moving
   average of Numenta's anomaly likelihood, Ahmad, Lavin, Purdy & Agha 2017, "Unsupervised real-time
   anomaly detection for streaming data", Neurocomputing 262). Direction ``up`` keeps positive
   deviations, ``down`` negative, ``both`` their size.
4. *Likelihood*: -ln of the Gaussian tail probability of that evidence, / 100 nats, capped at 1:
   continuous, many distinct values, comparable across series because σ is learnt per series.
5. *Score*: the likelihood in excess of the fading memory of recent peaks (× 0.8 per point), so an
   anomaly's first points score high and its continuation (or the aftermath of a level shift, until
   the baseline has followed) low: only the earliest detection of an event is worth anything.
6. *Alarms*: a point with likelihood ≥ ``threshold`` outside an episode opens one (the alarm);
   ``calm_points`` points in a row with likelihood under the threshold close it.

Optional, for irregularly sampled series (off by default, on in :data:`INDEX_PARAMS`): memories of
the baseline and spreads in seconds (gain 1 - exp(-Δt/τ), Wright 1986, Eckner 2012), and σ grown
across a gap by the distance the baseline's own slope (learnt from its lag) covers in it, so a
flat series that falls silent gets no growth; see :class:`DetectorParams`.

>>> params = DetectorParams(direction="up")
>>> state = DetectorState()
>>> quiet = [state.update(60.0 * i, 2.0 + 0.05 * (-1) ** i, params) for i in range(60)]
>>> any(d.alarm for d in quiet)
False
>>> first = state.update(3600.0, 4.0, params)
>>> first.alarm, first.anomaly, round(first.score, 2)
(True, True, 1.0)
>>> DetectorState.from_dict(state.to_dict()) == state
True
>>> batch = detect_batch([60.0 * i for i in range(60)] + [3600.0],
...                      [2.0 + 0.05 * (-1) ** i for i in range(60)] + [4.0], params)
>>> batch.alarms.nonzero()[0].tolist(), batch.state == state
([60], True)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from indices.detect_state import (
    DIRECTIONS,
    EPS_ABS,
    EPS_REL,
    INV_SQRT2,
    MIN_TAIL,
    RT_HALF_PI,
    STATE_FORMAT,
    Detection,
    DetectorParams,
    DetectorState,
    Direction,
)
from indices.errors import InvalidEvent

__all__ = [
    "DIRECTIONS",
    "INDEX_PARAMS",
    "STATE_FORMAT",
    "BatchDetections",
    "Detection",
    "DetectorParams",
    "DetectorState",
    "Direction",
    "detect_batch",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# riskmon's own index series (0–10, a tick every ~5 s while decay moves the value, 15–60 s
# otherwise, gaps, and silence where nothing changes): rises only, σ floor 0.05 index units, a
# higher alarm level, memories in seconds rather than points (baseline 5 min, spreads 1 h and 2 h,
# at most 2 min of a silence counted by the spreads), σ grown across gaps by the baseline's own
# slope (none for a flat series) and a tighter winsorising bound (2σ, so a rise is not learnt
# while it is being detected), tuned on bench/detect_research DEV_SET (docs/alerting.md, "Alerts
# on index series").
INDEX_PARAMS = DetectorParams(
    direction="up",
    short_alpha=0.3,
    huber_c=2.0,
    min_spread=0.05,
    threshold=0.95,
    calm_points=30,
    level_tau_s=300.0,
    spread_tau_s=3600.0,
    spread_slow_tau_s=7200.0,
    residual_max_dt_s=120.0,
    slope_tau_s=1800.0,
    slope_horizon_s=10800.0,
)


class BatchDetections(NamedTuple):
    """Per-point results of :func:`detect_batch` and the state after the last point."""

    scores: Floats
    anomalies: Bools
    alarms: Bools
    baselines: Floats
    spreads: Floats
    likelihoods: Floats
    state: DetectorState


def detect_batch(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    params: DetectorParams,
    state: DetectorState | None = None,
) -> BatchDetections:
    """The batch twin: :meth:`DetectorState.update` over whole arrays, bit for bit.

    Starts from a copy of ``state`` (default: a new one) and returns the state after the last
    point, so a backfill can hand over to the stream. Validation is vectorised; the recursion
    itself cannot be (each point's winsorising depends on the state the previous point left), so
    it runs as one loop over plain floats in local variables, written independently of
    :meth:`~DetectorState.update` and checked against it by the tests. By default times only keep
    the clock (the detector counts points); with the time-aware options (``params.timed``) the
    gains and σ follow the time since the newest point seen. A time that steps back is scored
    like any other point.
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
    s = DetectorState.from_dict(state.to_dict()) if state is not None else DetectorState()
    if params.timed:
        out = _loop(x_arr.tolist(), params, s, t_arr.tolist())
    else:
        if len(t_arr):
            newest = float(t_arr.max())
            if s.n == 0 or newest > s.t_last:
                s.t_last = newest
        out = _loop(x_arr.tolist(), params, s)
    return BatchDetections(
        np.array(out[0], dtype=np.float64),
        np.array(out[1], dtype=np.bool_),
        np.array(out[2], dtype=np.bool_),
        np.array(out[3], dtype=np.float64),
        np.array(out[4], dtype=np.float64),
        np.array(out[5], dtype=np.float64),
        s,
    )


def _loop(
    xs: list[float], p: DetectorParams, s: DetectorState, ts: list[float] | None = None
) -> tuple[list[float], list[bool], list[bool], list[float], list[float], list[float]]:
    """The recursion of :meth:`DetectorState.update` on local floats; leaves the end state in s.

    ``ts`` (needed by the time-aware options, ``p.timed``) makes it keep the clock too; without
    it the caller sets ``s.t_last``.
    """
    a_level, a_fast, a_slow, a_short = (
        p.level_alpha,
        p.spread_alpha,
        p.spread_slow_alpha,
        p.short_alpha,
    )
    huber_c, min_spread, nats = p.huber_c, p.min_spread, p.evidence_nats
    decay, warm, threshold, calm_points = p.peak_decay, p.warmup_points, p.threshold, p.calm_points
    short_norm, sign = p.short_norm, p.sign
    n, level, fast, slow, short, peak = s.n, s.level, s.spread_fast, s.spread_slow, s.short, s.peak
    episode, calm = s.episode, s.calm
    erfc, log, expm1, hypot = math.erfc, math.log, math.expm1, math.hypot
    tau_level, tau_fast, tau_slow = p.level_tau_s, p.spread_tau_s, p.spread_slow_tau_s
    tau_lag, max_ds, h = p.slope_tau_s, p.residual_max_dt_s, p.slope_horizon_s
    lag_tau = tau_level if tau_level is not None else 1.0  # slope = lag / level τ (validated)
    drift, lag = p.gap_drift_per_h / 3600.0, s.lag
    t_last, dt = s.t_last, 0.0
    scores: list[float] = []
    anomalies: list[bool] = []
    alarms: list[bool] = []
    baselines: list[float] = []
    spreads: list[float] = []
    likes: list[float] = []
    for i, x in enumerate(xs):
        if ts is not None:
            t = ts[i]
            if n == 0:
                t_last = t
            elif t > t_last:
                dt, t_last = t - t_last, t
            else:
                dt = 0.0
        if n == 0:
            n, level = 1, x
            floor = EPS_ABS + EPS_REL * abs(x)
            scores.append(0.0)
            anomalies.append(False)
            alarms.append(False)
            baselines.append(x)
            spreads.append(min_spread if min_spread > floor else floor)
            likes.append(0.0)
            continue
        n += 1
        k = n - 1
        spread = RT_HALF_PI * (fast if fast > slow else slow)
        floor = EPS_ABS + EPS_REL * abs(level)
        if min_spread > floor:
            floor = min_spread
        if spread < floor:
            spread = floor
        learnt = spread
        moved = drift * dt
        if tau_lag is not None:
            reach = dt if h is None else h * -expm1(-dt / h)  # the damped time
            moved += (lag if lag >= 0.0 else -lag) / lag_tau * reach
        if moved > 0.0:
            spread = hypot(spread, moved)
        resid = x - level
        z = resid / spread
        short += a_short * (z - short)
        zs = short / short_norm
        stat = (zs if zs >= 0.0 else -zs) if sign == 0.0 else sign * zs
        like = 0.0
        if n >= warm and stat > 0.0:
            tail = 0.5 * erfc(stat * INV_SQRT2)
            like = -log(tail if tail > MIN_TAIL else MIN_TAIL) / nats
            if like > 1.0:
                like = 1.0
        score = like - peak
        if score < 0.0:
            score = 0.0
        peak *= decay
        if like > peak:
            peak = like
        anomaly = like >= threshold
        alarm = False
        if episode:
            calm = 0 if anomaly else calm + 1
            if calm >= calm_points:
                episode, calm = False, 0
        elif anomaly:
            episode, calm, alarm = True, 0, True
        scores.append(score)
        anomalies.append(anomaly)
        alarms.append(alarm)
        baselines.append(level)
        spreads.append(spread)
        likes.append(like)
        bound = huber_c * spread
        step = bound if resid > bound else -bound if resid < -bound else resid
        level += (a_level if tau_level is None else -expm1(-dt / tau_level)) * step
        ds = dt if max_ds is None or dt <= max_ds else max_ds
        if tau_lag is not None:
            lag += -expm1(-ds / tau_lag) * (step - lag)
        dev = resid if resid >= 0.0 else -resid
        bound = huber_c * learnt
        if dev > bound:
            dev = bound
        gain = 1.0 / k
        a = a_fast if tau_fast is None else -expm1(-ds / tau_fast)
        fast += (a if a > gain else gain) * (dev - fast)
        a = a_slow if tau_slow is None else -expm1(-ds / tau_slow)
        slow += (a if a > gain else gain) * (dev - slow)
    s.n, s.level, s.spread_fast, s.spread_slow, s.short, s.peak = n, level, fast, slow, short, peak
    s.episode, s.calm, s.lag = episode, calm, lag
    if ts is not None and n:
        s.t_last = t_last
    return scores, anomalies, alarms, baselines, spreads, likes
