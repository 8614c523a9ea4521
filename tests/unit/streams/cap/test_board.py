"""The CAP overlay: every alert in effect over the city, mapped to an index or not, with its area;
Update and Cancel in any order; expiry; alerts elsewhere left out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.cap.board import CapBoard
from streams.city.config import default_city_config
from streams.city.map import CityMap

from .spec_examples import gimpo_alert

NOW = datetime(2026, 7, 15, 5, 10, tzinfo=UTC)
KMA = "kma@korea.kr"
JANGGI = "4157056000"


@pytest.fixture(scope="module")
def city() -> CityMap:
    return default_city_config().city


def geocode(code: str) -> str:
    return f"<geocode><valueName>행정구역코드</valueName><value>{code}</value></geocode>"


def test_mapped_and_unmapped_alerts_are_both_shown_with_their_areas(city: CityMap) -> None:
    board = CapBoard(city)
    assert board.take(gimpo_alert("W1").encode(), NOW) == "read"
    quake = (
        gimpo_alert("Q1", event="지진 안내", area=geocode("4157000000"))
        .replace("<value>호우</value>", "<value>행사</value>")
        .replace("<category>Met</category>", "<category>Other</category>")
    )
    board.take(quake.encode(), NOW)
    features = board.feature_collection(NOW)["features"]
    by_id = {f["properties"]["identifier"]: f for f in features}
    assert by_id["W1"]["properties"]["mapped"] is True
    assert by_id["W1"]["properties"]["incident_type"] == "flood"
    assert by_id["W1"]["properties"]["districts"][0] == JANGGI
    assert by_id["Q1"]["properties"]["mapped"] is False
    assert len(by_id["Q1"]["properties"]["districts"]) == len(city.codes)  # all of 김포시
    assert by_id["W1"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    json.dumps(features)  # plain JSON


def test_cancel_and_update_in_any_order_and_expiry(city: CityMap) -> None:
    cancel = gimpo_alert(
        "W2", msg_type="Cancel", sent="2026-07-15T14:05:00+09:00",
        references=f"{KMA},W1,2026-07-15T14:00:00+09:00",
    )  # fmt: skip
    for order in ([gimpo_alert("W1"), cancel], [cancel, gimpo_alert("W1")]):
        board = CapBoard(city)
        for xml in order:
            board.take(xml.encode(), NOW)
        assert board.feature_collection(NOW)["features"] == []
    board = CapBoard(city)
    board.take(gimpo_alert("W1").encode(), NOW)
    assert len(board.feature_collection(NOW)["features"]) == 1
    assert board.feature_collection(NOW + timedelta(hours=7))["features"] == []  # expired


def test_elsewhere_and_unreadable_messages_are_counted_not_shown(city: CityMap) -> None:
    board = CapBoard(city)
    busan = gimpo_alert("B1", area=geocode("2600000000"))
    assert board.take(busan.encode(), NOW) == "read"
    assert board.take(b"<!DOCTYPE x><alert/>", NOW) == "refused"
    assert board.feature_collection(NOW)["features"] == []
    assert board.counts == {"read": 1, "outside_city": 1, "refused": 1}
