"""기상특보 통보문 (KMA getWthrWrnMsg) responses, JSON and XML → incidents and reported 해제."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from streams.adapters import AdapterRefused, convert_kma
from streams.adapters.kma import SOURCE
from tests.cities import exact_gimpo
from tests.unit.streams.adapters.samples import KMA, gimpo, kma_item, kma_response


def test_a_response_is_read_in_issue_order() -> None:
    result = convert_kma(KMA, gimpo())
    seen = {r.where.split(" ")[-1]: (r.verdict, r.detail) for r in result.readings}
    assert len(result.readings) == 9
    assert seen["109-202507170700-28"][0] == "incident"
    assert "건조주의보 발표: not for 김포시" in seen["109-202507170700-28"][1]
    assert seen["109-202507170900-29"] == ("skipped", "강풍주의보 발표: not for 김포시")
    assert seen["109-202507171000-30"][0] == "skipped"  # 파주's upgrade
    assert seen["109-202507170600-27"] == ("no-effect", "호우예비특보: a preliminary warning")
    assert seen["109-202507170500-26"][0] == "no-effect"  # 한파: not counted
    assert seen["109-202507171600-31"][0] == "lifted"
    assert [r.verdict for r in result.readings if "item[6]" in r.where] == ["duplicate"]
    bad = next(r for r in result.readings if r.where.startswith("item[7]"))
    assert bad.verdict == "unmapped"
    assert bad.detail.startswith("tmFc '2025-07-17'")
    listed = next(r for r in result.readings if r.where.startswith("item[8]"))
    assert listed.verdict == "unmapped"
    assert "getWthrWrnMsg stnId=109" in listed.detail


def test_a_warning_over_gimpo_is_an_incident_per_district() -> None:
    result = convert_kma(KMA, gimpo())
    codes = exact_gimpo().codes
    assert [i.code for i in result.incidents] == list(codes)
    first = result.incidents[0]
    assert first.id == f"109-202507170700-28-호우주의보@{codes[0]}"
    assert (first.source, first.type, first.severity) == (SOURCE, "flood", 3)
    assert first.occurred_at == datetime.fromisoformat("2025-07-17T07:00:00+09:00")


def test_a_lift_ends_the_warning_it_lifts_and_is_reported() -> None:
    result = convert_kma(KMA, gimpo())
    [lift] = result.lifts
    assert lift.warning == "호우주의보"
    assert lift.ends == tuple(i.id for i in result.incidents)
    assert len(result.withdrawals) == len(exact_gimpo().codes)
    ended = result.withdrawals[0]
    assert (ended.source, ended.id, ended.reason) == (SOURCE, result.incidents[0].id, "cancelled")
    assert ended.withdrawn_at == datetime.fromisoformat("2025-07-17T16:00:00+09:00")
    assert ended.by == "kma-warning,109-202507171600-31"
    # a lift with nothing of this response to end is still reported
    alone = convert_kma(kma_response(kma_item("109", "202507180100", 1, "o 호우경보 해제",
                                              "o 경기도(김포)")), gimpo())  # fmt: skip
    assert [(r.verdict, lift.ends) for r in alone.readings for lift in alone.lifts] == [
        ("lifted", ())
    ]
    assert alone.withdrawals == []


def test_an_upgrade_over_gimpo_lifts_the_advisory_and_issues_the_warning() -> None:
    body = kma_response(
        kma_item("109", "202507170700", 28, "o 호우주의보 발표", "o 경기도(김포)"),
        kma_item("109", "202507171000", 30, "o 호우주의보 → 호우경보 변경", "o 경기도(김포, 파주)"),
    )
    result = convert_kma(body, gimpo())
    levels = sorted({(i.id.split("@")[0], i.severity) for i in result.incidents})
    assert levels == [("109-202507170700-28-호우주의보", 3), ("109-202507171000-30-호우경보", 4)]
    assert [lift.warning for lift in result.lifts] == ["호우주의보"]
    assert len(result.withdrawals) == len(exact_gimpo().codes)


XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<response><header><resultCode>00</resultCode><resultMsg>NORMAL_SERVICE</resultMsg></header>
<body><dataType>XML</dataType><items>
<item><stnId>109</stnId><tmFc>202508020300</tmFc><tmSeq>3</tmSeq>
<t1>o 대설경보 발표</t1><t2>o 경기도(김포, 강화), 인천</t2><t3>o 2025년 08월 02일 03시 00분</t3>
<t4>o 많은 눈</t4></item>
<item><stnId>109</stnId><tmFc>202508020400</tmFc><tmSeq>4</tmSeq>
<t1>o 풍랑주의보 발표</t1><t2>o 서해중부앞바다</t2></item>
</items><numOfRows>10</numOfRows><pageNo>1</pageNo><totalCount>2</totalCount></body></response>
""".encode()


def test_the_xml_variant_reads_the_same() -> None:
    result = convert_kma(XML, gimpo())
    assert {(i.type, i.severity) for i in result.incidents} == {("storm_damage", 4)}
    assert len(result.incidents) == len(exact_gimpo().codes)
    assert [r.verdict for r in result.readings] == ["incident", "skipped"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<response>&x;</response>",
            "DOCTYPE",
        ),
        (
            b"<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
            b"<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>"
            b"</cmmMsgHeader></OpenAPI_ServiceResponse>",
            "SERVICE_KEY_IS_NOT_REGISTERED_ERROR",
        ),
        (b"<response><header><resultCode>22</resultCode></header></response>", "resultCode 22"),
        (b"<rss/>", "expected <response>"),
        (b"<response><unclosed>", "not well-formed"),
        (kma_response(code="10"), "resultCode 10"),
        (b'{"items": []}', "expected"),
    ],
)
def test_unreadable_responses_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AdapterRefused, match=reason):
        convert_kma(body, gimpo())


def test_no_data_and_a_single_item_object() -> None:
    assert convert_kma(kma_response(code="03"), gimpo()).readings == []
    doc = json.loads(
        kma_response(kma_item("109", "202507170700", 28, "o 폭염경보 발표", "o 경기도"))
    )
    items = doc["response"]["body"]["items"]
    items["item"] = items["item"][0]  # one item comes as an object, not a list
    result = convert_kma(json.dumps(doc).encode(), gimpo())
    assert {i.type for i in result.incidents} == {"heat_illness"}
