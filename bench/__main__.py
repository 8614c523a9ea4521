"""``python -m bench [--quick] [--only NAME ...]``: run benchmarks, print one JSON object on stdout.

Progress goes to stderr. The object is ``{"machine": {...}, "results": {name: {..., "target": ...,
"met": ...}}}``; ``met`` is null where a figure has no target (it is reported for information).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import Result, machine, progress

INDEX_BENCHES = ("indices_incremental", "indices_batch", "indices_memory")
BENCHES = (
    *INDEX_BENCHES,
    "pipeline",
    "api_history",
    "gateway_fanout",
    "gateway_fanout_large",
    "load_latency",
    "gateway_limits",
    "anomaly",
    "scale",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run riskmon's benchmarks and print their figures as one JSON object.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHES,
        metavar="NAME",
        help=f"run only these benchmarks: {', '.join(BENCHES)} (default: all)",
    )
    parser.add_argument(
        "--profile-worker",
        type=Path,
        metavar="FILE",
        help="pipeline, scale: run the (last) worker under cProfile, write its profile to FILE",
    )
    return parser.parse_args(argv)


def run(
    quick: bool = False, only: Sequence[str] | None = None, profile_worker: Path | None = None
) -> dict[str, object]:
    """Run the selected benchmarks and return the report (what ``main`` prints)."""
    selected = set(only) if only else set(BENCHES)
    results: dict[str, Result] = {}
    started = time.perf_counter()
    if selected & set(INDEX_BENCHES):
        from bench import indices_bench

        sizes = indices_bench.QUICK if quick else indices_bench.FULL
        results.update(indices_bench.run(sizes, selected))
    if "pipeline" in selected:
        from bench import pipeline_bench

        results.update(pipeline_bench.run(quick=quick, profile_worker=profile_worker))
    if "api_history" in selected:
        from bench import api_bench

        results.update(api_bench.run(quick=quick))
    if "gateway_fanout" in selected:
        from bench import gateway_bench

        results.update(gateway_bench.run(quick=quick))
    if "gateway_fanout_large" in selected:
        from bench import fanout_bench

        results.update(fanout_bench.run(quick=quick))
    if "load_latency" in selected:
        from bench import load_bench

        results.update(load_bench.run(quick=quick))
    if "gateway_limits" in selected:
        from bench import gateway_limits_bench

        results.update(gateway_limits_bench.run(quick=quick))
    if "anomaly" in selected:
        from bench import anomaly_eval

        results.update(anomaly_eval.run(quick=quick))
    if "scale" in selected:
        from bench import scale_bench

        scale_profile = profile_worker
        if scale_profile is not None and "pipeline" in selected:  # one file each
            scale_profile = scale_profile.with_name(f"scale-{scale_profile.name}")
        results.update(scale_bench.run(quick=quick, profile_worker=scale_profile))
    progress(f"done in {time.perf_counter() - started:.1f} s")
    return {"machine": machine(), "quick": quick, "results": results}


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: child processes are stopped


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = run(quick=args.quick, only=args.only, profile_worker=args.profile_worker)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
