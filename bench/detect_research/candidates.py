"""The candidate decision rules that were compared for the *previous* detector (the CUSUM one,
kept in :mod:`bench.detect_research.legacy`; replaced in issue 19 by :mod:`indices.detect`'s
anomaly likelihood). Used by ``bench/detect_bench.py --compare`` and the tests only.

All candidates share that detector's robust baseline, spread, episodes and adaptation, so the
comparison isolates the decision rule:

* :class:`ZScore` — a Shewhart chart on the robust z-score (the classic "EWMA level + robust
  spread" detector): a point is anomalous when ``z ≥ z_on``.
* :class:`Cusum` — Page's CUSUM on z, exactly the rule of the previous detector (kept here so the
  runner can be checked against :func:`bench.detect_research.legacy.detect_batch`).
* :class:`Spot` — streaming peaks-over-threshold (SPOT/DSPOT, Siffer, Fouque, Termier & Largouët,
  "Anomaly detection in streams with extreme value theory", KDD 2017) on z: excesses over a
  threshold ``u`` follow a generalised Pareto law (Pickands–Balkema–de Haan), fitted here by the
  method of moments on exponentially weighted sums (Hosking & Wallis 1987) so the state stays O(1)
  instead of SPOT's list of peaks; a point is anomalous when z exceeds the GPD quantile of risk q.

>>> from bench.detect_research.evaluation import DEV_SET, harness
>>> run = lambda t, x: run_rule(t, x, DetectorParams(), Cusum(DetectorParams()))
>>> harness(run, DEV_SET[:1]).recall
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bench.detect_research.evaluation import DEV_SET, Evaluation, SeriesSpec, harness
from bench.detect_research.legacy import RT_HALF_PI
from bench.detect_research.legacy import LegacyParams as DetectorParams

__all__ = [
    "CHOSEN",
    "GRIDS",
    "Cusum",
    "Rule",
    "Spot",
    "ZScore",
    "compare",
    "evaluate_rule",
    "run_rule",
    "tune",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class Rule(Protocol):
    """A decision rule on the standardised residual z of one series (stateful)."""

    def step(self, z: float, warm: bool, quiet: bool) -> bool:
        """Is the point anomalous? ``warm``: the baseline has learnt enough to decide;
        ``quiet``: no episode is open (the point may be learnt from)."""

    def reset(self) -> None:
        """Forget accumulated evidence (the episode closed or the baseline re-anchored)."""


@dataclass(slots=True)
class ZScore:
    """Shewhart chart: anomalous when z ≥ ``z_on``; no memory."""

    z_on: float = 6.0

    def step(self, z: float, warm: bool, quiet: bool) -> bool:
        return warm and z >= self.z_on

    def reset(self) -> None:
        pass


@dataclass(slots=True)
class Cusum:
    """Page's CUSUM as in :mod:`indices.detect`: anomalous when ``S ≥ h``."""

    params: DetectorParams
    total: float = 0.0

    def step(self, z: float, warm: bool, quiet: bool) -> bool:
        p = self.params
        total = max(0.0, self.total + min(z, p.z_clip) - p.cusum_k) if warm else 0.0
        self.total = min(total, p.cusum_cap)
        return total >= p.cusum_h

    def reset(self) -> None:
        self.total = 0.0


@dataclass(slots=True)
class Spot:
    """SPOT on z with a moment-fitted GPD tail over ``u`` and exponentially weighted memory.

    ``q`` is the risk per point; ``memory`` the number of points the tail statistics average over.
    They start from a Gaussian tail above u = 2 (mean excess 0.37, second moment 0.26, peak rate
    2.3 %) instead of SPOT's calibration batch.
    """

    q: float = 1e-5
    u: float = 2.0
    memory: float = 5000.0
    rate: float = field(default=0.023, init=False)  # the prior stands in for SPOT's calibration
    m1: float = field(default=0.37, init=False)
    m2: float = field(default=0.26, init=False)

    def threshold(self) -> float:
        """The GPD quantile of risk q above u (Siffer et al. 2017, eq. 1)."""
        var = max(self.m2 - self.m1 * self.m1, 1e-9)
        ratio = self.m1 * self.m1 / var
        xi = 0.5 * (1.0 - ratio)  # method of moments (Hosking & Wallis 1987)
        scale = 0.5 * self.m1 * (1.0 + ratio)
        tail = self.q / max(self.rate, 1e-9)
        if abs(xi) < 1e-6:
            return self.u - scale * math.log(tail)
        return self.u + scale / xi * (math.pow(tail, -xi) - 1.0)

    def step(self, z: float, warm: bool, quiet: bool) -> bool:
        if warm and z > self.threshold():
            return True  # an anomaly is not a peak: it does not update the tail
        if not quiet:
            return False  # nor is the rest of an episode (SPOT learns from normal points only)
        w = 1.0 / self.memory
        peak = z > self.u
        self.rate += w * (float(peak) - self.rate)
        if peak:
            y = z - self.u
            gain = min(1.0, w / self.rate)  # the moments average over peaks only
            self.m1 += gain * (y - self.m1)
            self.m2 += gain * (y * y - self.m2)
        return False

    def reset(self) -> None:
        pass


