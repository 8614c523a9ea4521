"""행정안전부 긴급재난문자 (MOIS cell-broadcast disaster messages) → riskmon incidents.

Two response shapes are read, both JSON as the APIs return it (the bytes of the body):

* the current API, safetydata.go.kr ``DSSP-IF-00247`` (행정안전부_긴급재난문자,
  data.go.kr 15134001):
  ``{"header": {"resultCode": "00", ...}, "totalCount": N, "body": [ROW, ...]}`` with rows of
  ``SN`` (일련번호), ``CRT_DT`` (생성일시, ``YYYY/MM/DD HH:MM:SS`` local), ``MSG_CN`` (내용),
  ``RCPTN_RGN_NM`` (수신지역명, several joined by ``,``), ``EMRG_STEP_NM`` (긴급단계:
  위급재난, 긴급재난, 안전안내), ``DST_SE_NM`` (재해구분: 호우, 태풍 ...), ``REG_YMD``,
  ``MDFCN_YMD``;
* the retired data.go.kr 재난문자방송 발령현황 (3058822, 15091495): ``{"DisasterMsg": [{"head":
  [...]}, {"row": [ROW, ...]}]}`` with ``md101_sn``, ``create_date``, ``location_id``,
  ``location_name``, ``msg``, ``send_platform``. It has no disaster type and no step, so its
  rows are read and reported as unmapped: the type is never guessed from the text.

Each row becomes one :class:`~streams.contract.Incident` per district it covers: source
``mois-cbs``, id ``SN@DISTRICT`` (a re-poll makes the same ids, which the worker counts once),
type from ``DST_SE_NM`` through :func:`~streams.adapters.common.disaster_type`, severity from
the step (:data:`STEP_SEVERITY`), time ``CRT_DT`` in KST (+09:00).
"""

from __future__ import annotations

from typing import Any, Final

from streams.adapters.common import (
    DEFAULT_MAX_BYTES,
    AdapterRefused,
    Conversion,
    Jurisdiction,
    Reading,
    disaster_type,
    kst,
    load_json,
    text_of,
)
from streams.contract import Incident

__all__ = ["SOURCE", "STEP_SEVERITY", "convert_mois", "rows_of"]

SOURCE: Final = "mois-cbs"
TIME_FORMATS: Final = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
# 긴급단계 -> severity (1..5): 위급재난 (war, air raid; cannot be refused on phones) 5,
# 긴급재난 (a disaster under way: evacuate, take shelter) 4, 안전안내 (take care) 2.
STEP_SEVERITY: Final = {"위급재난": 5, "긴급재난": 4, "안전안내": 2}
_OK_CODES: Final = frozenset({"00", "0", "INFO-0", "INFO-000"})
_NO_DATA: Final = frozenset({"03", "INFO-200"})


def rows_of(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, list[Any]]:
    """(``"v2"`` or ``"legacy"``, the rows) of a response body; raises AdapterRefused."""
    doc = load_json(data, max_bytes=max_bytes)
    if not isinstance(doc, dict):
        raise AdapterRefused("expected a JSON object")
    if "header" in doc or "body" in doc:
        header = doc.get("header") or {}
        code = str(header.get("resultCode", "00")) if isinstance(header, dict) else "?"
        body = doc.get("body")
        if code in _NO_DATA or (body is None and code in _OK_CODES):
            return "v2", []
        if code not in _OK_CODES:
            said = (
                header.get("errorMsg") or header.get("resultMsg")
                if isinstance(header, dict)
                else ""
            )
            raise AdapterRefused(f"the API answered resultCode {code}: {said}")
        if not isinstance(body, list):
            raise AdapterRefused("body: expected a list of messages")
        return "v2", body
    for key, value in doc.items():
        if key.startswith("DisasterMsg") and isinstance(value, list):
            rows: list[Any] = []
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("row"), list):
                    rows += part["row"]
                if isinstance(part, dict) and isinstance(part.get("head"), list):
                    for entry in part["head"]:
                        result = entry.get("RESULT") if isinstance(entry, dict) else None
                        code = str(result.get("resultCode", "")) if isinstance(result, dict) else ""
                        if code and code not in _OK_CODES and code not in _NO_DATA:
                            raise AdapterRefused(f"the API answered resultCode {code}")
            return "legacy", rows
    if "RESULT" in doc and isinstance(doc["RESULT"], dict):
        raise AdapterRefused(
            f"the API answered {doc['RESULT'].get('CODE', '?')}: {doc['RESULT'].get('MESSAGE', '')}"
        )
    raise AdapterRefused("neither a DSSP-IF-00247 response (header/body) nor a DisasterMsg one")


