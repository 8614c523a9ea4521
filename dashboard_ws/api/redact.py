"""What roles below ``analyst`` see of events: no exact place, no description (pure).

An incident's exact point and its free-text description can identify a victim or a home (a crime
at a given door); the control room's viewers and operators need the district, the kind and the
severity, not that. :func:`redact_event` keeps the district, rounds a point to
:data:`COORDINATE_DECIMALS` decimals (0.01° ≈ 1.1 km north-south, 0.9 km east-west at Gimpo's
latitude), coarsens the H3 cell to resolution :data:`H3_RESOLUTION` (≈ 5 km² hexagons) and drops
descriptions. Sensor readings and safety facts are public infrastructure: their places stay.
"""

from __future__ import annotations

import h3

from streams.contract import EventsResponse, LocatedEvent

__all__ = ["COORDINATE_DECIMALS", "H3_RESOLUTION", "redact_event", "redact_events"]

COORDINATE_DECIMALS = 2
H3_RESOLUTION = 7


def _coarse_cell(cell: str | None) -> str | None:
    if cell is None:
        return None
    try:
        if h3.get_resolution(cell) <= H3_RESOLUTION:
            return cell
        return str(h3.cell_to_parent(cell, H3_RESOLUTION))
    except (ValueError, h3.H3BaseException):  # not a cell: say nothing rather than something wrong
        return None


def redact_event(event: LocatedEvent) -> LocatedEvent:
    """``event`` as a viewer or operator may see it.

    >>> from streams.contract import Incident
    >>> from datetime import datetime, UTC
    >>> inc = Incident(id="1", source="police", type="assault", severity=3, lat=37.63851,
    ...                lon=126.67912, occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...                description="behind 12 Example-ro")
    >>> ev = LocatedEvent(kind="incident", district="4157056000", h3="8a30e1d8c4b7fff",
    ...                   received_at=datetime(2026, 1, 1, tzinfo=UTC), origin="t/0/1",
    ...                   incident=inc)
    >>> r = redact_event(ev)
    >>> (r.incident.lat, r.incident.lon, r.incident.description, r.h3)
    (37.64, 126.68, None, '8730e1d8cffffff')
    """
    if event.incident is None:
        return event
    incident = event.incident
    changes: dict[str, object] = {"description": None}
    if incident.lat is not None and incident.lon is not None:
        changes["lat"] = round(incident.lat, COORDINATE_DECIMALS)
        changes["lon"] = round(incident.lon, COORDINATE_DECIMALS)
    return event.model_copy(
        update={"incident": incident.model_copy(update=changes), "h3": _coarse_cell(event.h3)}
    )


def redact_events(answer: EventsResponse) -> EventsResponse:
    return answer.model_copy(update={"events": [redact_event(e) for e in answer.events]})
