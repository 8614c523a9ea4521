"""The history API's requests, parsed and checked (pure: no I/O, the clock is an argument).

:func:`parse_request` turns a path and query string into one typed request, or an
:class:`ApiProblem` that names the parameter at fault and what is accepted (answered as 4xx).

Routes::

    GET /api/districts/{code}/history?domain=&from=&to=&step=&series=
    GET /api/scores?at=&series=
    GET /api/alerts?state=&from=&to=&district=&limit=&after=
    GET /api/alerts/{id}
    GET /api/events?district=&kind=&from=&to=&limit=&after=
    GET /api/dead-letters?error=&topic=&from=&to=&limit=&after=
    GET /api/openapi.json   (this list as an OpenAPI 3.1 document, :mod:`dashboard_ws.api.openapi`)

List routes answer at most ``limit`` rows and, when more match, a ``next`` cursor to pass back
as ``after`` with the same other parameters (:mod:`streams.persistence.pages`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, unquote

from dashboard_ws.api.routes import (
    ALERT_STATES,
    COMPLAINT_CATEGORY_NAMES,
    DEAD_LETTER_ERRORS,
    DEFAULT_LIMIT,
    DEFAULT_RANGE,
    DEFAULT_STEP,
    DIGITS,
    DURATION,
    EVENT_KINDS,
    EVENT_TYPES,
    FORMATS,
    INSPECTION_GRADES,
    MAX_LIMIT,
    MAX_POINTS,
    MAX_RANGE,
    MIN_STEP,
    OFFSET_AFTER_SPACE,
    ROUTES,
    SERIES_PATTERN,
    STRUCTURE_PATTERN,
    TOPIC_PATTERN,
    UNIT_S,
    WHATIF_MAX_COUNT,
    WHATIF_RANK_BY,
)
from indices.taxonomy import INCIDENT_TYPES
from streams.contract import EARLIEST_YEAR, LATEST_YEAR, WHATIF_CHANGES, ApiError
from streams.errors import RiskmonError
from streams.persistence import pages


@dataclass(frozen=True)
class ApiProblem:
    status: int
    error: ApiError


@dataclass(frozen=True)
class HistoryRequest:
    district: str
    domain: str
    series: str
    start: datetime
    end: datetime
    step: timedelta
    format: str = "json"


@dataclass(frozen=True)
class ScoresAtRequest:
    at: datetime
    series: str


@dataclass(frozen=True)
class AlertsRequest:
    start: datetime
    end: datetime
    state: str | None
    district: str | None
    limit: int
    after: pages.Key | None = None


@dataclass(frozen=True)
class AlertHistoryRequest:
    alert_id: str


@dataclass(frozen=True)
class EventsRequest:
    start: datetime
    end: datetime
    district: str | None
    kind: str | None
    limit: int
    after: pages.Key | None = None
    type: str | None = None
    source: str | None = None
    format: str = "json"


@dataclass(frozen=True)
class DeadLettersRequest:
    start: datetime
    end: datetime
    error: str | None
    topic: str | None
    limit: int
    after: pages.Key | None = None


@dataclass(frozen=True)
class CityRequest:
    pass


@dataclass(frozen=True)
class HeatRequest:
    start: datetime
    end: datetime
    type: str | None = None


@dataclass(frozen=True)
class StatsRequest:
    start: datetime
    end: datetime
    type: str | None = None
    format: str = "json"


@dataclass(frozen=True)
class ComplaintsRequest:
    """``/api/complaints/stats`` (``what="stats"``) or ``/api/complaints/cells``."""

    what: str
    start: datetime
    end: datetime
    category: str | None = None
    format: str = "json"


@dataclass(frozen=True)
class WhatIfRequest:
    """``/api/whatif``: a facility kind and a count, or ``inspection`` of one structure."""

    change: str
    count: int = 1
    district: str | None = None
    structure: str | None = None
    grade: str | None = None
    by: str = "risk"
    format: str = "json"


ApiRequest = (
    HistoryRequest
    | ScoresAtRequest
    | AlertsRequest
    | AlertHistoryRequest
    | EventsRequest
    | DeadLettersRequest
    | CityRequest
    | HeatRequest
    | StatsRequest
    | ComplaintsRequest
    | WhatIfRequest
)


class _Bad(RiskmonError):
    """A request parameter (or the path) that cannot be answered: an HTTP 4xx, never retried."""

    retriable = False

    def __init__(self, parameter: str | None, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail
        self.status = status


def problem(status: int, error: str, detail: str, parameter: str | None = None) -> ApiProblem:
    return ApiProblem(
        status, ApiError.model_validate({"error": error, "detail": detail, "parameter": parameter})
    )


def parse_request(
    path: str,
    query: str,
    *,
    now: datetime,
    districts: Collection[str],
    domains: Collection[str],
) -> ApiRequest | ApiProblem:
    """The request ``path?query`` asks for, or the problem with it.

    ``districts`` are the city's district codes, ``domains`` the series names a district has
    (``composite``, ``safety``, each domain, ``group:<name>``).
    """
    try:
        params = _params(query)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if any("\x00" in part for part in parts):
            raise _Bad(None, "the path contains the NUL character (%00)")
        if parts[:2] == ["api", "districts"] and len(parts) == 4 and parts[3] == "history":
            return _history(parts[2], params, now, districts, domains)
        if parts == ["api", "scores"]:
            _only(params, ROUTES["scores"].query)
            at = _time(params, "at", now)
            return ScoresAtRequest(at=at, series=_series(params))
        if parts == ["api", "alerts"]:
            _only(params, ROUTES["alerts"].query)
            start, end = _range(params, now, timedelta(days=7))
            state = _choice(params, "state", ALERT_STATES)
            district = _district(params, districts)
            after = _after(params, pages.ALERT_KEY)
            return AlertsRequest(start, end, state, district, _limit(params), after)
        if parts[:2] == ["api", "alerts"] and len(parts) == 3 and parts[2]:
            _only(params, ROUTES["alert"].query)
            return AlertHistoryRequest(parts[2])
        if parts == ["api", "events"]:
            _only(params, ROUTES["events"].query)
            start, end = _range(params, now, DEFAULT_RANGE)
            kind = _choice(params, "kind", EVENT_KINDS)
            district = _district(params, districts)
            after = _after(params, pages.EVENT_KEY)
            type_ = _choice(params, "type", EVENT_TYPES)
            source = _source(params)
            form = _choice(params, "format", FORMATS) or "json"
            return EventsRequest(
                start, end, district, kind, _limit(params), after, type_, source, form
            )
        if parts == ["api", "city"]:
            _only(params, ROUTES["city"].query)
            return CityRequest()
        if parts == ["api", "heat"]:
            _only(params, ROUTES["heat"].query)
            start, end = _range(params, now, DEFAULT_RANGE)
            return HeatRequest(start, end, _choice(params, "type", tuple(INCIDENT_TYPES)))
        if parts == ["api", "stats"]:
            _only(params, ROUTES["stats"].query)
            start, end = _range(params, now, timedelta(days=30))
            form = _choice(params, "format", FORMATS) or "json"
            return StatsRequest(start, end, _choice(params, "type", tuple(INCIDENT_TYPES)), form)
        if parts in (["api", "complaints", "stats"], ["api", "complaints", "cells"]):
            _only(params, ROUTES["complaint-" + parts[2]].query)
            start, end = _range(params, now, timedelta(days=30))
            category = _choice(params, "category", COMPLAINT_CATEGORY_NAMES)
            form = _choice(params, "format", FORMATS) or "json"
            return ComplaintsRequest(parts[2], start, end, category, form)
        if parts == ["api", "whatif"]:
            _only(params, ROUTES["whatif"].query)
            return _whatif(params, districts)
        if parts == ["api", "dead-letters"]:
            _only(params, ROUTES["dead-letters"].query)
            start, end = _range(params, now, timedelta(days=7))
            error = _choice(params, "error", DEAD_LETTER_ERRORS)
            topic = _topic(params)
            after = _after(params, pages.DEAD_LETTER_KEY)
            return DeadLettersRequest(start, end, error, topic, _limit(params), after)
    except _Bad as bad:
        error = "not_found" if bad.status == 404 else "bad_parameter"
        return problem(bad.status, error, bad.detail, bad.parameter)
    return problem(
        404,
        "not_found",
        "no such API route; try /api/districts/{code}/history, /api/scores, /api/alerts, "
        "/api/alerts/{id}, /api/events, /api/dead-letters, /api/city, /api/heat, /api/stats "
        "or /api/complaints/stats|cells "
        "(all in /api/openapi.json)",
    )


def _history(
    code: str,
    params: dict[str, str],
    now: datetime,
    districts: Collection[str],
    domains: Collection[str],
) -> HistoryRequest:
    if code not in districts:
        raise _Bad(
            None, f"unknown district {code!r}; districts are 10-digit codes of the city", status=404
        )
    _only(params, ROUTES["history"].query)
    domain = params.get("domain", "composite")
    if domain not in domains:
        raise _Bad("domain", f"unknown domain {domain!r}; one of: {', '.join(sorted(domains))}")
    start, end = _range(params, now, DEFAULT_RANGE)
    step = _duration(params, "step", DEFAULT_STEP)
    if (end - start) / step > MAX_POINTS:
        raise _Bad(
            "step",
            f"{(end - start) // step} steps asked; at most {MAX_POINTS}: widen step or narrow "
            "from/to",
        )
    form = _choice(params, "format", FORMATS) or "json"
    return HistoryRequest(code, domain, _series(params), start, end, step, form)


def _whatif(params: dict[str, str], districts: Collection[str]) -> WhatIfRequest:
    change = _choice(params, "change", WHATIF_CHANGES)
    if change is None:
        raise _Bad("change", f"change is required; one of: {', '.join(WHATIF_CHANGES)}")
    text = params.get("count", "1")
    if not DIGITS.match(text) or not 1 <= int(text) <= WHATIF_MAX_COUNT:
        raise _Bad("count", f"count={text!r}: a whole number from 1 to {WHATIF_MAX_COUNT}")
    structure = params.get("structure")
    grade = _choice(params, "grade", INSPECTION_GRADES)
    if change == "inspection":
        if structure is None or not STRUCTURE_PATTERN.match(structure):
            raise _Bad("structure", "change=inspection needs structure=<id> (1-128 characters)")
        if int(text) != 1:
            raise _Bad("count", "an inspection re-grades one structure: count=1")
    elif structure is not None or grade is not None:
        name = "structure" if structure is not None else "grade"
        raise _Bad(name, f"{name} goes with change=inspection only")
    by = _choice(params, "by", WHATIF_RANK_BY) or "risk"
    form = _choice(params, "format", FORMATS) or "json"
    district = _district(params, districts)
    return WhatIfRequest(change, int(text), district, structure, grade, by, form)


def _params(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise _Bad(None, f"unreadable query string: {exc}") from exc
    params = {}
    for name, values in parsed.items():
        if "\x00" in name or "\x00" in values[0]:
            raise _Bad(None, "a query parameter contains the NUL character (%00)")
        if len(values) > 1:
            raise _Bad(name, f"{name!r} given {len(values)} times; give it once")
        params[name] = values[0]
    return params


def _only(params: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise _Bad(unknown[0], f"unknown parameter {unknown[0]!r}; accepted: {accepted}")


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 time with an offset (``Z`` or ``+09:00``)."""
    # An unencoded "+09:00" in a query string arrives as " 09:00": put the plus back.
    text = OFFSET_AFTER_SPACE.sub(r"+\1", text.strip(" ")) if " " in text else text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        example = "2026-11-25T14:05:00+09:00"
        raise _Bad(name, f"{name}={text!r} is not an RFC 3339 time, e.g. {example}") from None
    if moment.tzinfo is None:
        raise _Bad(name, f"{name}={text!r} has no UTC offset; add Z or +09:00")
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise _Bad(name, f"{name}={text!r}: the year must lie in {EARLIEST_YEAR}..{LATEST_YEAR}")
    return moment


