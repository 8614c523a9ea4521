"""``riskmon fetch-alerts``: a saved response of Korea's public alert APIs → incidents.

    riskmon fetch-alerts {mois,kma} --file RESPONSE [--check] [--out incidents.jsonl]
                         [--city DIR] [--region "경기도 김포시"]

``mois`` reads a 행정안전부 긴급재난문자 response (safetydata.go.kr DSSP-IF-00247, JSON), ``kma`` a
기상청 기상특보 통보문 response (getWthrWrnMsg, JSON or XML); see :mod:`streams.adapters`. The
incidents are written as JSON lines (to ``--out``, or standard output) for ``riskmon publish``;
a summary and every message that made no incident go to standard error. ``--check`` writes no
incidents and prints what became of each message instead.

The city is ``--city`` (default ``RISKMON_CITY``, else the built-in approximate Gimpo); the
region the texts name it by comes from its district codes and name, or ``--region``.

A KMA 해제 is reported (with the incidents of the same response it ends), not applied: ``riskmon
publish`` sends incidents, and withdrawals travel only on riskmon's internal topics.

Exit status: 0 the response was read (messages that made no incident are reported, not an
error), 1 the response was refused (too big, not JSON/XML, an API error code), 2 usage (no such
file, the city or region cannot be read).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from streams.adapters import AdapterRefused, Conversion, Jurisdiction, convert_kma, convert_mois
from streams.adapters.common import DEFAULT_MAX_BYTES
from streams.city.config import CityConfigError, load_city_config
from streams.settings import Settings

__all__ = ["add_parser", "run_fetch_alerts"]

EXIT_REFUSED = 1
EXIT_USAGE = 2
CONVERTERS: dict[str, Callable[[bytes, Jurisdiction], Conversion]] = {
    "mois": convert_mois,
    "kma": convert_kma,
}


def add_parser(sub: Any) -> None:
    """Add ``riskmon fetch-alerts`` to the ``riskmon`` subcommands."""
    parser = sub.add_parser(
        "fetch-alerts",
        help="convert a saved 재난문자 (mois) or 기상특보 (kma) API response into incidents",
    )
    parser.add_argument("api", choices=sorted(CONVERTERS), help="which API the response is from")
    parser.add_argument("--file", type=Path, required=True, help="the saved response body")
    parser.add_argument(
        "--check", action="store_true", help="report each message's mapping; write no incidents"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON lines (default: stdout)")
    parser.add_argument("--city", type=Path, default=None, help="city folder or city.toml")
    parser.add_argument(
        "--region", default=None, help="how the texts name the city, e.g. '경기도 김포시'"
    )


def _summary(conversion: Conversion) -> str:
    counts = ", ".join(f"{n} {what}" for what, n in sorted(conversion.counts.items()))
    return (
        f"{sum(conversion.counts.values())} message(s): {counts or 'none'}; "
        f"{len(conversion.incidents)} incident(s)"
    )


def run_fetch_alerts(
    args: argparse.Namespace,
    settings: Settings,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        size = args.file.stat().st_size
        if size > DEFAULT_MAX_BYTES:
            print(f"{args.file}: {size} bytes, more than {DEFAULT_MAX_BYTES} allowed", file=err)
            return EXIT_REFUSED
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    try:
        city = load_city_config(args.city or settings.city).city
        place = Jurisdiction.of(city, args.region)
    except (CityConfigError, ValueError) as exc:
        print(f"city: {exc}", file=err)
        return EXIT_USAGE
    try:
        conversion = CONVERTERS[args.api](data, place)
    except AdapterRefused as exc:
        print(f"{args.file}: refused: {exc}", file=err)
        return EXIT_REFUSED
    if args.check:
        for reading in conversion.readings:
            print(f"{args.file}: {reading.where}: {reading.verdict}: {reading.detail}", file=out)
        for lift in conversion.lifts:
            print(
                f"{args.file}: {lift.where}: {lift.warning} 해제 at {lift.at.isoformat()}: "
                f"reported, not applied; ends {', '.join(lift.ends) or 'no incident of this file'}",
                file=out,
            )
        print(_summary(conversion), file=out)
        return 0
    lines = "".join(i.model_dump_json(exclude_none=True) + "\n" for i in conversion.incidents)
    if args.out is None:
        out.write(lines)
    else:
        args.out.write_text(lines, "utf-8")
    for reading in conversion.readings:
        if reading.verdict != "incident":
            print(f"{args.file}: {reading.where}: {reading.verdict}: {reading.detail}", file=err)
    if conversion.lifts:
        print(
            f"{len(conversion.lifts)} 해제 reported, not applied "
            f"({len(conversion.withdrawals)} incident(s) of this file they end)",
            file=err,
        )
    print(_summary(conversion), file=err)
    return 0
