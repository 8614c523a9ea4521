"""The history API's request parsing refuses what it cannot answer, naming the fault: times,
ranges, steps, districts, domains and series, states, kinds and limits, unknown parameters and
routes, values the database cannot take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard_ws.api.params import (
    AlertsRequest,
    ApiProblem,
    EventsRequest,
    HistoryRequest,
    ScoresAtRequest,
    parse_request,
)
from streams.contract import ApiError
from tests.unit.dashboard_ws.api.support import (
    CODE,
    DISTRICTS,
    DOMAINS,
    HISTORY,
    NOW,
    M,
    bad,
    parse,
    rfc3339,
)

# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T12:05:00Z",
        "2026-11-24T12:05:00+00:00",
        "2026-11-24T21:05:00+09:00",
        "2026-11-24T07:05:00-05:00",
        "2026-11-24T12:05:00.000Z",
    ],
)
def test_offsets_name_the_same_instant(text: str) -> None:
    result = parse("/api/scores", {"at": text})
    assert isinstance(result, ScoresAtRequest)
    assert result.at == datetime(2026, 11, 24, 12, 5, tzinfo=UTC)


def test_z_and_plus_nine_give_equal_history_ranges() -> None:
    utc = parse(HISTORY, {"from": "2026-11-24T00:00:00Z", "to": "2026-11-24T06:00:00Z"})
    kst = parse(HISTORY, {"from": "2026-11-24T09:00:00+09:00", "to": "2026-11-24T15:00:00+09:00"})
    assert isinstance(utc, HistoryRequest)
    assert isinstance(kst, HistoryRequest)
    assert (utc.start, utc.end) == (kst.start, kst.end)


def test_an_unencoded_plus_in_an_offset_is_read_as_the_plus_it_was() -> None:
    # Query strings decode '+' to a space; the parser puts it back before an hh:mm offset.
    request = parse_request(
        "/api/scores",
        "at=2026-11-24T21:05:00+09:00",
        now=NOW,
        districts=DISTRICTS,
        domains=DOMAINS,
    )
    assert isinstance(request, ScoresAtRequest)
    assert request.at == datetime(2026, 11, 24, 12, 5, tzinfo=UTC)


def test_an_unencoded_plus_in_a_series_name_is_read_as_a_plus() -> None:
    request = parse_request(
        "/api/scores",
        "series=replay:riskmon-index/0.2+412b8310",
        now=NOW,
        districts=DISTRICTS,
        domains=DOMAINS,
    )
    assert isinstance(request, ScoresAtRequest)
    assert request.series == "replay:riskmon-index/0.2+412b8310"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/scores", "at"),
        (HISTORY, "from"),
        (HISTORY, "to"),
        ("/api/alerts", "from"),
        ("/api/alerts", "to"),
        ("/api/events", "from"),
        ("/api/events", "to"),
    ],
)
def test_a_time_without_offset_is_refused_naming_the_parameter(path: str, name: str) -> None:
    error = bad(path, {name: "2026-11-24T21:05:00"})
    assert error.parameter == name
    assert "offset" in error.detail
    assert name in error.detail


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2026-13-01T00:00:00Z", "2026-11-24 25:00Z", "1732450000"]
)
def test_an_unparseable_time_is_refused(text: str) -> None:
    error = bad("/api/scores", {"at": text})
    assert error.parameter == "at"
    assert "RFC 3339" in error.detail


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-24T12:00:00Z", "2026-11-24T12:00:00Z"),
        ("2026-11-24T21:00:00+09:00", "2026-11-24T12:00:00Z"),
        ("2026-11-25T00:00:00Z", "2026-11-24T00:00:00Z"),
    ],
)
@pytest.mark.parametrize("path", [HISTORY, "/api/alerts", "/api/events"])
def test_from_must_be_before_to(path: str, start: str, end: str) -> None:
    error = bad(path, {"from": start, "to": end})
    assert error.parameter == "from"
    assert "before" in error.detail


def test_from_after_the_default_to_is_refused() -> None:
    error = bad("/api/events", {"from": rfc3339(NOW + M)})
    assert error.parameter == "from"


@pytest.mark.parametrize("path", ["/api/alerts", "/api/events"])
def test_a_range_over_400_days_is_refused(path: str) -> None:
    error = bad(path, {"from": rfc3339(NOW - timedelta(days=400, seconds=1))})
    assert error.parameter == "from"
    assert "400 days" in error.detail


def test_a_range_of_exactly_400_days_is_accepted() -> None:
    result = parse("/api/alerts", {"from": rfc3339(NOW - timedelta(days=400))})
    assert isinstance(result, AlertsRequest)
    assert result.end - result.start == timedelta(days=400)


def test_history_over_400_days_is_refused_even_with_a_wide_step() -> None:
    query = {"from": rfc3339(NOW - timedelta(days=401)), "step": "1d"}
    assert bad(HISTORY, query).parameter == "from"


# --- step ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60", 60), ("60s", 60), ("5m", 300), ("1h", 3600), ("1d", 86400), ("1", 1), (" 2m ", 120)],
)
def test_step_forms(text: str, seconds: int) -> None:
    result = parse(HISTORY, {"from": rfc3339(NOW - timedelta(hours=1)), "step": text})
    assert isinstance(result, HistoryRequest)
    assert result.step == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5x", "-1", "0", "0s", "0m", "", "1.5m", "m", "5 m", "1w"])
def test_bad_steps_are_refused(text: str) -> None:
    error = bad(HISTORY, {"step": text})
    assert error.parameter == "step"


def test_too_many_steps_are_refused() -> None:
    error = bad(HISTORY, {"step": "1s"})  # 86,400 steps in the default day
    assert error.parameter == "step"
    assert "86400 steps" in error.detail
    assert "10000" in error.detail


def test_exactly_10000_steps_are_accepted_and_one_more_is_not() -> None:
    at_most = parse(HISTORY, {"from": rfc3339(NOW - 10_000 * M), "step": "1m"})
    assert isinstance(at_most, HistoryRequest)
    assert (at_most.end - at_most.start) / at_most.step == 10_000
    over = bad(HISTORY, {"from": rfc3339(NOW - 10_001 * M), "step": "1m"})
    assert over.parameter == "step"


def test_a_step_wider_than_the_range_is_accepted() -> None:
    result = parse(HISTORY, {"from": rfc3339(NOW - M), "step": "1h"})
    assert isinstance(result, HistoryRequest)
    assert result.step == timedelta(hours=1)


def test_a_huge_step_is_a_bad_parameter_not_a_crash() -> None:
    error = bad(HISTORY, {"step": "99999999999999d"})
    assert error.parameter == "step"


# --- districts, domains, series --------------------------------------------------------------


def test_an_unknown_district_in_the_history_path_is_not_found() -> None:
    error = bad("/api/districts/4157099999/history", status=404)
    assert error.parameter is None
    assert "4157099999" in error.detail


def test_a_district_is_checked_before_the_parameters() -> None:
    error = bad("/api/districts/nope/history", {"bogus": "1"}, status=404)
    assert "'nope'" in error.detail


@pytest.mark.parametrize("path", ["/api/alerts", "/api/events"])
@pytest.mark.parametrize("code", ["4157099999", "abc", ""])
def test_an_unknown_district_parameter_is_refused(path: str, code: str) -> None:
    error = bad(path, {"district": code})
    assert error.parameter == "district"
    assert repr(code) in error.detail


@pytest.mark.parametrize("domain", ["flood", "Composite", "group:", "natural", ""])
def test_an_unknown_domain_is_refused_listing_the_accepted(domain: str) -> None:
    error = bad(HISTORY, {"domain": domain})
    assert error.parameter == "domain"
    assert repr(domain) in error.detail
    assert error.detail.endswith("one of: composite, fire, group:natural, safety")


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_known_domain_is_accepted(domain: str) -> None:
    result = parse(HISTORY, {"domain": domain})
    assert isinstance(result, HistoryRequest)
    assert result.domain == domain


@pytest.mark.parametrize("series", ["live", "replay-2026.11.24", "a:b/c@d+e_f", "x" * 100])
@pytest.mark.parametrize("path", [HISTORY, "/api/scores"])
def test_good_series_names(path: str, series: str) -> None:
    result = parse(path, {"series": series})
    assert isinstance(result, HistoryRequest | ScoresAtRequest)
    assert result.series == series


@pytest.mark.parametrize("series", ["a\tb", 'a"b', "a'b", "", "x" * 101, "a;b", "a\nb", "한글"])
@pytest.mark.parametrize("path", [HISTORY, "/api/scores"])
def test_bad_series_names_are_refused(path: str, series: str) -> None:
    error = bad(path, {"series": series})
    assert error.parameter == "series"


# --- state, kind, limit --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["open", "FIRING", ""])
def test_an_unknown_alert_state_is_refused(state: str) -> None:
    error = bad("/api/alerts", {"state": state})
    assert error.parameter == "state"
    assert "pending, firing, acknowledged, resolved" in error.detail


@pytest.mark.parametrize("kind", ["incidents", "alert", ""])
def test_an_unknown_event_kind_is_refused(kind: str) -> None:
    error = bad("/api/events", {"kind": kind})
    assert error.parameter == "kind"
    assert "incident, reading, safety" in error.detail


@pytest.mark.parametrize("path", ["/api/alerts", "/api/events", "/api/dead-letters"])
@pytest.mark.parametrize("limit", ["0", "10001", "abc", "-1", "1.5", "", " 5"])
def test_a_bad_limit_is_refused(path: str, limit: str) -> None:
    error = bad(path, {"limit": limit})
    assert error.parameter == "limit"
    assert "10000" in error.detail


@pytest.mark.parametrize(("text", "limit"), [("1", 1), ("10000", 10_000), ("007", 7)])
def test_limits_in_range_are_accepted(text: str, limit: int) -> None:
    result = parse("/api/events", {"limit": text})
    assert isinstance(result, EventsRequest)
    assert result.limit == limit


def test_a_superscript_digit_limit_is_a_bad_parameter_not_a_crash() -> None:
    error = bad("/api/alerts", {"limit": "²"})
    assert error.parameter == "limit"


def test_a_to_at_the_start_of_the_calendar_is_a_bad_parameter_not_a_crash() -> None:
    error = bad("/api/events", {"to": "0001-01-01T00:00:00Z"})
    assert error.parameter in {"from", "to"}


# --- unknown and repeated parameters, unknown routes ----------------------------------------


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        (HISTORY, "domain, format, from, series, step, to"),
        ("/api/scores", "at, series"),
        ("/api/alerts", "after, district, from, limit, state, to"),
        ("/api/alerts/a-1", "none"),
        ("/api/events", "after, district, format, from, kind, limit, source, to, type"),
        ("/api/dead-letters", "after, error, from, limit, to, topic"),
    ],
)
def test_an_unknown_parameter_is_refused_naming_it(path: str, accepted: str) -> None:
    error = bad(path, {"colour": "red"})
    assert error.parameter == "colour"
    assert error.detail == f"unknown parameter 'colour'; accepted: {accepted}"


def test_a_parameter_of_another_route_is_unknown() -> None:
    assert bad("/api/scores", {"step": "1m"}).parameter == "step"
    assert bad(HISTORY, {"at": "2026-11-24T12:00:00Z"}).parameter == "at"


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        (HISTORY, "domain=fire&domain=fire", "domain"),
        (HISTORY, "step=1m&step=5m", "step"),
        ("/api/scores", "series=live&series=x", "series"),
        ("/api/alerts", "limit=1&limit=2&limit=3", "limit"),
        ("/api/events", "kind=reading&kind=", "kind"),
    ],
)
def test_a_parameter_given_twice_is_refused(path: str, query: str, name: str) -> None:
    error = bad(path, query)
    assert error.parameter == name
    assert "once" in error.detail


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/api",
        "/api/",
        "/api/nope",
        "/API/scores",
        "/api/districts",
        f"/api/districts/{CODE}",
        f"/api/districts/{CODE}/now",
        f"{HISTORY}/extra",
        "/api/alerts/a/b",
        "/api/alerts//x",
        "/api/scores/now",
        "/api/events/1",
        "/history",
    ],
)
def test_an_unknown_route_is_not_found(path: str) -> None:
    error = bad(path, status=404)
    assert error.parameter is None
    assert "/api/scores" in error.detail


# --- every problem explains itself -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (HISTORY, "from=2026-11-24T12:00:00"),
        (HISTORY, "from=soon"),
        (HISTORY, "from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z"),
        ("/api/alerts", "from=2025-01-01T00:00:00Z"),
        (HISTORY, "step=5x"),
        (HISTORY, "step=1s"),
        ("/api/districts/0000000000/history", ""),
        ("/api/events", "district=0000000000"),
        (HISTORY, "domain=weather"),
        (HISTORY, "x=1"),
        (HISTORY, "step=1m&step=1m"),
        ("/api/alerts", "state=closed"),
        ("/api/events", "kind=x"),
        ("/api/events", "limit=0"),
        ("/api/events", "after=xyz"),
        ("/api/dead-letters", "error=oops"),
        ("/api/scores", "series=a%22b"),
        ("/api/nowhere", ""),
    ],
)
def test_every_problem_has_a_readable_detail(path: str, query: str) -> None:
    result = parse(path, query)
    assert isinstance(result, ApiProblem)
    assert result.status in {400, 404}
    detail = result.error.detail
    assert detail == detail.strip()
    assert len(detail) >= 20
    assert "\n" not in detail
    assert "Traceback" not in detail
    assert "_Bad" not in detail
    assert result.error == ApiError.model_validate_json(result.error.model_dump_json())


# --- what the database cannot take is a 400, not a 503 ------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "words"),
    [
        ("/api/scores", "at=0001-01-01T00:00:00%2B09:00", "year must lie in 1900..2999"),
        ("/api/scores", "at=9999-12-31T23:59:59-14:00", "year must lie in 1900..2999"),
        ("/api/events", "source=%00", "NUL"),
        ("/api/alerts/%00", "", "NUL"),
    ],
)
def test_values_postgresql_cannot_hold_are_refused(path: str, query: str, words: str) -> None:
    assert words in bad(path, query).detail
