"""The field page's pure decisions: report -> fact, idempotency, time window, search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from dashboard_ws.field import core
from streams.contract import SAFETY_FACT, FacilityFact, InspectionFact
from streams.contract.field import FieldReport

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def report(**extra: object) -> FieldReport:
    fields: dict[str, object] = {
        "report_id": "5b0c7a1e-1111-4000-8000-000000000001",
        "kind": "inspection",
        "structure_id": "GP-BRIDGE-7",
        "grade": "D",
        "lat": 37.6385,
        "lon": 126.6791,
        "observed_at": "2026-11-24T20:55:00+09:00",
    }
    fields.update(extra)
    return FieldReport.model_validate(fields)


def test_an_inspection_becomes_a_fact_of_the_users_agency() -> None:
    fact = core.build_fact(report(), "park", "gimpo-safety")
    assert isinstance(fact, InspectionFact)
    assert (fact.id, fact.source, fact.grade) == (
        "park:5b0c7a1e-1111-4000-8000-000000000001",
        "gimpo-safety",
        "D",
    )
    assert fact.effective_at == datetime(2026, 11, 24, 11, 55, tzinfo=UTC)
    assert (fact.lat, fact.lon) == (37.6385, 126.6791)
    # what the worker reads back from the topic is the same fact
    assert SAFETY_FACT.validate_json(fact.model_dump_json()) == fact


def test_out_of_service_is_a_facility_removed() -> None:
    facility = report(
        kind="facility",
        structure_id=None,
        grade=None,
        facility_id="CCTV-0042",
        facility="cctv",
        action="removed",
    )
    fact = core.build_fact(facility, "park", "gimpo-safety")
    assert isinstance(fact, FacilityFact)
    assert (fact.facility_id, fact.facility, fact.action) == ("CCTV-0042", "cctv", "removed")


def test_the_same_report_gives_the_same_bytes_and_hash() -> None:
    first, again = report(), report()
    a = core.build_fact(first, "park", "gimpo-safety").model_dump_json()
    b = core.build_fact(again, "park", "gimpo-safety").model_dump_json()
    assert a == b
    assert core.request_hash(first) == core.request_hash(again)
    assert core.request_hash(first) != core.request_hash(report(grade="E"))
    assert core.request_hash(first) != core.request_hash(report(note="crack at pier 3"))


@pytest.mark.parametrize(
    "extra",
    [
        {"grade": None},  # an inspection needs its grade
        {"facility": "cctv"},  # and nothing of a facility report
        {"grade": "F"},
        {"report_id": "short"},
        {"report_id": "has spaces in it"},
        {"note": "x" * 1001},
        {"lat": 91.0},
        {"observed_at": "2026-11-24T20:55:00"},  # no offset
        {"photos": [{"data": "AAAA"}] * 5},
        {"unknown": 1},
    ],
)
def test_bad_reports_are_refused_by_the_contract(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        report(**extra)


def test_the_time_window() -> None:
    assert core.time_problem(NOW - timedelta(days=29), NOW) is None
    assert core.time_problem(NOW + timedelta(minutes=4), NOW) is None
    assert "ahead" in (core.time_problem(NOW + timedelta(minutes=10), NOW) or "")
    assert "older than 30 days" in (core.time_problem(NOW - timedelta(days=31), NOW) or "")


def test_parse_search() -> None:
    search = core.parse_search("lat=37.6385&lon=126.6791")
    assert isinstance(search, core.Search)
    box = search.box()
    assert box is not None
    assert box[0] < 37.6385 < box[2]
    assert box[1] < 126.6791 < box[3]
    assert core.parse_search("q=GP-&limit=5") == core.Search(None, None, "GP-", 5)
    with_text = core.parse_search("q=bridge&lat=37.6&lon=126.7")
    assert isinstance(with_text, core.Search)
    assert with_text.box() is None
    for bad in ("lat=x&lon=1", "lat=100&lon=1", "q=" + "a" * 65, "limit=0&q=a", "q=a&q=b", "x=1"):
        assert isinstance(core.parse_search(bad), str), bad


def fact(subject: str, lat: float | None, lon: float | None, **payload: object) -> core.Fact:
    body: dict[str, object] = {"lat": lat, "lon": lon, "grade": "C", **payload}
    return core.Fact("inspection", subject, "gimpo-safety", "4157056000", NOW, body)


def test_rank_nearest_first_and_within_the_radius_without_text() -> None:
    here = core.Search(37.6385, 126.6791, None, 10)
    facts = [
        fact("far", 37.70, 126.80),  # about 13 km away
        fact("near", 37.6386, 126.6791),
        fact("mid", 37.6400, 126.6791),
        fact("code-only", None, None),
    ]
    names = {"4157056000": "장기동"}
    matches = core.rank(facts, here, names)
    assert [m.id for m in matches] == ["near", "mid", "code-only"]
    assert matches[0].district_name == "장기동"
    assert matches[0].distance_m is not None
    assert matches[0].distance_m < 20
    with_text = core.rank(facts, core.Search(37.6385, 126.6791, "a", 2), names)
    assert [m.id for m in with_text] == ["near", "mid"]  # limit 2; "far" counts with a text


def test_distance() -> None:
    # one degree of latitude on the mean sphere
    assert core.distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)
