"""Ingest, the pure step: raw Kafka bytes -> a :class:`LocatedEvent` or a :class:`DeadLetter`.

No Kafka here: the agent in :mod:`streams.worker.agents` hands each record's bytes in and sends what
comes out. Every failure becomes a dead letter with the original bytes and a reason a person can act
on; nothing raises out of :func:`ingest`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import orjson
from pydantic import BaseModel, ValidationError

from indices import ModelParams
from streams.city.map import CityMap
from streams.contract import (
    SAFETY_FACT,
    DeadLetter,
    DeadLetterError,
    FacilityFact,
    Incident,
    IncidentWithdrawal,
    InputEvent,
    InspectionFact,
    LocatedEvent,
    SensorReading,
)
from streams.contract.deadletters import RawRecord, dead_letter
from streams.errors import RiskmonError

log = logging.getLogger(__name__)

Kind = Literal["incident", "reading", "safety"]
ErrorKind = DeadLetterError


class Rejected(RiskmonError):
    """An input that cannot be used; carries the dead-letter error kind and the reason."""

    retriable = False

    def __init__(self, error: ErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.error: ErrorKind = error
        self.reason = reason


def _parse_incident(data: object) -> InputEvent:
    return Incident.model_validate(data)


def _parse_reading(data: object) -> InputEvent:
    return SensorReading.model_validate(data)


def _parse_safety(data: object) -> InputEvent:
    return SAFETY_FACT.validate_python(data)


PARSERS: Mapping[Kind, Callable[[object], InputEvent]] = {
    "incident": _parse_incident,
    "reading": _parse_reading,
    "safety": _parse_safety,
}


def describe_validation_error(error: ValidationError) -> str:
    """Each problem naming its field, e.g. ``severity: Input should be less than or equal to 5``."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(p) for p in problem["loc"]) or "message"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def decode(raw: RawRecord, kind: Kind) -> InputEvent:
    """Parse and validate the record's bytes as a ``kind`` message; raises :class:`Rejected`."""
    if raw.value is None:
        raise Rejected("not_json", "empty message (null value); expected a JSON object")
    data = read_json(raw.value)
    if not isinstance(data, dict):
        raise Rejected("schema", f"expected a JSON object, got {type(data).__name__}")
    try:
        return PARSERS[kind](data)
    except ValidationError as exc:
        raise Rejected("schema", f"invalid {kind}: {describe_validation_error(exc)}") from exc


# orjson reads integers beyond 64 bits as floats (json: exact integers); such numbers have 19
# digits or more, and any run of 19 digits (in a string too) sends the record to json. Found by
# turning every digit into 0 and looking for nineteen of them (a regular expression costs 4x).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def read_json(value: bytes) -> object:
    """``value`` read as :func:`json.loads` reads it; raises :class:`Rejected` saying why it
    cannot be. Read by orjson where it reads the same: a subset of what json reads (UTF-8 only,
    no NaN or Infinity, no lone surrogates, no byte-order mark, no long numbers), to the same
    values, in half the time; anything else by json (:func:`json_loads`)."""
    if _LONG_RUN in value.translate(_DIGITS_AS_ZERO):
        return json_loads(value)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json_loads(value)


