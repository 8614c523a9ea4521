"""``riskmon detect``: score a ``timestamp,value`` CSV with the worker's spike detector, offline.

Input: one point per row, ``timestamp,value``. The timestamp is ISO 8601 (a time without offset is
read as UTC) or epoch seconds; the value a finite number. A first row that is neither (e.g.
``timestamp,value``) is a header and skipped; blank rows are skipped. Rows should be in time order
(equal times are allowed); a row whose time steps back (a clock glitch) is scored at the newest time
seen and counted in the summary, or refused with ``out_of_order="fail"``. Output:
``timestamp,value,anomaly_score``, a header row and then every input row with its timestamp and
value text as read and the score to 6 decimals. Scores come from
:func:`indices.detect.detect_batch`, which equals the worker's :class:`indices.detect.DetectorState`
bit for bit; ``direction`` (``up``, ``down``, default ``both``) says which deviations count. A bad
row stops everything before any output is written: the message names its line and the exit status
is 2. Long files report progress on stderr.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indices.detect import DIRECTIONS, DetectorParams, Direction, detect_batch
from streams.errors import RiskmonError

__all__ = [
    "OUT_OF_ORDER",
    "BadInput",
    "add_arguments",
    "parse_time",
    "read_points",
    "run_detect",
    "run_from_args",
    "write_scores",
]

HEADER = "timestamp,value,anomaly_score\n"
OUT_OF_ORDER = ("score", "fail")  # what a time that steps back gets
PROGRESS_ROWS = 250_000  # a progress line on stderr every this many rows read


class BadInput(RiskmonError, ValueError):
    """An input row the detector cannot use; ``line`` is its 1-based line number in the file."""

    retriable = False

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--direction`` and ``--out-of-order`` for the ``riskmon detect`` parser."""
    parser.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default="both",
        help="which deviations count: rises, drops or both (default both)",
    )
    parser.add_argument(
        "--out-of-order",
        dest="out_of_order",
        choices=OUT_OF_ORDER,
        default="score",
        help="a time that steps back: score it at the newest time seen (default) or fail",
    )


def run_from_args(args: argparse.Namespace) -> int:
    """``riskmon detect`` from parsed arguments: ``--input``, ``--output`` and
    :func:`add_arguments`'s (absent ones take their defaults)."""
    return run_detect(
        args.input,
        args.output,
        direction=getattr(args, "direction", "both"),
        out_of_order=getattr(args, "out_of_order", "score"),
    )


