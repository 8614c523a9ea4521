"""The alert engine on the labelled index scenarios: what operators would be notified of.

Each series of :mod:`bench.detect_research.evaluation` is fed, point by point, through a detector
and the alert engine (``indices.alerts``) as the worker does (one observation per point, the
engine's ``tick`` at the same time), with only the spike rule enabled (the threshold and stale
rules look at other things). Every ``fired`` change is a notification; they are scored with
:func:`~bench.detect_research.evaluation.evaluate` (first notification inside an anomaly's window
is true, later ones repeats, outside every window false).

* ``before``: the previous detector (:mod:`bench.detect_research.legacy`, CUSUM) with the previous
  spike rule (opens at its score ≥ 0.8 or its alarm, closes at ≤ 0.4);
* ``after``: :data:`indices.detect.INDEX_PARAMS` (time-aware memories and σ growth across gaps)
  with the current :class:`SpikeParams` (opens at the likelihood ≥ 0.95 or the alarm, closes at
  ≤ 0.4); the worker passes the likelihood as ``spike_score``.

:data:`BEFORE` holds the ``before`` figures (the legacy detector is frozen), so a test can check
``after`` against them without rerunning it.

``python -m bench.detect_research.alert_scenarios [--set repo|dev]`` prints both as JSON.

>>> from bench.detect_research.evaluation import REPO_SET
>>> result = run_set("after", REPO_SET[:1])
>>> result.detected > 0
True
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Literal

import numpy as np

from bench.detect_research.evaluation import (
    DEV_SET,
    REPO_SET,
    Evaluation,
    LabelledSeries,
    SeriesSpec,
    evaluate,
    generate,
    pooled,
)
from bench.detect_research.legacy import LegacyParams
from bench.detect_research.legacy import detect_batch as legacy_batch
from indices.alerts import AlertConfig, AlertEngine, Observation
from indices.alerts.rules import DomainRules, SpikeParams, StaleParams, ThresholdParams
from indices.detect import INDEX_PARAMS, detect_batch

__all__ = ["BEFORE", "PREVIOUS_SPIKE", "Which", "notifications", "run_set"]

Which = Literal["before", "after"]
PREVIOUS_SPIKE = SpikeParams(open_score=0.8, close_score=0.4)  # the rule before issue 19
DISTRICT = "4157056000"
# ``before`` per set, as run_set("before", ...) gives it: (precision, recall, median, p90 delay s).
BEFORE: dict[str, tuple[float, float, float, float]] = {
    "repo": (68 / 71, 68 / 69, 46.6, 94.1),
    "dev": (1.0, 1.0, 41.2, 85.0),
}


def _config(spike: SpikeParams) -> AlertConfig:
    return AlertConfig(
        defaults=DomainRules(
            spike=spike,
            threshold=ThresholdParams(enabled=False),
            stale=StaleParams(enabled=False),
        )
    )


def notifications(series: LabelledSeries, which: Which) -> np.ndarray:
    """The times of the ``fired`` changes the engine reports for ``series``."""
    if which == "before":
        old = legacy_batch(series.t, series.x, LegacyParams())
        scores, flags, baselines = old.scores, old.alarms, old.baselines
        config = _config(PREVIOUS_SPIKE)
    else:
        new = detect_batch(series.t, series.x, INDEX_PARAMS)
        scores, flags, baselines = new.likelihoods, new.alarms, new.baselines
        config = _config(SpikeParams())
    engine = AlertEngine.new()
    fired: list[float] = []
    rows = zip(
        series.t.tolist(),
        series.x.tolist(),
        scores.tolist(),
        flags.tolist(),
        baselines.tolist(),
        strict=True,
    )
    for t, x, score, flag, baseline in rows:
        changes = engine.tick(t, config)
        changes += engine.observe(
            Observation(DISTRICT, "fire", t, x, 1, baseline, score, flag), config
        )
        fired.extend(t for c in changes if c.what == "fired")
    return np.array(fired, dtype=np.float64)


def run_set(which: Which, specs: Sequence[SeriesSpec]) -> Evaluation:
    """Notifications of ``which`` on every series of ``specs``, pooled."""
    results = []
    for spec in specs:
        series = generate(spec)
        results.append(evaluate(series, notifications(series, which)))
    return pooled(results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.detect_research.alert_scenarios", description=__doc__
    )
    parser.add_argument("--set", choices=["repo", "dev"], default="repo")
    args = parser.parse_args(argv)
    specs = REPO_SET if args.set == "repo" else DEV_SET
    report = {which: run_set(which, specs).summary() for which in ("before", "after")}
    json.dump({"set": args.set, **report}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
