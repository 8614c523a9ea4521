"""``python -m bench.faults [scenario ...] [--short] [--out FILE.json] [--keep]``.

Prints one JSON object on stdout (and writes it to ``--out``): ``{"machine": {...}, "short": ...,
"results": {scenario: {...figures..., "passed": ..., "reason": ...}}, "passed": ...}``. Progress
goes to stderr. Exit status 0 when every scenario passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import Result, machine, progress
from bench.faults import SCENARIOS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description="Run riskmon's fault scenarios on real servers; print their figures as JSON.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"scenarios to run: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--short", action="store_true", help="reduced sizes (a few minutes)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directories (logs) of passed scenarios"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:  # checked here: argparse rejects an empty list against `choices` (nargs="*")
        parser.error(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return args


def run_scenario(name: str, short: bool, base: Path, keep: bool = False) -> Result:
    """Run one scenario in its own work directory; an exception becomes a failed result. The
    directory (process logs) is kept when the scenario fails, when a process exited by itself,
    or when ``keep`` is set."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    started = time.perf_counter()
    progress(f"faults: {name} ({'short' if short else 'full'}) in {workdir}")
    module = importlib.import_module(SCENARIOS[name])
    try:
        result: Result = module.run(short, workdir)
    except (Exception, asyncio.CancelledError) as exc:
        result = {
            "passed": False,
            "reason": f"the scenario itself failed: {exc!r}",
            "traceback": traceback.format_exc()[-3000:],
            "duration_s": round(time.perf_counter() - started, 1),
        }
    if result.get("passed") and not result.get("restarts_by_supervisor") and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        result["workdir"] = str(workdir)
    progress(
        f"faults: {name} {'passed' if result.get('passed') else 'FAILED'} in "
        f"{time.perf_counter() - started:.0f} s: {str(result.get('reason'))[:300]}"
    )
    return result


def run(
    names: Sequence[str], short: bool, workdir: Path | None = None, keep: bool = False
) -> dict[str, object]:
    base = workdir or Path(tempfile.mkdtemp(prefix="riskmon-faults-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {name: run_scenario(name, short, base, keep) for name in names or SCENARIOS}
    return {
        "machine": machine(),
        "short": short,
        "duration_s": round(time.perf_counter() - started, 1),
        "passed": all(r.get("passed") for r in results.values()),
        "results": results,
    }


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: child processes are stopped


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = run(args.scenarios, args.short, keep=args.keep)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", "utf-8")
    sys.stdout.write(text + "\n")
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
