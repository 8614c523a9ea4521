"""Score any streaming anomaly detector on a labelled corpus of real series, NAB-style.

``python -m bench.anomaly_eval [--corpus DIR] [--detector NAME ...] [--table]`` (or
``python -m bench --only anomaly``) prints one JSON object: per detector and scoring profile the
normalised score, the threshold chosen and the per-series raw scores. The corpus defaults to
``../shared/data/anomaly-dev`` next to the repository (``RISKMON_ANOMALY_DEV`` overrides); it is
read in place, never copied: ``series/<group>/<name>.csv`` (``timestamp,value``) and ``labels.json``
(``{"<group>/<name>.csv": [[start, end], ...]}``, both ends included).

The rules (those of the Numenta Anomaly Benchmark, Lavin & Ahmad 2015, "Evaluating real-time
anomaly detection algorithms — the Numenta Anomaly Benchmark", and its ``nab/sweeper.py``):

* a *detection* is a point whose score is ≥ the threshold; one threshold for all series, the one
  that maximises the total raw score (every distinct score is tried);
* the first 15 % of each series, at most 750 points, is a *learning period*: detections there count
  nothing, and a window that ends inside it is dropped (it can be neither found nor missed);
* inside a window of W points ending at index e, a detection at index i has the relative
  position ``p = -(e - i + 1) / W`` (-1 at the first point) and earns ``A_TP · σ(p)``, with NAB's
  scaled sigmoid ``σ(p) = 2 / (1 + exp(5p)) - 1`` (0.987 at the window's start, ~0 at its end);
  only the window's best (earliest) detection counts;
* a detection outside every window costs ``A_FP · σ(p)`` (σ < 0 there) with p the distance from the
  end of the previous window in units of that window's width - 1 (so the cost grows back from 0 just
  after a window to A_FP from 3 widths on, ``σ = -1`` beyond 3); before the first window it costs
  the full A_FP;
* a window with no detection costs ``A_FN``;
* normalised: ``100 · (raw - null) / (perfect - null)`` over the whole corpus, where *null* never
  detects (``-A_FN`` per window) and *perfect* detects every window at its first counted point.

Profiles (NAB's ``config/profiles.json``): standard A_TP 1, A_FP 0.11, A_FN 1; reward_low_FP_rate
A_FP 0.22; reward_low_FN_rate A_FN 2.

>>> t = np.arange(1000, dtype=np.float64) * 60.0
>>> s = Series("toy", t, np.zeros(1000), ((500, 509),))
>>> scores = np.zeros(1000); scores[500] = 0.9; scores[700] = 0.5
>>> result = score_corpus({"toy": scores}, [s], PROFILES["standard"])
>>> round(result.threshold, 2), round(result.score, 1), result.series["toy"].detected
(0.9, 100.0, 1)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import Result, machine, progress
from indices.detect import Direction

__all__ = [
    "DETECTORS",
    "PROFILES",
    "CorpusScore",
    "Profile",
    "Series",
    "default_corpus",
    "load_corpus",
    "run",
    "score_corpus",
    "windowed_gaussian",
]

Floats = npt.NDArray[np.float64]
Scorer = Callable[[Floats, Floats], Floats]  # (times in epoch s, values) -> score per point

LEARN_FRACTION = 0.15
LEARN_MAX = 750


@dataclass(frozen=True, slots=True)
class Profile:
    """NAB's weights of one scoring profile."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled series: times, values and windows as inclusive index ranges."""

    name: str
    t: Floats
    x: Floats
    windows: tuple[tuple[int, int], ...]

    @property
    def learning(self) -> int:
        """Points of the learning period."""
        return min(math.floor(LEARN_FRACTION * len(self.t)), LEARN_MAX)


@dataclass(frozen=True, slots=True)
class SeriesScore:
    """One series at the chosen threshold."""

    raw: float
    windows: int
    detected: int
    false_positives: int
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span > 0 else math.nan


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A detector's result on a corpus under one profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    series: dict[str, SeriesScore]

    @property
    def score(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)

    def summary(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 2),
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "windows": sum(s.windows for s in self.series.values()),
            "detected": sum(s.detected for s in self.series.values()),
            "false_positives": sum(s.false_positives for s in self.series.values()),
        }


