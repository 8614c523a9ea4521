"""Streaming spike detector for any index series: O(1) state, O(1) time-aware update per point.

Feed a series point by point to a :class:`DetectorState` (the worker's path), or whole arrays to
:func:`detect_batch` (the batch twin: same numbers bit for bit; the CLI's and backfill's path).
Method, evaluation and the rejected candidates: docs/alerting.md.

1. *Baseline*: robust double exponential smoothing (Brown's level + trend) with time-aware weights
   ``1 - exp(-Δt/τ)`` for irregular sampling (Eckner 2012, "Algorithms for unevenly spaced time
   series"; Wright 1986, Holt's method at irregular intervals, Management Science 32). Each
   observation is first winsorised to ``forecast ± huber_c·σ`` (Gelper, Fried & Croux 2010,
   "Robust forecasting with exponential and Holt–Winters smoothing", J. Forecasting 29), so spikes
   barely move it, while the trend follows daily cycles and drifts.
2. *Spread* σ: the larger of a fast and a slow exponentially weighted mean absolute residual
   (× √(π/2), the Gaussian mean-absolute-deviation-to-σ factor), winsorised the same way,
   bias-corrected for its zero start, floored at ``min_spread``. Across a gap Δt the forecast's σ
   grows to ``hypot(σ, gap_drift_per_h·Δt)``: the longer the series was unseen, the larger a jump
   it takes to alarm. The spread learns residuals in noise units (that growth divided out), and
   one point weighs at most 1 - 1/e in it, so the first point after a gap cannot reset it.
3. *Decision*: Page's one-sided CUSUM on the standardised residual z (Page 1954, "Continuous
   inspection schemes", Biometrika 41), each point's evidence censored at ``z_clip`` as in Huber's
   robust probability ratio test (Huber 1965, Ann. Math. Statist. 36):
   ``S = max(0, S + min(z, z_clip) - cusum_k)``, anomalous when ``S ≥ cusum_h``. With the
   defaults one point adds at most 5 < 6, so a rise alarms on its second point at the earliest
   (two points ≥ 6σ) and an isolated outlier never does. ``score = 1 - 2^(-(S/cusum_h)²)``: 0.5
   at the threshold, 0.94 at twice it, 0.996 at its ceiling ``cusum_cap + z_clip - cusum_k``.
4. *Episodes*: the first anomalous point opens an episode and is its *alarm*; nothing else alarms
   until ``calm_s`` of calm points (``z < calm_z``) close it. While it is open the baseline only
   coasts on its trend and does not learn. When a fast level (EW over ``fast_tau_s``) stays more
   than ``calm_z``·σ off the baseline for ``adapt_s``, the baseline jumps to it: a level shift is
   reported once and then becomes the new normal.

>>> params = DetectorParams()
>>> state = DetectorState()
>>> quiet = [state.update(60.0 * i, 2.0 + 0.05 * (-1) ** i, params) for i in range(60)]
>>> any(d.alarm for d in quiet)
False
>>> first, second = state.update(3600.0, 4.0, params), state.update(3660.0, 4.1, params)
>>> first.alarm, second.alarm, second.anomaly, round(second.score, 2)
(False, True, True, 0.85)
>>> DetectorState.from_dict(state.to_dict()) == state
True
>>> batch = detect_batch([60.0 * i for i in range(60)] + [3600.0, 3660.0],
...                      [2.0 + 0.05 * (-1) ** i for i in range(60)] + [4.0, 4.1], params)
>>> batch.alarms.nonzero()[0].tolist(), batch.state == state
([61], True)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from indices.detect_state import (
    RT_HALF_PI,
    STATE_FORMAT,
    Detection,
    DetectorParams,
    DetectorState,
)
from indices.errors import InvalidEvent

__all__ = [
    "STATE_FORMAT",
    "BatchDetections",
    "Detection",
    "DetectorParams",
    "DetectorState",
    "detect_batch",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class BatchDetections(NamedTuple):
    """Per-point results of :func:`detect_batch` and the state after the last point."""

    scores: Floats
    anomalies: Bools
    alarms: Bools
    baselines: Floats
    spreads: Floats
    state: DetectorState


def detect_batch(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    params: DetectorParams,
    state: DetectorState | None = None,
) -> BatchDetections:
    """The batch twin: :meth:`DetectorState.update` over whole arrays, bit for bit.

    Starts from a copy of ``state`` (default: a new one) and returns the state after the last
    point, so a backfill can hand over to the stream. Validation and the clock clamp are
    vectorised; the recursion itself cannot be (each point's winsorising depends on the state the
    previous point left), so it runs as one loop over plain floats in local variables, written
    independently of :meth:`~DetectorState.update` and checked against it by the tests.
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
    clock: list[float], xs: list[float], p: DetectorParams, s: DetectorState
) -> tuple[list[float], list[bool], list[bool], list[float], list[float]]:
    """The recursion of :meth:`DetectorState.update` on local floats; leaves the end state in s."""
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
