"""What roles below analyst see of events: no exact point, no description, a coarse H3 cell."""

from __future__ import annotations

from datetime import UTC, datetime

import h3
import pytest

from dashboard_ws.api.redact import COORDINATE_DECIMALS, H3_RESOLUTION, redact_event, redact_events
from streams.contract import EventsResponse, LocatedEvent
from streams.contract.inputs import FacilityFact, Incident, InspectionFact, SensorReading

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DISTRICT = "4157056000"
LAT, LON = 37.638517, 126.679124  # a door in Gimpo


def incident(
    *, lat: float | None = LAT, lon: float | None = LON, code: str | None = None
) -> Incident:
    return Incident(
        id="1",
        source="gimpo-police",
        type="assault",
        severity=3,
        casualties=1,
        lat=lat,
        lon=lon,
        code=code,
        occurred_at=AT,
        description="behind 12 Example-ro, second floor",
        status="responding",
    )


def located(h3_cell: str | None, **payload: object) -> LocatedEvent:
    kind = next(iter(payload))
    return LocatedEvent.model_validate(
        {
            "kind": kind,
            "district": DISTRICT,
            "h3": h3_cell,
            "received_at": AT,
            "origin": "riskmon.incidents/0/17",
            **payload,
        }
    )


@pytest.mark.parametrize("resolution", [8, 9, 10, 15])
def test_an_incident_loses_its_exact_point_description_and_fine_cell(resolution: int) -> None:
    cell = h3.latlng_to_cell(LAT, LON, resolution)
    event = located(cell, incident=incident())
    redacted = redact_event(event)
    assert redacted.incident is not None
    assert (redacted.incident.lat, redacted.incident.lon) == (37.64, 126.68)
    assert redacted.incident.description is None
    assert redacted.h3 == h3.cell_to_parent(cell, H3_RESOLUTION)
    assert redacted.h3 is not None
    assert h3.get_resolution(redacted.h3) == H3_RESOLUTION
    assert h3.latlng_to_cell(LAT, LON, H3_RESOLUTION) == redacted.h3
    assert cell not in redacted.model_dump_json()
    assert "Example-ro" not in redacted.model_dump_json()
    assert str(LAT) not in redacted.model_dump_json()


def test_what_operators_need_stays() -> None:
    event = located(h3.latlng_to_cell(LAT, LON, 10), incident=incident())
    redacted = redact_event(event)
    assert redacted.incident is not None
    assert event.incident is not None
    kept = {"id", "source", "type", "severity", "casualties", "occurred_at", "status", "code"}
    assert redacted.incident.model_dump(include=kept) == event.incident.model_dump(include=kept)
    assert redacted.model_dump(exclude={"incident", "h3"}) == event.model_dump(
        exclude={"incident", "h3"}
    )


def test_the_original_event_is_not_changed() -> None:
    cell = h3.latlng_to_cell(LAT, LON, 10)
    event = located(cell, incident=incident())
    redact_event(event)
    assert event.h3 == cell
    assert event.incident is not None
    assert (event.incident.lat, event.incident.description) == (LAT, incident().description)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (37.634999, 126.675001, (37.63, 126.68)),
        (-33.868821, 151.209296, (-33.87, 151.21)),
        (37.6, 126.7, (37.6, 126.7)),
    ],
)
def test_coordinates_are_rounded_to_two_decimals(
    lat: float, lon: float, expected: tuple[float, float]
) -> None:
    redacted = redact_event(located(None, incident=incident(lat=lat, lon=lon)))
    assert redacted.incident is not None
    assert (redacted.incident.lat, redacted.incident.lon) == expected
    assert COORDINATE_DECIMALS == 2


def test_a_coarse_cell_stays_as_it_is() -> None:
    for resolution in (5, H3_RESOLUTION):
        cell = h3.latlng_to_cell(LAT, LON, resolution)
        assert redact_event(located(cell, incident=incident())).h3 == cell


def test_an_incident_with_only_a_district_code() -> None:
    event = located(None, incident=incident(lat=None, lon=None, code=DISTRICT))
    redacted = redact_event(event)
    assert redacted.incident is not None
    assert (redacted.incident.lat, redacted.incident.lon) == (None, None)
    assert redacted.incident.code == DISTRICT
    assert redacted.incident.description is None
    assert redacted.h3 is None
    assert redacted.district == DISTRICT


@pytest.mark.parametrize(
    "bad",
    [
        "zzz",
        "",
        "8a30e1d8c4b7ffg",
        "ffffffffffffffff",
        "11a30e0a21307fff",  # a directed edge, not a cell
    ],
)
def test_an_invalid_cell_becomes_none(bad: str) -> None:
    redacted = redact_event(located(bad, incident=incident()))
    assert redacted.h3 is None
    assert redacted.incident is not None
    assert redacted.incident.description is None


def test_readings_and_safety_facts_keep_their_place() -> None:
    cell = h3.latlng_to_cell(LAT, LON, 10)
    reading = SensorReading(
        sensor_id="wl-7", kind="river_level_m", value=2.5, observed_at=AT, lat=LAT, lon=LON
    )
    inspection = InspectionFact(
        id="i1", source="gimpo", structure_id="b9", grade="D", effective_at=AT, lat=LAT, lon=LON
    )
    facility = FacilityFact(
        id="f1",
        source="gimpo",
        facility_id="h1",
        facility="hydrant",
        action="added",
        effective_at=AT,
        lat=LAT,
        lon=LON,
    )
    for event in (
        located(cell, reading=reading),
        located(cell, safety=inspection),
        located(cell, safety=facility),
    ):
        assert redact_event(event) == event
        assert redact_event(event).h3 == cell


def test_a_response_is_redacted_event_by_event_and_keeps_its_paging() -> None:
    cell = h3.latlng_to_cell(LAT, LON, 10)
    reading = SensorReading(
        sensor_id="wl-7", kind="river_level_m", value=2.5, observed_at=AT, lat=LAT, lon=LON
    )
    answer = EventsResponse(
        events=[located(cell, incident=incident()), located(cell, reading=reading)],
        truncated=True,
        next="abc",
    )
    redacted = redact_events(answer)
    assert (redacted.truncated, redacted.next) == (True, "abc")
    assert [e.kind for e in redacted.events] == ["incident", "reading"]
    assert redacted.events[0] == redact_event(answer.events[0])
    assert redacted.events[1] == answer.events[1]
    assert answer.events[0].h3 == cell  # the answer itself is unchanged