def convert_mois(
    data: bytes, place: Jurisdiction, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Conversion:
    """The incidents of one response body (see the module's docstring); raises AdapterRefused
    when the body cannot be read at all. Every row is accounted for in ``readings``."""
    shape, rows = rows_of(data, max_bytes=max_bytes)
    out = Conversion()
    seen: set[str] = set()
    for i, row in enumerate(rows):
        where = f"{'body' if shape == 'v2' else 'row'}[{i}]"
        if not isinstance(row, dict):
            out.read(Reading(where, "unmapped", f"expected an object, got {type(row).__name__}"))
            continue
        try:
            if shape == "legacy":
                sn = text_of(row.get("md101_sn"), "md101_sn", max_length=64)
                where += f" md101_sn={sn}"
                kst(text_of(row.get("create_date"), "create_date"), TIME_FORMATS, "create_date")
                text_of(row.get("location_name"), "location_name", max_length=2000)
                out.read(
                    Reading(
                        where,
                        "unmapped",
                        "the retired 재난문자방송 발령현황 API gives no "
                        "disaster type or step; the type is not guessed from the text: "
                        "poll DSSP-IF-00247",
                    )
                )
                continue
            sn = text_of(row.get("SN"), "SN", max_length=64)
            where += f" SN={sn}"
            at = kst(text_of(row.get("CRT_DT"), "CRT_DT"), TIME_FORMATS, "CRT_DT")
            regions = text_of(row.get("RCPTN_RGN_NM"), "RCPTN_RGN_NM", max_length=4000)
            step = text_of(row.get("EMRG_STEP_NM"), "EMRG_STEP_NM").removesuffix("문자")
            kind = text_of(row.get("DST_SE_NM"), "DST_SE_NM")
            message = row.get("MSG_CN")
            message = message.strip() if isinstance(message, str) else ""
        except ValueError as exc:
            out.read(Reading(where, "unmapped", str(exc)))
            continue
        if sn in seen:
            out.read(Reading(where, "duplicate", "the same SN came before in this response"))
            continue
        seen.add(sn)
        codes: set[str] = set()
        elsewhere: list[str] = []
        unplaced: list[str] = []
        for region in (r.strip() for r in regions.split(",")):
            placed = place.place(region)
            codes.update(placed.codes)
            if placed.reason is not None:
                (elsewhere if placed.elsewhere else unplaced).append(placed.reason)
        if not codes:
            if unplaced:
                out.read(Reading(where, "unmapped", "; ".join(unplaced)))
            else:
                out.read(Reading(where, "skipped", f"not for {place.city}: {regions}"))
            continue
        known, incident_type = disaster_type(kind)
        if not known:
            out.read(Reading(where, "unmapped", f"unknown disaster type DST_SE_NM={kind!r}"))
            continue
        if step not in STEP_SEVERITY:
            out.read(Reading(where, "unmapped", f"unknown step EMRG_STEP_NM={step!r}"))
            continue
        if incident_type is None:
            out.read(Reading(where, "no-effect", f"{kind}: a type riskmon's indices do not count"))
            continue
        description = f"[{step}·{kind}] {message}"[:2000]
        made = [
            Incident(
                id=f"{sn}@{code}",
                source=SOURCE,
                type=incident_type,
                severity=STEP_SEVERITY[step],
                occurred_at=at,
                code=code,
                description=description,
            )
            for code in sorted(codes)
        ]
        out.incidents += made
        note = (
            f"{kind} → {incident_type}, {step} → severity {STEP_SEVERITY[step]}, "
            f"{len(made)} district(s)"
        )
        if unplaced:
            note += f"; not placed: {'; '.join(unplaced)}"
        out.read(Reading(where, "incident", note, tuple(m.id for m in made)))
    return out
