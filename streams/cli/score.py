"""``riskmon score``: print every district's scores computed offline from a JSON-lines file."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from indices import relative_grades
from streams.city.config import CityConfigError, load_city_config
from streams.pipeline.offline import OfflineResult, score_lines


def run_score(events: Path, at: datetime, config_path: Path | None, *, as_json: bool) -> int:
    """Score ``events`` at ``at``; returns the exit status (0 ok, 2 unusable input files)."""
    try:
        config = load_city_config(config_path)
        with events.open("rb") as lines:
            result = score_lines(lines, config, at)
    except (CityConfigError, OSError) as exc:
        print(f"riskmon score: {exc}", file=sys.stderr)
        return 2
    for number, letter in result.rejected:
        print(f"{events}:{number}: skipped ({letter.error}): {letter.reason}", file=sys.stderr)
    if as_json:
        print(json.dumps(as_document(result, at, config.source), ensure_ascii=False, indent=1))
    else:
        print(as_table(result))
    return 0


def as_document(result: OfflineResult, at: datetime, source: str) -> dict[str, object]:
    composites = {d.district: d.composite.value for d in result.districts}
    safety = {d.district: d.safety for d in result.districts}
    return {
        "as_of": at.isoformat(),
        "config": source,
        "counts": dict(sorted(result.counts.items())),
        "rejected": [{"line": n, "error": d.error, "reason": d.reason} for n, d in result.rejected],
        "districts": [d.model_dump(mode="json") for d in result.districts],
        "city_internal_grades": {
            "note": "rank among this city's districts in shares 10/25/30/25/10 %, as the "
            "Regional Safety Index grades local governments; a city-internal measure, "
            "not the national index",
            "composite": relative_grades(composites),
            "safety": relative_grades(safety, higher_is_worse=False),
        },
    }


def as_table(result: OfflineResult) -> str:
    domains = list(result.districts[0].domains) if result.districts else []
    header = f"{'district':<11}{'name':<8}{'risk':>6}{'g':>3}{'safety':>8}" + "".join(
        f"{name[:9]:>10}" for name in domains
    )
    rows = [header]
    for d in result.districts:
        rows.append(
            f"{d.district:<11}{d.name:<8}{d.composite.value:>6.2f}{d.composite.grade:>3}"
            f"{d.safety:>8.2f}" + "".join(f"{d.domains[n].risk:>10.2f}" for n in domains)
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    rows.append(f"events: {counts or 'none'}")
    return "\n".join(rows)