def default_corpus() -> Path:
    """``RISKMON_ANOMALY_DEV``, else ``../shared/data/anomaly-dev`` beside the repository."""
    env = os.environ.get("RISKMON_ANOMALY_DEV")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "anomaly-dev"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def load_corpus(root: Path, names: Iterable[str] | None = None) -> list[Series]:
    """Every series of ``root`` (sorted by name), with its windows as index ranges."""
    labels: dict[str, list[list[str]]] = json.loads((root / "labels.json").read_text("utf-8"))
    wanted = sorted(labels) if names is None else list(names)
    out = []
    for name in wanted:
        ts: list[float] = []
        xs: list[float] = []
        with (root / "series" / name).open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                stamp, _, value = line.strip().partition(",")
                ts.append(_epoch(stamp))
                xs.append(float(value))
        t = np.array(ts)
        windows = []
        for start, end in labels[name]:
            lo = int(np.searchsorted(t, _epoch(start), side="left"))
            hi = int(np.searchsorted(t, _epoch(end), side="right")) - 1
            if hi >= lo:
                windows.append((lo, hi))
        out.append(Series(name, t, np.array(xs), tuple(windows)))
    return out


def _sigmoid(position: Floats) -> Floats:
    """NAB's scaled sigmoid: 2/(1+e^{5p}) - 1, and -1 beyond p = 3."""
    out: Floats = 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 3.0))) - 1.0
    out[position > 3.0] = -1.0
    return out


@dataclass(frozen=True, slots=True)
class _Parts:
    """The threshold-independent pieces of one series' score."""

    windows: list[tuple[int, int]]  # counted windows, clipped to after the learning period
    credit: list[Floats]  # σ(p) per point of each window
    fp_index: npt.NDArray[np.int64]  # points outside every window (after the learning period)
    fp_cost: Floats  # -σ(p) ≥ 0 for those points


def _parts(s: Series) -> _Parts:
    n, learn = len(s.t), s.learning
    inside = np.zeros(n, dtype=bool)
    cost = np.ones(n)
    windows, credit = [], []
    for k, (lo, hi) in enumerate(s.windows):
        inside[lo : hi + 1] = True
        width = hi - lo + 1
        idx = np.arange(lo, hi + 1)
        pos = -(hi - idx + 1) / width
        if hi >= learn:
            start = max(lo, learn)
            windows.append((start, hi))
            credit.append(_sigmoid(pos[start - lo :]))
        stop = s.windows[k + 1][0] if k + 1 < len(s.windows) else n
        after = np.arange(hi + 1, stop)
        cost[hi + 1 : stop] = -_sigmoid((after - hi) / max(width - 1, 1))
    outside = np.flatnonzero(~inside)
    outside = outside[outside >= learn]
    return _Parts(windows, credit, outside, cost[outside])


def _events(scores: Floats, parts: _Parts, profile: Profile) -> tuple[Floats, Floats]:
    """(score level, change of the raw total when the threshold drops to that level)."""
    levels = [scores[parts.fp_index]]
    deltas = [-profile.fp * parts.fp_cost]
    for (lo, hi), credit in zip(parts.windows, parts.credit, strict=True):
        seg = scores[lo : hi + 1]
        run = np.maximum.accumulate(seg)
        new = np.flatnonzero(np.r_[True, run[1:] > run[:-1]])  # records of the running max
        values = profile.tp * credit[new]
        # Going down in threshold, record j takes over from record j+1 (or from a miss).
        above = np.r_[values[1:], -profile.fn]
        levels.append(run[new])
        deltas.append(values - above)
    return np.concatenate(levels), np.concatenate(deltas)