def run_rule(ts: Floats, xs: Floats, p: DetectorParams, rule: Rule) -> Bools:
    """Alarm flags of ``rule`` behind the detector's baseline, spread, episodes and adaptation
    (the same recursion as :meth:`indices.detect.DetectorState.update`, decision swapped)."""
    alarms = np.zeros(len(ts), dtype=bool)
    clock = np.maximum.accumulate(np.asarray(ts, dtype=np.float64)).tolist()
    values = np.asarray(xs, dtype=np.float64).tolist()
    if not clock:
        return alarms
    t_first = t_last = clock[0]
    s1 = s2 = fast = values[0]
    sf = sf_w = ss = ss_w = 0.0
    opened: float | None = None
    calm_since: float | None = None
    dev_since: float | None = None
    for i in range(1, len(clock)):
        t, x = clock[i], values[i]
        dt = t - t_last
        t_last = t
        forecast = 2.0 * s1 - s2 + (s1 - s2) / p.level_tau_s * min(dt, p.level_tau_s)
        spread = max(p.min_spread, sf / sf_w if sf_w else 0.0, ss / ss_w if ss_w else 0.0)
        sigma = math.hypot(spread, p.gap_drift_per_h * dt / 3600.0)
        resid = x - forecast
        z = resid / sigma
        calm = z < p.calm_z
        warm = i + 1 >= p.warmup_points and t - t_first >= p.warmup_s
        anomaly = rule.step(z, warm, opened is None)
        if opened is None:
            if anomaly:
                opened, calm_since, alarms[i] = t, None, True
        elif not calm:
            calm_since = None
        elif calm_since is None:
            calm_since = t
        elif t - calm_since >= p.calm_s:
            opened = calm_since = None
            rule.reset()
        learn = opened is None or calm
        bound = p.huber_c * sigma
        step = min(max(resid, -bound), bound) if learn else 0.0
        gain = 1.0 - math.exp(-dt / p.level_tau_s)
        s1 += gain * (forecast + step - s1)
        s2 += gain * (s1 - s2)
        fast += (1.0 - math.exp(-dt / p.fast_tau_s)) * (x - fast)
        if learn:
            dev = min(abs(resid), bound) * (spread / sigma) * RT_HALF_PI
            keep = math.exp(-min(dt, p.spread_tau_s) / p.spread_tau_s)
            sf, sf_w = keep * sf + (1.0 - keep) * dev, keep * sf_w + (1.0 - keep)
            keep = math.exp(-min(dt, p.spread_slow_tau_s) / p.spread_slow_tau_s)
            ss, ss_w = keep * ss + (1.0 - keep) * dev, keep * ss_w + (1.0 - keep)
        if abs(fast - (2.0 * s1 - s2)) <= p.calm_z * spread:
            dev_since = None
        elif dev_since is None:
            dev_since = t
        elif t - dev_since >= p.adapt_s:
            s1 = s2 = fast
            dev_since = None
            rule.reset()
    return alarms


# Each candidate's settings tried on DEV_SET; tune() keeps the best F1, then the shortest median
# delay. z_clip=1e9 is the CUSUM without the clip (one point may alarm).
DEFAULT = DetectorParams()
CUSUM_GRID = ((2.5, 6.0, 8.0), (3.0, 6.0, 8.0), (3.5, 6.0, 8.0), (3.0, 8.0, 10.0), (3.0, 6.0, 1e9))
GRIDS: dict[str, dict[str, Callable[[], Rule]]] = {
    "zscore": {f"z_on={z:g}": partial(ZScore, z) for z in (6.0, 8.0, 10.0, 12.0, 16.0)},
    "spot": {
        f"q={q:g} u={u:g} memory={m:g}": partial(Spot, q, u, m)
        for q in (1e-5, 1e-6, 1e-7)
        for u in (2.0, 3.0)
        for m in (2e4, 1e5)
    },
    "cusum": {
        f"k={k:g} h={h:g} z_clip={c:g}": partial(
            Cusum, replace(DEFAULT, cusum_k=k, cusum_h=h, z_clip=c, cusum_cap=2 * h)
        )
        for k, h, c in CUSUM_GRID
    },
}
# What tune() picked on DEV_SET (the cusum entry is the detector's default).
CHOSEN: dict[str, str] = {
    "zscore": "z_on=10",
    "spot": "q=1e-07 u=3 memory=100000",
    "cusum": "k=3 h=6 z_clip=8",
}


def _rank(result: Evaluation) -> tuple[float, float]:
    p, r = result.precision, result.recall
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return round(f1, 6), -result.delay_s(50)


def evaluate_rule(make: Callable[[], Rule], specs: Sequence[SeriesSpec]) -> Evaluation:
    """Pooled evaluation of a fresh rule (from ``make``) per series behind the default baseline."""
    return harness(lambda t, x: run_rule(t, x, DEFAULT, make()), specs)


def tune(candidate: str, specs: Sequence[SeriesSpec] = DEV_SET) -> tuple[str, Evaluation]:
    """The best setting of ``candidate`` on ``specs``: highest F1, then shortest median delay."""
    results = {label: evaluate_rule(make, specs) for label, make in GRIDS[candidate].items()}
    best = max(results, key=lambda label: _rank(results[label]))
    return best, results[best]


def compare(specs: Sequence[SeriesSpec]) -> dict[str, Evaluation]:
    """Every candidate at its :data:`CHOSEN` setting, evaluated on ``specs``."""
    return {name: evaluate_rule(GRIDS[name][CHOSEN[name]], specs) for name in CHOSEN}
