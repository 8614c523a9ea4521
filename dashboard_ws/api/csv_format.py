"""CSV forms of the history API's answers, for spreadsheets and analysis tools (pure).

``format=csv`` on ``/api/districts/{code}/history`` and ``/api/events``: one header row, one row
per point or event, UTF-8, times in RFC 3339 as in JSON, empty cells for values the row lacks.
A page's continuation travels in a response header (``X-Riskmon-Next``), not in the body, so the
body stays one table. Text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return: agencies' free text reaches these cells) is prefixed with
``'``; numbers are written as numbers.

>>> from datetime import UTC, datetime
>>> from streams.contract import HistoryPoint, HistoryResponse
>>> t = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
>>> answer = HistoryResponse(district="4157056000", domain="fire", series="live",
...     model_versions=["riskmon-index/0.2"], start=t, end=t, step_s=60,
...     points=[HistoryPoint(t=t, value=1.5, min=1.0, max=2.0, grade=1, updates=3)])
>>> print(history_csv(answer).decode(), end="")
district,domain,series,t,value,min,max,grade,updates
4157056000,fire,live,2026-11-25T05:00:00+00:00,1.5,1.0,2.0,1,3
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from streams.contract import (
    EventsResponse,
    FacilityFact,
    HistoryResponse,
    Incident,
    IncidentWithdrawal,
    InspectionFact,
    LocatedEvent,
    SensorReading,
)

__all__ = ["EVENT_COLUMNS", "HISTORY_COLUMNS", "events_csv", "history_csv"]

HISTORY_COLUMNS = ("district", "domain", "series", "t", "value", "min", "max", "grade", "updates")
EVENT_COLUMNS = (
    "occurred_at",
    "kind",
    "type",
    "source",
    "id",
    "district",
    "h3",
    "lat",
    "lon",
    "severity",
    "casualties",
    "status",
    "value",
    "facility_id",
    "facility",
    "structure_id",
    "grade",
    "action",
    "description",
    "received_at",
    "origin",
)

Cell = str | int | float | datetime | None


def history_csv(answer: HistoryResponse) -> bytes:
    rows = (
        (
            answer.district,
            answer.domain,
            answer.series,
            p.t,
            p.value,
            p.min,
            p.max,
            p.grade,
            p.updates,
        )
        for p in answer.points
    )
    return _table(HISTORY_COLUMNS, rows)


def events_csv(answer: EventsResponse) -> bytes:
    return _table(EVENT_COLUMNS, (_event_row(e) for e in answer.events))


def _event_row(located: LocatedEvent) -> tuple[Cell, ...]:
    row: dict[str, Cell] = {
        "kind": located.kind,
        "district": located.district,
        "h3": located.h3,
        "received_at": located.received_at,
        "origin": located.origin,
    }
    event = located.event
    if isinstance(event, IncidentWithdrawal):
        row.update(
            source=event.source,
            occurred_at=event.withdrawn_at,
            type=event.type,
            id=event.id,
            status=f"withdrawn ({event.reason})",
        )
        return tuple(row.get(column) for column in EVENT_COLUMNS)
    row.update(source=event.source, lat=event.lat, lon=event.lon)
    if isinstance(event, Incident):
        row.update(
            occurred_at=event.occurred_at,
            type=event.type,
            id=event.id,
            severity=event.severity,
            casualties=event.casualties,
            status=event.status,
            description=event.description,
        )
    elif isinstance(event, SensorReading):
        row.update(
            occurred_at=event.observed_at, type=event.kind, id=event.sensor_id, value=event.value
        )
    elif isinstance(event, FacilityFact):
        row.update(
            occurred_at=event.effective_at,
            type=event.fact,
            id=event.id,
            facility_id=event.facility_id,
            facility=event.facility,
            action=event.action,
        )
    elif isinstance(event, InspectionFact):
        row.update(
            occurred_at=event.effective_at,
            type=event.fact,
            id=event.id,
            structure_id=event.structure_id,
            grade=event.grade,
        )
    return tuple(row.get(column) for column in EVENT_COLUMNS)


def _table(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue().encode()


def _cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