def score_corpus(
    results: Mapping[str, Floats], corpus: Sequence[Series], profile: Profile
) -> CorpusScore:
    """The best single threshold for all series and the scores it gives."""
    parts = {s.name: _parts(s) for s in corpus}
    levels, deltas = [], []
    for s in corpus:
        lv, dl = _events(np.asarray(results[s.name], dtype=np.float64), parts[s.name], profile)
        levels.append(lv)
        deltas.append(dl)
    lv, dl = np.concatenate(levels), np.concatenate(deltas)
    order = np.argsort(-lv, kind="stable")
    lv, dl = lv[order], np.cumsum(dl[order])
    last = np.r_[lv[1:] != lv[:-1], True]  # the total at a level counts every event at it
    best = int(np.argmax(np.where(last, dl, -np.inf))) if len(lv) else -1
    threshold = float(lv[best]) if best >= 0 and dl[best] > 0 else math.inf
    per = {
        s.name: _series_score(s, parts[s.name], results[s.name], threshold, profile) for s in corpus
    }
    return CorpusScore(
        profile.name,
        threshold,
        sum(p.raw for p in per.values()),
        sum(p.null for p in per.values()),
        sum(p.perfect for p in per.values()),
        per,
    )


def _series_score(
    s: Series, parts: _Parts, scores: Floats, threshold: float, profile: Profile
) -> SeriesScore:
    scores = np.asarray(scores, dtype=np.float64)
    hit = scores[parts.fp_index] >= threshold
    raw = -profile.fp * float(parts.fp_cost[hit].sum())
    detected = 0
    perfect = 0.0
    for (lo, hi), credit in zip(parts.windows, parts.credit, strict=True):
        perfect += profile.tp * float(credit[0])
        found = np.flatnonzero(scores[lo : hi + 1] >= threshold)
        if len(found):
            detected += 1
            raw += profile.tp * float(credit[found[0]])
        else:
            raw -= profile.fn
    null = -profile.fn * len(parts.windows)
    return SeriesScore(raw, len(parts.windows), detected, int(hit.sum()), null, perfect)


# --- detectors ------------------------------------------------------------------------------------


