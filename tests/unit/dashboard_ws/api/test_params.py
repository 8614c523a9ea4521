"""The history API's request parsing: typed requests, defaults, 4xx problems naming the fault."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import get_args
from urllib.parse import urlencode

import pytest

from dashboard_ws.api.params import (
    AlertHistoryRequest,
    AlertsRequest,
    ApiProblem,
    ApiRequest,
    DeadLettersRequest,
    EventsRequest,
    HistoryRequest,
    ScoresAtRequest,
    parse_request,
)
from streams.contract import ApiError, DeadLetterError
from streams.persistence import pages

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 14:00 in Seoul
DISTRICTS = frozenset({"4157056000", "4157051500"})
DOMAINS = frozenset({"composite", "safety", "fire", "group:natural"})
CODE = "4157056000"
HISTORY = f"/api/districts/{CODE}/history"
M = timedelta(minutes=1)


def parse(path: str, query: str | dict[str, str] = "") -> ApiRequest | ApiProblem:
    text = urlencode(query) if isinstance(query, dict) else query
    return parse_request(path, text, now=NOW, districts=DISTRICTS, domains=DOMAINS)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def bad(path: str, query: str | dict[str, str] = "", status: int = 400) -> ApiError:
    """The error of a request that must be refused with ``status``."""
    result = parse(path, query)
    assert isinstance(result, ApiProblem), result
    assert result.status == status
    assert result.error.error == ("not_found" if status == 404 else "bad_parameter")
    return result.error


# --- every route, defaults -------------------------------------------------------------------


def test_history_defaults_to_the_composite_over_the_last_day_by_minute() -> None:
    assert parse(HISTORY) == HistoryRequest(
        district=CODE,
        domain="composite",
        series="live",
        start=NOW - timedelta(hours=24),
        end=NOW,
        step=M,
    )


def test_history_takes_every_parameter() -> None:
    query = {
        "domain": "group:natural",
        "from": "2026-11-24T00:00:00+09:00",
        "to": "2026-11-25T00:00:00+09:00",
        "step": "5m",
        "series": "replay-2026.11@v2",
    }
    assert parse(HISTORY, query) == HistoryRequest(
        district=CODE,
        domain="group:natural",
        series="replay-2026.11@v2",
        start=datetime(2026, 11, 23, 15, tzinfo=UTC),
        end=datetime(2026, 11, 24, 15, tzinfo=UTC),
        step=timedelta(minutes=5),
    )


def test_history_path_may_end_with_a_slash() -> None:
    result = parse(HISTORY + "/")
    assert isinstance(result, HistoryRequest)
    assert result.district == CODE


def test_history_with_only_to_spans_the_day_before_it() -> None:
    to = datetime(2026, 11, 20, 12, tzinfo=UTC)
    result = parse(HISTORY, {"to": rfc3339(to)})
    assert isinstance(result, HistoryRequest)
    assert (result.start, result.end) == (to - timedelta(hours=24), to)


def test_history_with_only_from_runs_to_now() -> None:
    start = NOW - timedelta(hours=3)
    result = parse(HISTORY, {"from": rfc3339(start)})
    assert isinstance(result, HistoryRequest)
    assert (result.start, result.end) == (start, NOW)


def test_scores_default_to_now_on_the_live_series() -> None:
    assert parse("/api/scores") == ScoresAtRequest(at=NOW, series="live")


def test_scores_at_a_time_of_a_series() -> None:
    query = {"at": "2026-11-24T21:05:00+09:00", "series": "replay-1"}
    assert parse("/api/scores", query) == ScoresAtRequest(
        at=datetime(2026, 11, 24, 12, 5, tzinfo=UTC), series="replay-1"
    )


def test_alerts_default_to_the_last_week_any_state_any_district() -> None:
    assert parse("/api/alerts") == AlertsRequest(
        start=NOW - timedelta(days=7), end=NOW, state=None, district=None, limit=1000
    )


def test_alerts_take_every_parameter() -> None:
    query = {
        "state": "acknowledged",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-02T00:00:00Z",
        "district": "4157051500",
        "limit": "25",
    }
    assert parse("/api/alerts", query) == AlertsRequest(
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
        state="acknowledged",
        district="4157051500",
        limit=25,
    )


@pytest.mark.parametrize("state", ["pending", "firing", "acknowledged", "resolved"])
def test_every_alert_state_is_accepted(state: str) -> None:
    result = parse("/api/alerts", {"state": state})
    assert isinstance(result, AlertsRequest)
    assert result.state == state


def test_one_alert_by_id() -> None:
    assert parse("/api/alerts/a-17") == AlertHistoryRequest(alert_id="a-17")


@pytest.mark.parametrize(
    ("path", "alert_id"),
    [
        ("/api/alerts/fire%3A4157056000%3A1", "fire:4157056000:1"),
        ("/api/alerts/a%2Fb", "a/b"),
        ("/api/alerts/two%20words", "two words"),
        ("/api/alerts/%EC%9E%A5%EA%B8%B0", "장기"),
    ],
)
def test_alert_ids_are_url_decoded(path: str, alert_id: str) -> None:
    assert parse(path) == AlertHistoryRequest(alert_id=alert_id)


def test_events_default_to_the_last_day_any_kind_limit_1000() -> None:
    assert parse("/api/events") == EventsRequest(
        start=NOW - timedelta(hours=24), end=NOW, district=None, kind=None, limit=1000
    )


def test_events_take_every_parameter() -> None:
    query = {
        "district": CODE,
        "kind": "reading",
        "from": "2026-11-25T09:00:00+09:00",
        "to": "2026-11-25T10:00:00+09:00",
        "limit": "10000",
    }
    assert parse("/api/events", query) == EventsRequest(
        start=datetime(2026, 11, 25, 0, tzinfo=UTC),
        end=datetime(2026, 11, 25, 1, tzinfo=UTC),
        district=CODE,
        kind="reading",
        limit=10_000,
    )


@pytest.mark.parametrize("kind", ["incident", "reading", "safety"])
def test_every_event_kind_is_accepted(kind: str) -> None:
    result = parse("/api/events", {"kind": kind})
    assert isinstance(result, EventsRequest)
    assert result.kind == kind


@pytest.mark.parametrize("path", [HISTORY, "/api/events"])
def test_csv_is_asked_with_format(path: str) -> None:
    result = parse(path, {"format": "csv"})
    assert isinstance(result, HistoryRequest | EventsRequest)
    assert result.format == "csv"
    default = parse(path)
    assert isinstance(default, HistoryRequest | EventsRequest)
    assert default.format == "json"
    assert bad(path, {"format": "xlsx"}).parameter == "format"


@pytest.mark.parametrize("event_type", ["fire", "rainfall_mm_1h", "facility", "inspection"])
def test_events_by_type_and_source(event_type: str) -> None:
    result = parse("/api/events", {"type": event_type, "source": "gimpo-fire"})
    assert isinstance(result, EventsRequest)
    assert (result.type, result.source) == (event_type, "gimpo-fire")


@pytest.mark.parametrize(
    ("name", "value"), [("type", "volcano"), ("source", ""), ("source", "x" * 129)]
)
def test_a_bad_event_type_or_source_is_refused(name: str, value: str) -> None:
    assert bad("/api/events", {name: value}).parameter == name


def test_dead_letters_default_to_the_last_week_any_error_any_topic() -> None:
    assert parse("/api/dead-letters") == DeadLettersRequest(
        start=NOW - timedelta(days=7), end=NOW, error=None, topic=None, limit=1000
    )


def test_dead_letters_take_every_parameter() -> None:
    after = pages.encode(pages.DEAD_LETTER_KEY, (NOW, 2, "riskmon.incidents", 1, 77))
    query = {
        "error": "outside_city",
        "topic": "riskmon.incidents",
        "from": "2026-11-25T09:00:00+09:00",
        "to": "2026-11-25T10:00:00+09:00",
        "limit": "50",
        "after": after,
    }
    assert parse("/api/dead-letters", query) == DeadLettersRequest(
        start=datetime(2026, 11, 25, 0, tzinfo=UTC),
        end=datetime(2026, 11, 25, 1, tzinfo=UTC),
        error="outside_city",
        topic="riskmon.incidents",
        limit=50,
        after=(NOW, 2, "riskmon.incidents", 1, 77),
    )


@pytest.mark.parametrize("error", get_args(DeadLetterError))
def test_every_dead_letter_error_is_accepted(error: str) -> None:
    result = parse("/api/dead-letters", {"error": error})
    assert isinstance(result, DeadLettersRequest)
    assert result.error == error


@pytest.mark.parametrize("topic", ["", "a b", "x" * 250, "riskmon/incidents"])
def test_a_bad_topic_is_refused(topic: str) -> None:
    assert bad("/api/dead-letters", {"topic": topic}).parameter == "topic"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# --- page cursors -------------------------------------------------------------------------------


def test_an_events_cursor_is_read_back_into_its_key() -> None:
    key = (NOW, 3, "incident", "gimpo-fire", "F-1")
    result = parse("/api/events", {"after": pages.encode(pages.EVENT_KEY, key)})
    assert isinstance(result, EventsRequest)
    assert result.after == key


def test_an_alerts_cursor_is_read_back_into_its_key() -> None:
    key = (NOW, "4157056000:fire:spike:1")
    result = parse("/api/alerts", {"after": pages.encode(pages.ALERT_KEY, key)})
    assert isinstance(result, AlertsRequest)
    assert result.after == key


@pytest.mark.parametrize(
    ("path", "shape", "key"),
    [
        ("/api/events", pages.ALERT_KEY, (NOW, "a-1")),
        ("/api/alerts", pages.EVENT_KEY, (NOW, 1, "incident", "s", "i")),
        ("/api/dead-letters", pages.EVENT_KEY, (NOW, 1, "incident", "s", "i")),
    ],
)
def test_a_cursor_of_another_route_is_refused(
    path: str, shape: pages.KeyShape, key: tuple[object, ...]
) -> None:
    error = bad(path, {"after": pages.encode(shape, key)})  # type: ignore[arg-type]
    assert error.parameter == "after"
    assert "another route" in error.detail


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a cursor",
        "%%%",
        b64(b"[1, 2]"),
        b64(b'{"events": 1}'),
        b64(b'["events", "2026-11-25T05:00:00", 1, "k", "s", "i"]'),
        b64(b'["events", "2026-11-25T05:00:00Z", true, "k", "s", "i"]'),
        b64(b'["events", "2026-11-25T05:00:00Z", 1, "k", "s"]'),
        b64(b'["events", "soon", 1, "k", "s", "i"]'),
        b64(b"\xff\xfe"),
    ],
)
def test_a_damaged_cursor_is_a_bad_parameter_not_a_crash(token: str) -> None:
    error = bad("/api/events", {"after": token})
    assert error.parameter == "after"
    assert "next" in error.detail


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
