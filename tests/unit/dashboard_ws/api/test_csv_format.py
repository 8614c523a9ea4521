"""CSV answers of the history API: one table, every kind of event flattened, no formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from dashboard_ws.api.csv_format import EVENT_COLUMNS, HISTORY_COLUMNS, events_csv, history_csv
from streams.contract import (
    EventsResponse,
    FacilityFact,
    HistoryPoint,
    HistoryResponse,
    Incident,
    InspectionFact,
    LocatedEvent,
    SensorReading,
)

T = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
CODE = "4157056000"


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def located(event: Incident | SensorReading | FacilityFact | InspectionFact) -> LocatedEvent:
    kind = {Incident: "incident", SensorReading: "reading"}.get(type(event), "safety")
    return LocatedEvent.model_validate(
        {
            "kind": kind,
            "district": CODE,
            "h3": "8930e1d8c83ffff",
            "received_at": T + timedelta(seconds=2),
            "origin": "riskmon.incidents/0/7",
            kind: event,
        }
    )


def test_history_has_one_row_per_point_with_empty_cells_for_nulls() -> None:
    answer = HistoryResponse(
        district=CODE,
        domain="fire",
        series="live",
        model_versions=[],
        start=T,
        end=T + timedelta(minutes=2),
        step_s=60,
        points=[
            HistoryPoint(t=T, value=None, min=None, max=None, grade=None, updates=0),
            HistoryPoint(
                t=T + timedelta(minutes=1), value=7.25, min=1.0, max=7.5, grade=4, updates=2
            ),
        ],
    )
    table = rows(history_csv(answer))
    assert list(table[0]) == list(HISTORY_COLUMNS)
    assert table[0]["value"] == ""
    assert table[0]["t"] == "2026-11-25T05:00:00+00:00"
    assert table[1] == {
        "district": CODE,
        "domain": "fire",
        "series": "live",
        "t": "2026-11-25T05:01:00+00:00",
        "value": "7.25",
        "min": "1.0",
        "max": "7.5",
        "grade": "4",
        "updates": "2",
    }


def test_every_kind_of_event_is_flattened_into_the_same_columns() -> None:
    events = [
        Incident(
            id="F-1",
            source="gimpo-fire",
            type="fire",
            severity=4,
            occurred_at=T,
            casualties=2,
            lat=37.6385,
            lon=126.6791,
            description='smoke, "thick"\nnear school',
        ),
        SensorReading(
            sensor_id="aws-1", kind="rainfall_mm_1h", value=-0.0, observed_at=T, code=CODE
        ),
        FacilityFact(
            id="f-9",
            source="gimpo-city",
            facility_id="cctv-3",
            facility="cctv",
            action="removed",
            effective_at=T,
            code=CODE,
        ),
        InspectionFact(
            id="i-2",
            source="gimpo-city",
            structure_id="bridge-1",
            grade="D",
            effective_at=T,
            code=CODE,
        ),
    ]
    body = events_csv(EventsResponse(events=[located(e) for e in events], truncated=False))
    table = rows(body)
    assert list(table[0]) == list(EVENT_COLUMNS)
    fire, rain, cctv, bridge = table
    assert (fire["kind"], fire["type"], fire["id"], fire["severity"], fire["casualties"]) == (
        "incident",
        "fire",
        "F-1",
        "4",
        "2",
    )
    assert fire["description"] == 'smoke, "thick"\nnear school'  # quoted, one cell
    assert (fire["lat"], fire["lon"]) == ("37.6385", "126.6791")
    assert (rain["type"], rain["id"], rain["value"], rain["lat"]) == (
        "rainfall_mm_1h",
        "aws-1",
        "-0.0",
        "",
    )
    assert (cctv["type"], cctv["facility"], cctv["action"]) == ("facility", "cctv", "removed")
    assert (bridge["type"], bridge["structure_id"], bridge["grade"]) == (
        "inspection",
        "bridge-1",
        "D",
    )
    assert {r["occurred_at"] for r in table} == {"2026-11-25T05:00:00+00:00"}
    assert {r["received_at"] for r in table} == {"2026-11-25T05:00:02+00:00"}


def test_text_a_spreadsheet_would_run_as_a_formula_is_defused() -> None:
    sly = Incident(
        id="=cmd|' /C calc'!A0",
        source="@agency",
        type="theft",
        severity=1,
        occurred_at=T,
        code=CODE,
        description="+1 555",
    )
    (row,) = rows(events_csv(EventsResponse(events=[located(sly)], truncated=False)))
    assert row["id"] == "'=cmd|' /C calc'!A0"
    assert row["source"] == "'@agency"
    assert row["description"] == "'+1 555"
    assert row["severity"] == "1"  # numbers stay numbers