def windowed_gaussian(t: Floats, x: Floats, window: int = 6400, step: int = 100) -> Floats:
    """NAB's ``windowedGaussian`` baseline: 1 - the Gaussian tail probability of each value under
    the mean and standard deviation of a trailing window (refreshed every ``step`` points, up to
    ``window`` points, growing from the first point)."""
    n = len(x)
    out = np.zeros(n)
    if n < 2:
        return out
    c1 = np.r_[0.0, np.cumsum(x)]
    c2 = np.r_[0.0, np.cumsum(x * x)]
    # The statistics used at point i cover points [lo, hi): all points before i until the window
    # is full, then frozen between steps of `step` points.
    i = np.arange(1, n)
    hi = np.where(i <= window, i, window + ((i - window) // step) * step)
    lo = np.maximum(hi - window, 0)
    count = hi - lo
    mean = (c1[hi] - c1[lo]) / count
    var = np.maximum((c2[hi] - c2[lo]) / count - mean * mean, 0.0)
    std = np.sqrt(var)
    z = np.abs(x[1:] - mean) / np.where(std > 0, std, 1.0)
    tail = 0.5 * np.array([math.erfc(v / math.sqrt(2.0)) for v in z.tolist()])
    tail[std == 0] = np.where(x[1:][std == 0] == mean[std == 0], 0.5, 0.0)
    out[1:] = 1.0 - tail
    return out


def _riskmon(direction: Direction) -> Scorer:
    def score(t: Floats, x: Floats) -> Floats:
        from indices.detect import DetectorParams, detect_batch

        return detect_batch(t, x, DetectorParams(direction=direction)).scores

    return score


def _legacy(t: Floats, x: Floats) -> Floats:
    from bench.detect_research.legacy import LegacyParams, legacy_batch

    return legacy_batch(t, x, LegacyParams())


DETECTORS: dict[str, Scorer] = {
    "riskmon": _riskmon("both"),
    "riskmon_up": _riskmon("up"),
    "windowed_gaussian": windowed_gaussian,
    "legacy": _legacy,
}


def evaluate(scorer: Scorer, corpus: Sequence[Series]) -> tuple[dict[str, CorpusScore], float, int]:
    """Every profile's result, the scoring time and the number of distinct scores."""
    started = time.perf_counter()
    results = {s.name: np.asarray(scorer(s.t, s.x), dtype=np.float64) for s in corpus}
    seconds = time.perf_counter() - started
    distinct = len(np.unique(np.concatenate(list(results.values()))))
    return {p: score_corpus(results, corpus, PROFILES[p]) for p in PROFILES}, seconds, distinct


def run(
    corpus_dir: Path | None = None,
    detectors: Sequence[str] = ("riskmon", "windowed_gaussian", "legacy"),
    quick: bool = False,
) -> dict[str, Result]:
    """``anomaly_dev``: every detector on the corpus (quick: the 20 shortest series)."""
    root = corpus_dir or default_corpus()
    if not (root / "labels.json").is_file():
        progress(f"anomaly_dev: no corpus at {root}; skipped (set RISKMON_ANOMALY_DEV)")
        return {"anomaly_dev": {"corpus": str(root), "skipped": True, "target": None, "met": None}}
    progress(f"anomaly_dev: reading {root}")
    corpus = load_corpus(root)
    if quick:
        corpus = sorted(corpus, key=lambda s: (len(s.t), s.name))[:20]
    report: dict[str, Any] = {"corpus": str(root), "series": len(corpus)}
    per_series: dict[str, dict[str, Any]] = {}
    for name in detectors:
        progress(f"anomaly_dev: {name}")
        profiles, seconds, distinct = evaluate(DETECTORS[name], corpus)
        report[name] = {
            **{p: r.summary() for p, r in profiles.items()},
            "distinct_scores": distinct,
            "seconds": round(seconds, 2),
        }
        for s, r in profiles["standard"].series.items():
            row = per_series.setdefault(s, {"windows": r.windows})
            score = None if math.isnan(r.normalised) else round(r.normalised, 1)
            row[name] = {"score": score, "detected": r.detected, "fp": r.false_positives}
    report["per_series_standard"] = per_series
    ours, base = report.get("riskmon"), report.get("windowed_gaussian")
    if ours and base and not quick:
        margin = ours["standard"]["score"] - base["standard"]["score"]
        report["margin_over_windowed_gaussian"] = round(margin, 2)
        report["target"] = {"margin_over_windowed_gaussian": 25.0}
        report["met"] = margin >= 25.0
    else:
        report["target"], report["met"] = None, None
    return {"anomaly_dev": report}


def markdown_table(report: Result, detectors: Sequence[str]) -> str:
    """The per-series table of bench/README.md: standard profile, each detector at its own corpus
    threshold; a cell is the normalised score, windows found / counted and false positives (a
    series without counted window shows its false positives only)."""
    lines = [
        "| series | windows | " + " | ".join(detectors) + " |",
        "|---|---:|" + "---:|" * len(detectors),
    ]
    for name, row in sorted(report["per_series_standard"].items()):
        cells = []
        for d in detectors:
            cell = row[d]
            if cell["score"] is None:
                cells.append(f"FP {cell['fp']}")
            else:
                cells.append(f"{cell['score']:.1f} ({cell['detected']}, FP {cell['fp']})")
        lines.append(f"| `{name}` | {row['windows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.anomaly_eval", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=None, help="the corpus folder")
    parser.add_argument(
        "--detector", nargs="+", choices=sorted(DETECTORS), default=None, help="detectors to score"
    )
    parser.add_argument("--quick", action="store_true", help="the 20 shortest series only")
    parser.add_argument("--table", action="store_true", help="also print the markdown table")
    args = parser.parse_args(argv)
    names = args.detector or ["riskmon", "windowed_gaussian", "legacy"]
    results = run(args.corpus, names, args.quick)
    if args.table:
        print(markdown_table(results["anomaly_dev"], names), file=sys.stderr)
    out = {"machine": machine(), "quick": args.quick, "results": results}
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
