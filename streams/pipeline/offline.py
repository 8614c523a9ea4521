"""Offline scoring (``riskmon score``): JSON lines of wire messages -> every district at one time.

The same steps as the worker: each line goes through :func:`streams.pipeline.ingest.ingest`
(validation, placement; a line the worker would dead-letter is reported with its reason) and is
applied to its district's :class:`indices.DistrictState`; every district is then evaluated at
``at``. Lines may be inputs (Incident, SensorReading, SafetyFact) or located events as found on
``riskmon.located``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from indices import DistrictState
from streams.city.config import CityConfig
from streams.contract import DeadLetter, DistrictScores, LocatedEvent
from streams.contract.deadletters import RawRecord, dead_letter
from streams.pipeline.ingest import Kind, ingest
from streams.pipeline.scoring import build_scores, to_model_event


@dataclass
class OfflineResult:
    """Scores of every district, what was rejected (line number, dead letter) and outcome counts."""

    districts: list[DistrictScores]
    rejected: list[tuple[int, DeadLetter]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def infer_kind(data: object) -> Kind | None:
    """Which input a JSON object is: a safety fact has ``fact``, a reading ``sensor_id``."""
    if not isinstance(data, dict):
        return None
    if "fact" in data:
        return "safety"
    if "sensor_id" in data:
        return "reading"
    return "incident"


def locate_line(
    number: int, line: bytes, config: CityConfig, received_at: datetime
) -> LocatedEvent | DeadLetter:
    """A line as the worker would see it: validated and placed, or a dead letter saying why."""
    raw = RawRecord("file", 0, number, None, line)
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if isinstance(data, dict) and "district" in data and "received_at" in data:
        try:
            located = LocatedEvent.model_validate(data)
        except ValueError as exc:
            return dead_letter(raw, "schema", f"invalid located event: {exc}", received_at)
        if located.district not in config.city.districts:
            reason = (
                f"located event of district {located.district}, which is not a district of "
                f"{config.city.name} (another city's configuration?)"
            )
            return dead_letter(raw, "unknown_district", reason, received_at)
        return located
    kind = infer_kind(data) or "incident"
    return ingest(raw, kind, config.city, config.params, received_at)


def score_lines(lines: Iterable[bytes], config: CityConfig, at: datetime) -> OfflineResult:
    """Apply every line in order and evaluate every district at ``at``."""
    states = {code: DistrictState.new() for code in config.city.codes}
    rejected: list[tuple[int, DeadLetter]] = []
    counts: Counter[str] = Counter()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        located = locate_line(number, line, config, at)
        if isinstance(located, DeadLetter):
            rejected.append((number, located))
            counts["rejected"] += 1
            continue
        counts[states[located.district].apply(to_model_event(located.event), config.params)] += 1
    districts = config.city.model_districts()
    scores = [
        build_scores(districts[code], states[code], config.params, at) for code in config.city.codes
    ]
    return OfflineResult(scores, rejected, counts)