def run_detect(
    input: Path,
    output: Path,
    params: DetectorParams | None = None,
    *,
    direction: Direction | None = None,
    out_of_order: str = "score",
) -> int:
    """Score ``input`` into ``output``; returns the exit status (0 ok, 2 unusable input).

    ``direction`` overrides ``params.direction``; ``out_of_order`` is ``"score"`` (a time that
    steps back is scored at the newest time seen and counted) or ``"fail"`` (it is a bad row).
    Problems are reported on stderr as ``riskmon detect: FILE:LINE: reason``; progress on long
    files and a one-line summary (rows, alarms, times that stepped back) go to stderr too, so
    stdout stays free.
    """
    params = params or DetectorParams()
    if direction is not None and direction != params.direction:
        params = replace(params, direction=direction)
    started = time.perf_counter()
    try:
        stamps, values, ts, xs, back = read_points(input, out_of_order=out_of_order, report=True)
    except BadInput as exc:
        print(f"riskmon detect: {input}:{exc.line}: {exc.reason}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"riskmon detect: {input}: {exc}", file=sys.stderr)
        return 2
    long = len(stamps) >= PROGRESS_ROWS
    if long:
        _progress(f"read {len(stamps):,} rows; scoring", started)
    result = detect_batch(ts, xs, params)
    if long:
        _progress(f"scored; writing {output}", started)
    try:
        write_scores(output, stamps, values, result.scores.tolist())
    except OSError as exc:
        print(f"riskmon detect: {output}: {exc}", file=sys.stderr)
        return 2
    alarms = int(np.count_nonzero(result.alarms))
    summary = f"riskmon detect: {len(stamps)} rows, {alarms} alarms ({params.direction})"
    if back:
        summary += f", {back} times stepped back (scored at the newest time seen)"
    print(f"{summary} -> {output}", file=sys.stderr)
    return 0


def _progress(message: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"riskmon detect: {message} ({elapsed:.1f} s)", file=sys.stderr, flush=True)


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 time (naive = UTC) or of an epoch-seconds number.

    >>> parse_time("2026-11-24T12:00:00Z"), parse_time("2026-11-24 21:00:00+09:00")
    (1795521600.0, 1795521600.0)
    >>> parse_time("2026-11-24T12:00:00"), parse_time("1795521600.5")
    (1795521600.0, 1795521600.5)
    """
    try:
        return _epoch(text)
    except ValueError:
        return _iso(text)


def _epoch(text: str) -> float:
    t = float(text)
    if not math.isfinite(t):
        raise ValueError(f"not a finite time: {text!r}")
    return t


def _iso(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_points(
    path: Path, *, out_of_order: str = "score", report: bool = False
) -> tuple[list[str], list[str], list[float], list[float], int]:
    """Timestamp texts, value texts, times (epoch s), values of every data row of ``path``, and
    how many times stepped back (each is kept as read: the detector scores it at the newest time
    seen). With ``out_of_order="fail"`` the first such row is a :class:`BadInput`; ``report``
    prints a progress line on stderr every :data:`PROGRESS_ROWS` rows.

    Raises :class:`BadInput` for the first unusable row.
    """
    if out_of_order not in OUT_OF_ORDER:
        raise ValueError(f"out_of_order: one of {OUT_OF_ORDER}, got {out_of_order!r}")
    started = time.perf_counter()
    back = 0
    stamps: list[str] = []
    texts: list[str] = []
    ts: list[float] = []
    xs: list[float] = []
    parse: Callable[[str], float] | None = None  # the first row's format; others may differ
    first = True
    previous = -math.inf
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        for row in reader:
            if len(row) != 2:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raise BadInput(
                    reader.line_num, f"expected 2 fields (timestamp,value), got {len(row)}"
                )
            stamp, text = row[0].strip(), row[1].strip()
            if first:
                first = False
                if _is_header(stamp, text):
                    continue
            if parse is None:
                parse = _format_of(stamp)
            try:
                t = parse(stamp)
            except ValueError:
                t = _time(stamp, reader.line_num)
            x = _value(text, reader.line_num)
            if t < previous:
                if out_of_order == "fail":
                    raise BadInput(reader.line_num, f"time {stamp} is earlier than a row before")
                back += 1
            else:
                previous = t
            stamps.append(stamp)
            texts.append(text)
            ts.append(t)
            xs.append(x)
            if report and len(stamps) % PROGRESS_ROWS == 0:
                _progress(f"{path}: {len(stamps):,} rows read", started)
    return stamps, texts, ts, xs, back


def _is_header(stamp: str, text: str) -> bool:
    """A row whose cells are neither a time nor a number (e.g. ``timestamp,value``)."""
    try:
        parse_time(stamp)
        return False
    except ValueError:
        pass
    try:
        float(text)
    except ValueError:
        return True
    return False


def _format_of(stamp: str) -> Callable[[str], float]:
    """The parser that reads ``stamp``: epoch seconds if it is a number, else ISO 8601."""
    try:
        _epoch(stamp)
    except ValueError:
        return _iso
    return _epoch


def _time(stamp: str, line: int) -> float:
    try:
        return parse_time(stamp)
    except ValueError:
        raise BadInput(line, f"not a time (ISO 8601 or epoch seconds): {stamp!r}") from None


def _value(text: str, line: int) -> float:
    try:
        x = float(text)
    except ValueError:
        raise BadInput(line, f"not a number: {text!r}") from None
    if not math.isfinite(x):
        raise BadInput(line, f"not a finite number: {text!r}")
    return x


def write_scores(path: Path, stamps: list[str], values: list[str], scores: list[float]) -> None:
    """Write the header and one ``timestamp,value,anomaly_score`` row per point."""
    rows = [f"{s},{v},{score:.6f}\n" for s, v, score in zip(stamps, values, scores, strict=True)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        handle.write("".join(rows))