def json_loads(value: bytes) -> object:
    """``value`` read by :func:`json.loads`; raises :class:`Rejected` saying why it cannot be."""
    try:
        return json.loads(value)
    except UnicodeDecodeError as exc:
        raise Rejected("not_json", f"not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise Rejected(
            "not_json", f"not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise Rejected("not_json", "JSON nested too deeply to read (over ~1,000 levels)") from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise Rejected("not_json", f"JSON this reader refuses: {str(exc)[:200]}") from exc


NOT_LOCATED = "not located yet"


def place(
    event: BaseModel, city: CityMap, located: str | None = NOT_LOCATED
) -> tuple[str, str | None]:
    """The event's district code and H3 cell; raises :class:`Rejected` when it has none.
    ``located``: the district of its point when already found (:meth:`CityMap.locate_many`)."""
    lat, lon, code = (
        getattr(event, "lat", None),
        getattr(event, "lon", None),
        getattr(event, "code", None),
    )
    if lat is not None and lon is not None:
        found = city.locate(lat, lon) if located == NOT_LOCATED else located
        if found is None:
            w, s, e, n = city.bounds
            raise Rejected(
                "outside_city",
                (
                    f"point lat={lat}, lon={lon} lies outside every district of {city.name} "
                    f"(city bounds lat {s:.4f}..{n:.4f}, lon {w:.4f}..{e:.4f}); "
                    "check that lat and lon are not swapped"
                ),
            )
        if code is not None and code != found:
            raise Rejected(
                "schema",
                (
                    f"lat/lon lie in district {found} ({city.districts[found].name_ko}) "
                    f"but code says {code}; send one or make them agree"
                ),
            )
        return found, city.h3_cell(lat, lon)
    assert code is not None  # the contract requires a point or a code
    if code not in city.districts:
        raise Rejected(
            "unknown_district",
            (
                f"district code {code} is not a district of {city.name}; "
                f"known codes: {', '.join(city.codes)}"
            ),
        )
    return code, None


def check_model_inputs(event: InputEvent, params: ModelParams) -> None:
    """Reject what the index model cannot use (e.g. a river gauge without flood stages)."""
    if isinstance(event, Incident) and event.type not in params.incident_domain:
        raise Rejected(
            "not_counted",
            f"incident type {event.type!r} is not counted in this city's configuration "
            "(model.incident_domain); map it to a domain to count it",
        )
    if (
        isinstance(event, SensorReading)
        and event.kind == "river_level_m"
        and event.sensor_id not in params.river_stages
    ):
        raise Rejected(
            "schema",
            (
                f"river gauge {event.sensor_id!r} has no flood stages in the city configuration; "
                f"configured gauges: {', '.join(sorted(params.river_stages)) or 'none'}"
            ),
        )


# How far an input's own time may lie ahead of the moment it was read (clocks of agencies and
# sensors drift); RISKMON_MAX_FUTURE_S sets it for the worker.
MAX_FUTURE = timedelta(minutes=5)


def event_time(event: InputEvent) -> tuple[str, datetime]:
    """When an input happened or took effect, with the name of the field that says so."""
    if isinstance(event, Incident):
        return "occurred_at", event.occurred_at
    if isinstance(event, SensorReading):
        return "observed_at", event.observed_at
    if isinstance(event, IncidentWithdrawal):
        return "withdrawn_at", event.withdrawn_at
    return "effective_at", event.effective_at


def check_not_future(event: InputEvent, received_at: datetime, max_future: timedelta) -> None:
    """Reject an input stamped after it was read (beyond ``max_future``).

    The model reads each domain at its newest incident's time and keeps each sensor's newest
    reading: one event stamped days ahead would decay its domain's real incidents, or hide a
    sensor's real readings, until the clock caught up with it.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    >>> reading = SensorReading(sensor_id="rain-1", kind="rainfall_mm_1h", value=60,
    ...                         observed_at="2026-11-27T12:00:00Z", code="4157056000")
    >>> check_not_future(reading, now, MAX_FUTURE)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.pipeline.ingest.Rejected: observed_at 2026-11-27T12:00:00+00:00 is 72.0 h after ...
    """
    field, at = event_time(event)
    ahead = (at - received_at).total_seconds()
    if ahead > max_future.total_seconds():
        raise Rejected(
            "future",
            f"{field} {at.isoformat()} is {_span(ahead)} after the worker read it "
            f"({received_at.isoformat()}); more than {max_future.total_seconds():.0f} s ahead "
            "is refused: check the sender's clock and time zone",
        )


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def ingest(
    raw: RawRecord,
    kind: Kind,
    city: CityMap,
    params: ModelParams,
    received_at: datetime,
    max_future: timedelta = MAX_FUTURE,
) -> LocatedEvent | DeadLetter:
    """Turn one record into a located event, or a dead letter saying why it could not be."""
    return finish(raw, kind, checked(raw, kind, params, received_at, max_future), city, received_at)


def ingest_many(
    records: Sequence[tuple[RawRecord, Kind]],
    city: CityMap,
    params: ModelParams,
    received_at: datetime,
    max_future: timedelta = MAX_FUTURE,
) -> list[LocatedEvent | DeadLetter]:
    """:func:`ingest` of a whole batch, the same answers in the same order, with the points of
    the batch placed in one vectorised query instead of one per record."""
    steps = [checked(raw, kind, params, received_at, max_future) for raw, kind in records]
    with_point = [
        (i, float(getattr(step, "lat", None) or 0.0), float(getattr(step, "lon", None) or 0.0))
        for i, step in enumerate(steps)
        if not isinstance(step, Exception)
        and getattr(step, "lat", None) is not None
        and getattr(step, "lon", None) is not None
    ]
    found = city.locate_many([lat for _, lat, _ in with_point], [lon for _, _, lon in with_point])
    districts = {i: code for (i, _, _), code in zip(with_point, found, strict=True)}
    return [
        finish(raw, kind, step, city, received_at, districts.get(i, NOT_LOCATED))
        for i, ((raw, kind), step) in enumerate(zip(records, steps, strict=True))
    ]


def checked(
    raw: RawRecord,
    kind: Kind,
    params: ModelParams,
    received_at: datetime,
    max_future: timedelta,
) -> BaseModel | Exception:
    """The decoded, checked event of ``raw``, or the exception that refuses it (not raised)."""
    try:
        event = decode(raw, kind)
        check_not_future(event, received_at, max_future)
        check_model_inputs(event, params)
    except Exception as exc:
        return exc
    return event


def finish(
    raw: RawRecord,
    kind: Kind,
    step: BaseModel | Exception,
    city: CityMap,
    received_at: datetime,
    located: str | None = NOT_LOCATED,
) -> LocatedEvent | DeadLetter:
    """Place a checked event and make its located event, or the dead letter of its refusal."""
    try:
        if isinstance(step, Exception):
            raise step
        event = step
        district, cell = place(event, city, located)
        return LocatedEvent(
            kind=kind,
            district=district,
            h3=cell,
            received_at=received_at,
            origin=raw.origin,
            incident=event if isinstance(event, Incident) else None,
            reading=event if isinstance(event, SensorReading) else None,
            safety=event if isinstance(event, InspectionFact | FacilityFact) else None,
        )
    except Rejected as rejected:
        return dead_letter(raw, rejected.error, rejected.reason, received_at)
    except Exception as exc:
        # Deliberate last-resort boundary: a bug in ingest must not stop the stream for every
        # later record. The traceback is logged and the record kept as an `internal` dead letter
        # (its bytes and the error), so the failure is counted, visible and replayable.
        log.exception("ingest failed unexpectedly origin=%s", raw.origin)
        return dead_letter(raw, "internal", f"internal error: {exc!r}", received_at)