def _time(params: dict[str, str], name: str, default: datetime) -> datetime:
    return parse_time(params[name], name) if name in params else default


def _range(
    params: dict[str, str], now: datetime, default_span: timedelta
) -> tuple[datetime, datetime]:
    end = _time(params, "to", now)
    try:
        start = _time(params, "from", end - default_span)
    except OverflowError:
        raise _Bad("to", f"to={end.isoformat()} is too early for a default from") from None
    if start >= end:
        raise _Bad("from", f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if end - start > MAX_RANGE:
        raise _Bad("from", f"the range spans more than {MAX_RANGE.days} days; narrow it")
    return start, end


def _duration(params: dict[str, str], name: str, default: timedelta) -> timedelta:
    if name not in params:
        return default
    match = DURATION.match(params[name].strip())
    if match is None:
        raise _Bad(name, f"{name}={params[name]!r}: give seconds or 30s, 5m, 1h, 1d")
    value = timedelta(seconds=int(match.group(1)) * UNIT_S[match.group(2) or "s"])
    if not MIN_STEP <= value <= MAX_RANGE:
        raise _Bad(name, f"{name} must be from 1 second to {MAX_RANGE.days} days")
    return value


def _choice(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise _Bad(name, f"{name}={value!r}; one of: {', '.join(allowed)}")
    return value


def _district(params: dict[str, str], districts: Collection[str]) -> str | None:
    code = params.get("district")
    if code is not None and code not in districts:
        raise _Bad("district", f"unknown district {code!r}; districts are 10-digit codes")
    return code


def _limit(params: dict[str, str]) -> int:
    text = params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not DIGITS.match(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise _Bad("limit", f"limit={text!r}: a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _after(params: dict[str, str], shape: pages.KeyShape) -> pages.Key | None:
    token = params.get("after")
    if token is None:
        return None
    try:
        return pages.decode(shape, token)
    except ValueError as exc:
        raise _Bad("after", f"after: {exc}; pass the 'next' value of the previous page") from None


def _source(params: dict[str, str]) -> str | None:
    source = params.get("source")
    if source is not None and not 1 <= len(source) <= 128:
        raise _Bad("source", "source: an agency's name as its messages give it, 1-128 characters")
    return source


def _topic(params: dict[str, str]) -> str | None:
    topic = params.get("topic")
    if topic is not None and not TOPIC_PATTERN.match(topic):
        raise _Bad("topic", f"topic={topic!r} is not a Kafka topic name")
    return topic


def _series(params: dict[str, str]) -> str:
    # "+" (in replay series names) arrives as a space when the client did not encode it
    series = params.get("series", "live").replace(" ", "+")
    if not SERIES_PATTERN.match(series):
        raise _Bad("series", f"series={series!r}: letters, digits and ._:/@+- only, up to 100")
    return series
