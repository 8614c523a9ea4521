"""The history API's request parsing: every route's typed request and defaults, and page
cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from dashboard_ws.api.params import (
    AlertHistoryRequest,
    AlertsRequest,
    DeadLettersRequest,
    EventsRequest,
    HistoryRequest,
    ScoresAtRequest,
)
from streams.contract import DeadLetterError
from streams.persistence import pages
from tests.unit.dashboard_ws.api.support import (
    CODE,
    HISTORY,
    NOW,
    M,
    b64,
    bad,
    parse,
    rfc3339,
)

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
