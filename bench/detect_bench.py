"""``python -m bench.detect_bench [--rows N] [--format iso|epoch] [--runs N] [--compare]``.

* ``detect_cli``: writes a CSV of ``rows`` points (default 1,000,000; ISO 8601 times with ``Z``
  or epoch seconds) built from the labelled benchmark series laid end to end, then times
  :func:`streams.cli.detect.run_detect` end to end (parse, detect, write): median of ``runs``
  runs after one untimed warm-up. Target: ≥ 100,000 rows/s and 1M rows in under 10 s. Also
  reported once each: the time of reading, of :func:`indices.detect.detect_batch` and of writing,
  and the incremental path (``DetectorState.update``) per point, for information.
* ``detector_comparison`` (``--compare``, about a minute): every candidate decision rule of
  :mod:`bench.detect_research.candidates` (the *previous* detector's study, kept on
  :mod:`bench.detect_research.legacy`) tuned on the dev set and evaluated on the repo's labelled
  set. Target: precision and recall ≥ 0.9 for its CUSUM. The current detector is measured by
  :mod:`bench.anomaly_eval` (real-world corpus) and :mod:`bench.detect_research.alert_scenarios`
  (the alert engine on the labelled index series).

Prints one JSON object on stdout (``{"machine": ..., "results": {...}}``), progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench import Result, machine, progress
from bench.detect_research.candidates import CHOSEN, GRIDS, compare, tune
from bench.detect_research.evaluation import DEV_SET, REPO_SET, generate
from indices.detect import DetectorParams, DetectorState, detect_batch

__all__ = ["bench_cli", "bench_compare", "main", "make_csv", "run"]

ROWS_TARGET = 100_000.0  # rows per second through run_detect
SECONDS_TARGET = 10.0  # for 1,000,000 rows
INCREMENTAL_POINTS = 200_000


def series(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` points: the dev and repo benchmark series laid end to end (times increasing)."""
    ts: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    total, offset, seeds = 0, 0.0, [*DEV_SET, *REPO_SET]
    while total < rows:
        s = generate(seeds[len(ts) % len(seeds)])
        ts.append(s.t - s.t[0] + offset)
        xs.append(s.x)
        offset = float(ts[-1][-1]) + 30.0
        total += len(s.t)
    t0 = 1_795_000_000.0
    return t0 + np.concatenate(ts)[:rows], np.concatenate(xs)[:rows]


def make_csv(path: Path, rows: int, fmt: str) -> None:
    """Write a ``timestamp,value`` CSV with a header row."""
    t, x = series(rows)
    if fmt == "iso":
        stamps = np.datetime_as_string(
            (t * 1000).astype("int64").astype("datetime64[ms]"), unit="ms", timezone="UTC"
        ).tolist()
    else:
        stamps = [f"{v:.3f}" for v in t.tolist()]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("timestamp,value\n")
        handle.write("".join(f"{s},{v:.4f}\n" for s, v in zip(stamps, x.tolist(), strict=True)))


def bench_cli(rows: int, fmt: str, runs: int) -> Result:
    """Time ``run_detect`` on a fresh ``rows``-row CSV; see the module doc."""
    from streams.cli.detect import read_points, run_detect, write_scores

    with tempfile.TemporaryDirectory(prefix="riskmon-detect-") as tmp:
        source, target = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        progress(f"detect_cli: writing {rows:,} {fmt} rows")
        make_csv(source, rows, fmt)
        timings = []
        for run in range(runs + 1):
            started = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                status = run_detect(source, target, DetectorParams())
            if status != 0:
                raise RuntimeError(f"run_detect exited {status}")
            if run:
                timings.append(time.perf_counter() - started)
        seconds = statistics.median(timings)
        started = time.perf_counter()
        stamps, texts, ts, xs, _ = read_points(source)
        read_s = time.perf_counter() - started
        result = detect_batch(ts, xs, DetectorParams())
        detect_s = time.perf_counter() - started - read_s
        write_scores(target, stamps, texts, result.scores.tolist())
        write_s = time.perf_counter() - started - read_s - detect_s
        out_lines = sum(1 for _ in target.open(encoding="utf-8"))
    per_s = rows / seconds
    return {
        "rows": rows,
        "format": fmt,
        "seconds": round(seconds, 3),
        "seconds_range": [round(min(timings), 3), round(max(timings), 3)],
        "rows_per_s": int(per_s),
        "read_s": round(read_s, 3),
        "detect_batch_s": round(detect_s, 3),
        "write_s": round(write_s, 3),
        "output_rows": out_lines - 1,
        "alarms": int(np.count_nonzero(result.alarms)),
        "incremental_updates_per_s": _incremental_rate(min(rows, INCREMENTAL_POINTS)),
        "target": {"rows_per_s": int(ROWS_TARGET), "seconds_for_1m_rows": SECONDS_TARGET},
        "met": per_s >= ROWS_TARGET and seconds * 1_000_000 / rows <= SECONDS_TARGET,
    }


def _incremental_rate(points: int) -> int:
    t, x = series(points)
    params, state = DetectorParams(), DetectorState()
    pairs = list(zip(t.tolist(), x.tolist(), strict=True))
    started = time.perf_counter()
    for ti, xi in pairs:
        state.update(ti, xi, params)
    return int(points / (time.perf_counter() - started))


def bench_compare() -> Result:
    """Each candidate tuned on the dev set, then evaluated on the repo set."""
    dev = {}
    for name in GRIDS:
        progress(f"detector_comparison: tuning {name} on the dev set")
        best, result = tune(name)
        dev[name] = {"setting": best, **result.summary()}
    progress("detector_comparison: the repo set")
    results = compare(REPO_SET)
    repo = {name: {"setting": CHOSEN[name], **r.summary()} for name, r in results.items()}
    winner = results["cusum"]
    return {
        "dev": dev,
        "repo": repo,
        "chosen_is_tuned": all(dev[name]["setting"] == CHOSEN[name] for name in CHOSEN),
        "target": {"precision": 0.9, "recall": 0.9},
        "met": winner.precision >= 0.9 and winner.recall >= 0.9,
    }


def run(
    quick: bool = False, rows: int | None = None, fmt: str = "iso", runs: int = 3, cmp: bool = False
) -> dict[str, Result]:
    """The selected benchmarks' results by name (``quick``: 20,000 rows, one run)."""
    results: dict[str, Result] = {}
    size = rows or (20_000 if quick else 1_000_000)
    results["detect_cli"] = bench_cli(size, fmt, 1 if quick else runs)
    if cmp:
        results["detector_comparison"] = bench_compare()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detect_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=None, help="CSV rows (default 1,000,000)")
    parser.add_argument("--format", choices=["iso", "epoch"], default="iso")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows: a smoke test")
    parser.add_argument("--compare", action="store_true", help="also the candidate comparison")
    args = parser.parse_args(argv)
    results = run(args.quick, args.rows, args.format, args.runs, args.compare)
    report = {"machine": machine(), "quick": args.quick, "results": results}
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
