"""The history API's route table: every route, its parameters and their descriptions.

One table serves the parser (:mod:`dashboard_ws.api.params`) and the OpenAPI document
(:mod:`dashboard_ws.api.openapi`), so the documentation cannot drift from what is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from indices.taxonomy import INCIDENT_TYPES, SENSOR_KINDS
from streams.contract import COMPLAINT_CATEGORIES, WHATIF_CHANGES, DeadLetterError
from streams.persistence import pages

DEFAULT_RANGE = timedelta(hours=24)
DEFAULT_STEP = timedelta(minutes=1)
MIN_STEP = timedelta(seconds=1)
MAX_POINTS = 10_000
MAX_RANGE = timedelta(days=400)
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
ALERT_STATES = ("pending", "firing", "acknowledged", "resolved")
EVENT_KINDS = ("incident", "reading", "safety", "withdrawal")
FORMATS = ("json", "csv")
EVENT_TYPES: tuple[str, ...] = (*INCIDENT_TYPES, *SENSOR_KINDS, "facility", "inspection")
DEAD_LETTER_ERRORS: tuple[str, ...] = get_args(DeadLetterError)
COMPLAINT_CATEGORY_NAMES: tuple[str, ...] = tuple(COMPLAINT_CATEGORIES)
TOPIC_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
SERIES_PATTERN = re.compile(r"^[A-Za-z0-9._:/@+-]{1,100}$")
DURATION = re.compile(r"^(\d{1,9})(s|m|h|d)?$", re.ASCII)
DIGITS = re.compile(r"^\d{1,6}$", re.ASCII)
OFFSET_AFTER_SPACE = re.compile(r" (\d\d:\d\d)$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WHATIF_MAX_COUNT = 100  # facilities per district one what-if may add
WHATIF_RANK_BY = ("risk", "safety")
INSPECTION_GRADES = ("A", "B", "C", "D", "E")
STRUCTURE_PATTERN = re.compile(r"^[^\x00-\x1f]{1,128}$")


@dataclass(frozen=True)
class Param:
    """A query (or path) parameter of a route, as documented in the OpenAPI document."""

    name: str
    description: str
    schema: dict[str, Any]
    example: str
    in_path: bool = False


@dataclass(frozen=True)
class Route:
    """One route: its OpenAPI path, what it answers (a name in ``streams.contract.SCHEMAS``)
    and its parameters. The parser accepts exactly these parameters."""

    path: str
    summary: str
    params: tuple[Param, ...]
    answer: str
    statuses: tuple[int, ...] = (200, 400, 503)
    csv: bool = False  # also answers text/csv with format=csv

    @property
    def query(self) -> set[str]:
        return {p.name for p in self.params if not p.in_path}


TIME = {"type": "string", "format": "date-time"}
_FROM = "start of the range (RFC 3339 with an offset)"
_TO = "end of the range, exclusive (RFC 3339 with an offset; default now)"
_LIMIT = Param(
    "limit",
    f"rows per page (default {DEFAULT_LIMIT})",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "100",
)
_EXAMPLE_TIME = datetime.fromisoformat("2026-11-25T05:00:00+00:00")


def _after_param(shape: pages.KeyShape, key: pages.Key) -> Param:
    return Param(
        "after",
        "the previous page's `next` cursor, to get the page after it",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        pages.encode(shape, key),
    )


_SERIES = Param(
    "series",
    "`live` (default) or a replay's series name (`replay:V`)",
    {"type": "string", "pattern": SERIES_PATTERN.pattern},
    "live",
)
_FORMAT = Param(
    "format",
    "`json` (default) or `csv` (one table; the next page's cursor in the `X-Riskmon-Next` header)",
    {"enum": list(FORMATS)},
    "csv",
)
_DISTRICT = Param(
    "district",
    "a district's 10-digit code",
    {"type": "string", "pattern": r"^\d{10}$"},
    "4157056000",
)

ROUTES: dict[str, Route] = {
    "history": Route(
        "/api/districts/{code}/history",
        "One district's series, downsampled to steps",
        (
            Param("code", "the district's 10-digit code", {"type": "string"}, "4157056000", True),
            Param(
                "domain",
                "`composite` (default), `safety`, a domain or `group:<name>`",
                {"type": "string"},
                "fire",
            ),
            Param("from", f"{_FROM}; default `to` minus 24 h", TIME, "2026-11-25T00:00:00+09:00"),
            Param("to", _TO, TIME, "2026-11-25T12:00:00+09:00"),
            Param(
                "step",
                f"step width: seconds or 30s, 5m, 1h, 1d (default 1m; at most {MAX_POINTS} steps)",
                {"type": "string", "pattern": DURATION.pattern},
                "5m",
            ),
            _SERIES,
            _FORMAT,
        ),
        "api-history",
        (200, 400, 404, 503),
        csv=True,
    ),
    "scores": Route(
        "/api/scores",
        "Every district as it was at one moment (time travel)",
        (Param("at", "the moment (default now)", TIME, "2026-11-25T14:05:00+09:00"), _SERIES),
        "api-scores-at",
    ),
    "alerts": Route(
        "/api/alerts",
        "Alerts opened in a range, in their latest state, newest first (paged)",
        (
            Param("state", "only alerts in this state", {"enum": list(ALERT_STATES)}, "firing"),
            Param("from", f"{_FROM}; default `to` minus 7 days", TIME, "2026-11-20T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T00:00:00Z"),
            _DISTRICT,
            _LIMIT,
            _after_param(pages.ALERT_KEY, (_EXAMPLE_TIME, "4157056000:fire:spike:1")),
        ),
        "api-alerts",
    ),
    "alert": Route(
        "/api/alerts/{id}",
        "Every message of one alert's lifecycle",
        (Param("id", "the alert's id", {"type": "string"}, "4157056000:fire:spike:1", True),),
        "api-alert-history",
        (200, 404, 503),
    ),
    "events": Route(
        "/api/events",
        "Validated events that occurred in a range, oldest first (paged)",
        (
            _DISTRICT,
            Param("kind", "only events of this kind", {"enum": list(EVENT_KINDS)}, "incident"),
            Param(
                "type",
                "only this incident type, sensor kind, or safety fact (`facility`, `inspection`)",
                {"enum": list(EVENT_TYPES)},
                "fire",
            ),
            Param(
                "source",
                "only events of this agency (the messages' `source`)",
                {"type": "string", "minLength": 1, "maxLength": 128},
                "gimpo-fire",
            ),
            Param("from", f"{_FROM}; default `to` minus 24 h", TIME, "2026-11-25T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T06:00:00Z"),
            _LIMIT,
            _after_param(pages.EVENT_KEY, (_EXAMPLE_TIME, 1, "incident", "gimpo-fire", "F-1")),
            _FORMAT,
        ),
        "api-events",
        csv=True,
    ),
    "city": Route(
        "/api/city",
        "The city the map draws: districts' shapes, names and populations, time zone, base map",
        (),
        "api-city",
        (200,),
    ),
    "heat": Route(
        "/api/heat",
        "Incidents per H3 cell in a range: the heat layer (resolution 7 below analyst, 9 above)",
        (
            Param("type", "only this incident type", {"enum": list(INCIDENT_TYPES)}, "fire"),
            Param("from", f"{_FROM}; default `to` minus 24 h", TIME, "2026-11-25T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T06:00:00Z"),
        ),
        "api-heat",
    ),
    "stats": Route(
        "/api/stats",
        "Incidents per district by type in a range: the statistics map",
        (
            Param("type", "only this incident type", {"enum": list(INCIDENT_TYPES)}, "assault"),
            Param("from", f"{_FROM}; default `to` minus 30 days", TIME, "2026-11-01T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T00:00:00Z"),
            Param(
                "format",
                "`json` (default) or `csv` (one row per district, a column per type)",
                {"enum": list(FORMATS)},
                "csv",
            ),
        ),
        "api-stats",
        csv=True,
    ),
    "complaint-stats": Route(
        "/api/complaints/stats",
        "Civil complaints per district by category, received in a range (counts only)",
        (
            Param(
                "category", "only this category", {"enum": list(COMPLAINT_CATEGORY_NAMES)}, "noise"
            ),
            Param("from", f"{_FROM}; default `to` minus 30 days", TIME, "2026-11-01T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T00:00:00Z"),
            Param(
                "format",
                "`json` (default) or `csv` (one row per district, a column per category)",
                {"enum": list(FORMATS)},
                "csv",
            ),
        ),
        "api-complaint-stats",
        csv=True,
    ),
    "complaint-cells": Route(
        "/api/complaints/cells",
        "Civil complaints per H3 cell, received in a range: the complaints heat layer "
        "(resolution 7 below analyst, 9 above)",
        (
            Param(
                "category",
                "only this category",
                {"enum": list(COMPLAINT_CATEGORY_NAMES)},
                "road_damage",
            ),
            Param("from", f"{_FROM}; default `to` minus 30 days", TIME, "2026-11-01T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T00:00:00Z"),
        ),
        "api-complaint-cells",
    ),
    "whatif": Route(
        "/api/whatif",
        "What if (policy map): the predicted change of every district's indices after adding "
        "facilities or re-inspecting a structure, ranked by risk reduction per item (analyst)",
        (
            Param(
                "change",
                "a facility kind to add, or `inspection` (re-inspect `structure`)",
                {"enum": list(WHATIF_CHANGES)},
                "inspection",
            ),
            Param(
                "count",
                f"facilities added in each district (default 1, at most {WHATIF_MAX_COUNT})",
                {"type": "integer", "minimum": 1, "maximum": WHATIF_MAX_COUNT},
                "1",
            ),
            _DISTRICT,
            Param(
                "structure",
                "with `change=inspection`: the structure's id",
                {"type": "string", "pattern": STRUCTURE_PATTERN.pattern},
                "s7-structure-4157056000-0001",
            ),
            Param(
                "grade",
                "with `change=inspection`: the grade found (default B)",
                {"enum": list(INSPECTION_GRADES)},
                "B",
            ),
            Param(
                "by",
                "rank by `risk` reduction (default) or `safety` gain per item",
                {"enum": list(WHATIF_RANK_BY)},
                "risk",
            ),
            Param(
                "format",
                "`json` (default) or `csv` (one row per district, in rank order)",
                {"enum": list(FORMATS)},
                "json",
            ),
        ),
        "api-whatif",
        (200, 400, 403, 404, 503),
        csv=True,
    ),
    "dead-letters": Route(
        "/api/dead-letters",
        "Rejected inputs with their reason and original bytes, newest first (paged)",
        (
            Param("error", "only this error class", {"enum": list(DEAD_LETTER_ERRORS)}, "schema"),
            Param(
                "topic",
                "only inputs read from this topic",
                {"type": "string", "pattern": TOPIC_PATTERN.pattern},
                "riskmon.incidents",
            ),
            Param("from", f"{_FROM}; default `to` minus 7 days", TIME, "2026-11-20T00:00:00Z"),
            Param("to", _TO, TIME, "2026-11-25T00:00:00Z"),
            _LIMIT,
            _after_param(pages.DEAD_LETTER_KEY, (_EXAMPLE_TIME, 1, "riskmon.incidents", 0, 41)),
        ),
        "api-dead-letters",
    ),
}
