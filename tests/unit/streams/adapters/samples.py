"""Sample responses of the Korean public alert APIs, written for these tests from the documented
fields (docs/agencies.md, "Korean public alert APIs"); the messages are invented."""

from __future__ import annotations

import json
from typing import Any

from streams.adapters import Jurisdiction
from tests.cities import exact_gimpo


def gimpo() -> Jurisdiction:
    return Jurisdiction.of(exact_gimpo())  # "Gimpo-si 김포시", codes 41570...: 경기도 김포시


def row(sn: str, regions: str, kind: str = "호우", step: str = "긴급재난", **extra: Any) -> Any:
    return {
        "SN": sn,
        "CRT_DT": "2025/07/17 06:41:11",
        "MSG_CN": f"[김포시] {kind} 관련 안내 ({sn})",
        "RCPTN_RGN_NM": regions,
        "EMRG_STEP_NM": step,
        "DST_SE_NM": kind,
        "REG_YMD": "2025-07-17",
        "MDFCN_YMD": "2025-07-17",
        **extra,
    }


def mois_response(*rows: Any, code: str = "00") -> bytes:
    return json.dumps(
        {
            "header": {"resultMsg": "NORMAL SERVICE", "resultCode": code, "errorMsg": None},
            "numOfRows": 100,
            "pageNo": 1,
            "totalCount": len(rows),
            "body": list(rows),
        },
        ensure_ascii=False,
    ).encode()


POLL_1 = mois_response(
    row("216001", "경기도 김포시", "호우", "긴급재난"),  # whole city: 14 incidents
    row("216002", "경기도 김포시 장기동", "화재", "안전안내"),  # one 동
    row("216003", "경기도 고양시", "호우"),  # another city: skipped
    row("216004", "경기도 김포시", "우주쓰레기", "안전안내"),  # unknown type
    {"SN": "216005", "CRT_DT": "17-07-2025", "RCPTN_RGN_NM": "경기도 김포시"},  # malformed
    "not an object",  # malformed
    row("216006", "경기도 김포시", "한파", "안전안내"),  # known, no index effect
    row("216007", "경기도 김포시 없는동", "화재"),  # a 동 Gimpo does not have
    row("216001", "경기도 김포시", "호우", "긴급재난"),  # duplicate SN in one response
    row("216008", "인천광역시 서구,경기도 김포시 구래동,경기도 김포시 마산동", "산불", "위급재난"),
    row("216009", "경기도 전체", "폭염", "안전안내"),  # the whole province covers Gimpo
    row("216010", "경기도 김포시", "호우", "주의단계"),  # unknown step
)

# the next poll returns 216008 again (the API pages by creation date) and one new message
POLL_2 = mois_response(
    row("216008", "인천광역시 서구,경기도 김포시 구래동,경기도 김포시 마산동", "산불", "위급재난"),
    row("216011", "경기도 김포시 사우동", "교통사고", "안전안내"),
)

LEGACY = json.dumps(
    {
        "DisasterMsg": [
            {"head": [{"totalCount": 1}, {"numOfRows": "10"}, {"pageNo": "1"}, {"type": "json"},
                      {"RESULT": {"resultCode": "INFO-0", "resultMsg": "NORMAL SERVICE"}}]},
            {"row": [{"create_date": "2025/07/17 06:41:11", "location_id": "137",
                      "location_name": "경기도 김포시", "md101_sn": "170001",
                      "msg": "[김포시] 호우경보 발효 중, 외출 자제", "send_platform": "cbs"}]},
        ]
    },
    ensure_ascii=False,
).encode()  # fmt: skip


def kma_item(stn: str, tm_fc: str, seq: int, t1: str, t2: str, **extra: Any) -> Any:
    return {
        "stnId": stn, "tmFc": int(tm_fc), "tmSeq": seq, "t1": t1, "t2": t2,
        "t3": f"o {tm_fc[:4]}년 {tm_fc[4:6]}월 {tm_fc[6:8]}일 {tm_fc[8:10]}시 {tm_fc[10:]}분",
        "t4": "o 시간당 30mm 이상의 강한 비", "t5": "", "t6": "", "t7": "o 없음", "other": "o 없음",
        **extra,
    }  # fmt: skip


def kma_response(*items: Any, code: str = "00") -> bytes:
    return json.dumps(
        {
            "response": {
                "header": {"resultCode": code, "resultMsg": "NORMAL_SERVICE"},
                "body": {
                    "dataType": "JSON",
                    "items": {"item": list(items)},
                    "pageNo": 1,
                    "numOfRows": 10,
                    "totalCount": len(items),
                },
            }
        },
        ensure_ascii=False,
    ).encode()


# newest first, as the API lists them: the adapter reads them in issue order
KMA = kma_response(
    kma_item("109", "202507171600", 31, "o 호우주의보 해제", "o 경기도(김포, 고양), 인천"),
    kma_item("109", "202507171000", 30, "o 호우주의보 → 호우경보 변경", "o 경기도(파주)"),
    kma_item("109", "202507170900", 29, "o 강풍주의보 발표", "o 경기도(김포 제외)"),
    kma_item("109", "202507170700", 28, "o 호우주의보 발표, 건조주의보 발표",
             "o 호우주의보 : 경기도(김포, 고양)\r\n o 건조주의보 : 강원도"),
    kma_item("109", "202507170600", 27, "o 호우예비특보 발표", "o 경기도"),
    kma_item("109", "202507170500", 26, "o 한파주의보 발표", "o 경기도"),
    kma_item("109", "202507170700", 28, "o 호우주의보 발표", "o 경기도(김포)"),  # duplicate
    {"stnId": "109", "tmFc": "2025-07-17", "tmSeq": 25, "t1": "o 호우주의보 발표",
     "t2": "o 경기도"},
    {"stnId": "109", "title": "[특보] 제07-24호 : 2025.07.17.04:00 / 호우주의보 발표(*)",
     "tmFc": 202507170400, "tmSeq": 24},
)  # fmt: skip
