"""재난문자 (MOIS DSSP-IF-00247) responses → incidents: places, types, steps, reasons."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from streams.adapters import AdapterRefused, Jurisdiction, convert_mois
from streams.adapters.mois import SOURCE
from tests.cities import exact_gimpo
from tests.unit.streams.adapters.samples import (
    LEGACY,
    POLL_1,
    POLL_2,
    gimpo,
    mois_response,
    row,
)

JANGGI, GURAE, MASAN = "4157056000", "4157057000", "4157057500"


def verdicts(conversion: object) -> dict[str, tuple[str, str]]:
    return {
        r.where.split(" ")[-1]: (r.verdict, r.detail)
        for r in conversion.readings  # type: ignore[attr-defined]
    }


def test_every_message_of_a_poll_is_accounted_for() -> None:
    result = convert_mois(POLL_1, gimpo())
    seen = verdicts(result)
    assert len(result.readings) == 12
    assert result.counts == {
        "incident": 4, "skipped": 1, "unmapped": 5, "no-effect": 1, "duplicate": 1,
    }  # fmt: skip
    assert seen["SN=216003"] == ("skipped", "not for 김포시: 경기도 고양시")
    assert seen["SN=216004"] == ("unmapped", "unknown disaster type DST_SE_NM='우주쓰레기'")
    assert seen["SN=216005"][0] == "unmapped"
    assert "CRT_DT" in seen["SN=216005"][1]
    assert seen["body[5]"] == ("unmapped", "expected an object, got str")
    assert seen["SN=216006"][0] == "no-effect"
    assert seen["SN=216007"] == (
        "unmapped", "경기도 김포시 없는동: no district of 김포시 is named 없는동",
    )  # fmt: skip
    assert seen["SN=216010"] == ("unmapped", "unknown step EMRG_STEP_NM='주의단계'")


def test_whole_city_one_dong_and_several_regions() -> None:
    result = convert_mois(POLL_1, gimpo())
    by_message: dict[str, list[object]] = {}
    for incident in result.incidents:
        by_message.setdefault(incident.id.split("@")[0], []).append(incident)
    city = exact_gimpo()
    assert sorted(i.code for i in by_message["216001"]) == list(city.codes)  # type: ignore[attr-defined]
    flood = by_message["216001"][0]
    assert (flood.type, flood.severity, flood.source) == ("flood", 4, SOURCE)  # type: ignore[attr-defined]
    assert flood.occurred_at == datetime.fromisoformat("2025-07-17T06:41:11+09:00")  # type: ignore[attr-defined]
    assert flood.occurred_at.utcoffset().total_seconds() == 9 * 3600  # type: ignore[attr-defined]
    fire = by_message["216002"]
    assert [(i.id, i.code, i.type, i.severity) for i in fire] == [  # type: ignore[attr-defined]
        (f"216002@{JANGGI}", JANGGI, "fire", 2)
    ]
    wildfire = by_message["216008"]  # Incheon's part is not ours, two 동 of Gimpo are
    assert [(i.code, i.severity) for i in wildfire] == [(GURAE, 5), (MASAN, 5)]  # type: ignore[attr-defined]
    assert len(by_message["216009"]) == len(city.codes)  # 경기도 전체
    assert by_message["216009"][0].type == "heat_illness"  # type: ignore[attr-defined]
    assert set(by_message) == {"216001", "216002", "216008", "216009"}


def test_a_repoll_makes_the_same_ids() -> None:
    first = {i.id: i for i in convert_mois(POLL_1, gimpo()).incidents}
    second = convert_mois(POLL_2, gimpo())
    again = [i for i in second.incidents if i.id in first]
    assert [i.id for i in again] == [f"216008@{GURAE}", f"216008@{MASAN}"]
    assert all(i == first[i.id] for i in again)  # identical: the worker counts (source, id) once
    new = [i for i in second.incidents if i.id not in first]
    assert [(i.id, i.type) for i in new] == [("216011@4157054000", "traffic_accident")]


def test_the_retired_api_is_read_but_not_guessed() -> None:
    result = convert_mois(LEGACY, gimpo())
    assert result.incidents == []
    [reading] = result.readings
    assert reading.verdict == "unmapped"
    assert "not guessed" in reading.detail


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>503</html>", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "expected a JSON object"),
        (b'{"foo": 1}', "neither"),
        (mois_response(code="30"), "resultCode 30"),
        (b" " * 5_000_001, "more than"),
    ],
)
def test_unreadable_responses_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AdapterRefused, match=reason):
        convert_mois(body, gimpo())


def test_no_data_is_an_empty_poll() -> None:
    assert convert_mois(mois_response(code="03"), gimpo()).readings == []
    empty = json.dumps({"header": {"resultCode": "00"}, "body": []}).encode()
    assert convert_mois(empty, gimpo()).incidents == []


def test_another_city_reads_the_same_messages_differently() -> None:
    goyang = Jurisdiction(("경기도", "경기"), "고양시", {"주엽1동": "4128152000"})
    result = convert_mois(
        mois_response(row("1", "경기도 고양시"), row("2", "경기도 김포시")), goyang
    )
    assert [r.verdict for r in result.readings] == ["incident", "skipped"]
    assert [i.id for i in result.incidents] == ["1@4128152000"]


def test_jurisdiction_needs_a_korean_name_or_a_region() -> None:
    city = exact_gimpo()
    assert Jurisdiction.of(city).provinces[0] == "경기도"
    assert Jurisdiction.of(city, "경기도 김포시").city == "김포시"
    from streams.city.map import CityMap

    unnamed = CityMap("gimpo", list(city.districts.values()))
    with pytest.raises(ValueError, match="give the region"):
        Jurisdiction.of(unnamed)
    with pytest.raises(ValueError, match="expected"):
        Jurisdiction.of(unnamed, "김포시")
