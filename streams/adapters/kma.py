"""기상청 기상특보 조회서비스 (KMA weather warnings, data.go.kr 15000415) → riskmon incidents.

Reads the body of ``getWthrWrnMsg`` (특보 통보문) as the API returns it, JSON (``dataType=JSON``)
or XML (the default), ``response/header/resultCode`` and ``response/body/items/item``:

* ``stnId`` (발표관서), ``tmFc`` (발표시각 ``YYYYMMDDHHMM``, local), ``tmSeq`` (발표번호, monthly):
  together the message's identity;
* ``t1`` (제목, e.g. ``o 호우주의보 발표``, ``o 호우주의보 → 호우경보 변경``,
  ``o 강풍주의보 해제``);
* ``t2`` (해당구역, e.g. ``o 경기도(김포, 파주), 인천``; per warning as
  ``o 호우경보 : 경기도(김포)`` when the title names several); ``t3`` (발효시각), ``t4`` (내용)
  and the rest are kept as text.

``getWthrWrnList`` entries (``title``, ``stnId``, ``tmFc``, ``tmSeq``) name no area: they are
reported, with the keys to read their 통보문 by, never placed. XML goes through
:func:`streams.cap.parse.safe_xml` (no DTD, entity, network or XInclude; size-capped).

Per warning of a message (kind ``호우`` + level ``주의보``/``경보``):

* 발표 (issued) or the new level of a 변경 (changed): one :class:`~streams.contract.Incident` per
  district it covers, source ``kma-warning``, id ``STN-TMFC-SEQ-호우경보@DISTRICT``, severity
  :data:`LEVEL_SEVERITY`, time ``tmFc`` in KST (+09:00);
* 해제 (lifted), and the old level of a 변경: a :class:`~streams.adapters.common.Lift`; when the
  warning it ends was issued in the same response, an
  :class:`~streams.contract.IncidentWithdrawal` of each of its incidents (reported: ``riskmon
  publish`` does not send withdrawals, see docs/agencies.md);
* 연장/유지 (extended) and 예비특보 (preliminary): reported, no incident (the warning was counted
  when issued; a preliminary warning is not yet one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from lxml import etree

from streams.adapters.common import (
    DEFAULT_MAX_BYTES,
    AdapterRefused,
    Conversion,
    Jurisdiction,
    Lift,
    Reading,
    disaster_type,
    kst,
    load_json,
    text_of,
)
from streams.cap.errors import CapRefused
from streams.cap.parse import safe_xml
from streams.contract import Incident, IncidentWithdrawal

__all__ = ["LEVEL_SEVERITY", "SOURCE", "KmaWarning", "areas_cover", "convert_kma", "items_of"]

SOURCE: Final = "kma-warning"
LEVEL_SEVERITY: Final = {"주의보": 3, "경보": 4}
_OK: Final = frozenset({"00", "0"})
_NO_DATA: Final = "03"
_PAIR: Final = re.compile(r"([가-힣]+?)(예비특보|주의보|경보)")
_ACTIONS: Final = ("해제", "변경", "대치", "발표", "연장", "유지")
_BULLET: Final = re.compile(r"^\s*(?:o|○|ㅇ|-|\*|\(\d+\))\s*")


@dataclass(frozen=True)
class KmaWarning:
    """One warning of a title: ``호우`` + ``경보``, what happened to it."""

    kind: str
    level: str
    action: str

    @property
    def name(self) -> str:
        return f"{self.kind}{self.level}"


def _lines(text: str) -> list[str]:
    return [_BULLET.sub("", line).strip() for line in text.splitlines() if line.strip()]


def warnings_of(title: str) -> list[KmaWarning]:
    """The warnings a ``t1`` names.

    >>> title = "o 호우주의보 → 호우경보 변경, 강풍주의보 해제"
    >>> [w.name + " " + w.action for w in warnings_of(title)]
    ['호우주의보 해제', '호우경보 발표', '강풍주의보 해제']
    """
    found: list[KmaWarning] = []
    for line in _lines(title):
        for entry in re.split(r"[,·]", line):
            pairs = _PAIR.findall(entry)
            action = next((a for a in _ACTIONS if a in entry), "")
            if action in ("변경", "대치") and len(pairs) >= 2:
                found += [KmaWarning(k, lvl, "해제") for k, lvl in pairs[:-1]]
                found.append(KmaWarning(pairs[-1][0], pairs[-1][1], "발표"))
                continue
            found += [KmaWarning(k, lvl, action) for k, lvl in pairs]
    return found


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


_AREA: Final = re.compile(r"^([^()]+?)\s*(?:\((.*)\))?$")


def areas_cover(text: str, place: Jurisdiction) -> bool | None:
    """Does a 특보구역 list (``경기도(김포, 파주), 인천``) cover the city? None: nothing in it
    could be read as a 시·도.

    >>> gimpo = Jurisdiction(("경기도", "경기"), "김포시", {})
    >>> areas_cover("경기도(김포, 고양)", gimpo), areas_cover("경기도(고양)", gimpo)
    (True, False)
    >>> areas_cover("경기도(김포 제외)", gimpo), areas_cover("서울특별시, 경기도", gimpo)
    (False, True)
    """
    read_any = False
    for part in _split_top(text):
        match = _AREA.match(part)
        if match is None:
            continue
        read_any = True
        province, inner = match.group(1).strip(), match.group(2)
        if not place.is_province(province):
            continue
        if inner is None:
            return True
        names = [n.strip() for n in re.split(r"[,·]", inner.replace("제외", "")) if n.strip()]
        if "제외" in inner:
            if not any(place.is_city(n) for n in names):
                return True
        elif any(place.is_city(n) for n in names):
            return True
    return False if read_any else None


def _areas_by_warning(t2: str) -> tuple[str, dict[str, str]]:
    """(the text for every warning, {warning name: its own text}) of a ``t2``."""
    shared: list[str] = []
    own: dict[str, str] = {}
    for line in _lines(t2):
        head, sep, tail = line.partition(":")
        names = [f"{k}{lvl}" for k, lvl in _PAIR.findall(head)] if sep else []
        if names:
            for name in names:
                own[name] = ", ".join(filter(None, (own.get(name), tail.strip())))
        else:
            shared.append(line)
    return ", ".join(shared), own


def items_of(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Any]:
    """The ``item`` s of a response body, JSON or XML (the first byte that is not blank or a
    byte order mark decides); raises AdapterRefused."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _xml_items(data, max_bytes)
    doc = load_json(data, max_bytes=max_bytes)
    response = doc.get("response") if isinstance(doc, dict) else None
    if not isinstance(response, dict):
        raise AdapterRefused('expected {"response": {"header": ..., "body": ...}}')
    header = response.get("header") or {}
    code = str(header.get("resultCode", "")) if isinstance(header, dict) else ""
    if code == _NO_DATA:
        return []
    if code not in _OK:
        raise AdapterRefused(
            f"the API answered resultCode {code or '?'}: "
            f"{header.get('resultMsg', '') if isinstance(header, dict) else ''}"
        )
    body = response.get("body") or {}
    items = body.get("items") if isinstance(body, dict) else None
    if items in (None, ""):
        return []
    item = items.get("item") if isinstance(items, dict) else None
    if item is None:
        return []
    return item if isinstance(item, list) else [item]


def _xml_items(data: bytes, max_bytes: int) -> list[Any]:
    try:
        root = safe_xml(data, max_bytes=max_bytes)
    except CapRefused as exc:
        raise AdapterRefused(str(exc)) from exc
    if root.tag == "OpenAPI_ServiceResponse":  # the data.go.kr gateway's own errors
        reason = root.findtext(".//returnAuthMsg") or root.findtext(".//errMsg") or "?"
        raise AdapterRefused(f"the data.go.kr gateway answered {reason.strip()}")
    if root.tag != "response":
        raise AdapterRefused(f"expected <response>, got <{root.tag}>")
    code = (root.findtext("header/resultCode") or "").strip()
    if code == _NO_DATA:
        return []
    if code not in _OK:
        said = (root.findtext("header/resultMsg") or "").strip()
        raise AdapterRefused(f"the API answered resultCode {code or '?'}: {said}")
    items: list[Any] = []
    for item in root.iterfind("body/items/item"):
        fields: dict[str, str] = {}
        for child in item:
            if isinstance(child.tag, str):
                fields[etree.QName(child).localname] = child.text or ""
        items.append(fields)
    return items


@dataclass(frozen=True)
class _Message:
    where: str
    key: str
    at: datetime
    warnings: list[KmaWarning]
    shared: str
    own: dict[str, str]
    text: str


def _read(where: str, item: Mapping[str, Any]) -> _Message | Reading:
    try:
        stn = text_of(item.get("stnId"), "stnId", max_length=8)
        tm_fc = text_of(item.get("tmFc"), "tmFc", max_length=14)
        seq = text_of(item.get("tmSeq"), "tmSeq", max_length=8)
        where += f" {stn}-{tm_fc}-{seq}"
        at = kst(tm_fc, ["%Y%m%d%H%M"], "tmFc")
        if "t1" not in item and "title" in item:
            title = text_of(item.get("title"), "title", max_length=400)
            return Reading(
                where,
                "unmapped",
                f"a getWthrWrnList entry ({title}) names no area: "
                f"read its 통보문, getWthrWrnMsg stnId={stn} tmFc={tm_fc} tmSeq={seq}",
            )
        t1 = text_of(item.get("t1"), "t1", max_length=1000)
        t2 = text_of(item.get("t2"), "t2", max_length=4000)
    except ValueError as exc:
        return Reading(where, "unmapped", str(exc))
    warnings = warnings_of(t1)
    if not warnings:
        return Reading(where, "unmapped", f"t1 names no 주의보/경보: {t1!r}")
    shared, own = _areas_by_warning(t2)
    body = " ".join(_lines(str(item.get("t4") or "")))
    return _Message(where, f"{stn}-{tm_fc}-{seq}", at, warnings, shared, own, f"{t1} {body}")


def convert_kma(
    data: bytes, place: Jurisdiction, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Conversion:
    """The incidents (and the lifts, reported) of one ``getWthrWrnMsg`` response body, read in
    the order the warnings were issued (``tmFc``, ``tmSeq``) whatever the response's order."""
    out = Conversion()
    messages: list[_Message] = []
    seen: set[str] = set()
    for i, item in enumerate(items_of(data, max_bytes=max_bytes)):
        if not isinstance(item, dict):
            out.read(
                Reading(f"item[{i}]", "unmapped", f"expected an object, got {type(item).__name__}")
            )
            continue
        read = _read(f"item[{i}]", item)
        if isinstance(read, Reading):
            out.read(read)
        elif read.key in seen:
            out.read(Reading(read.where, "duplicate", "the same stnId-tmFc-tmSeq came before"))
        else:
            seen.add(read.key)
            messages.append(read)
    messages.sort(key=lambda m: (m.at, m.key))
    live: dict[tuple[str, str], list[Incident]] = {}  # (warning name, district) -> incidents
    for message in messages:
        made: list[str] = []
        notes: list[str] = []
        verdict = "skipped"
        for warning in message.warnings:
            area = message.own.get(warning.name, message.shared)
            covered = areas_cover(area, place)
            if covered is None:
                notes.append(f"{warning.name}: area not read: {area!r}")
                verdict = "unmapped" if verdict == "skipped" else verdict
                continue
            if not covered:
                notes.append(f"{warning.name} {warning.action}: not for {place.city}")
                continue
            if warning.action == "해제":
                ended = [i for code in place.codes for i in live.pop((warning.name, code), [])]
                out.lifts.append(
                    Lift(
                        message.where,
                        warning.name,
                        place.codes,
                        message.at,
                        tuple(i.id for i in ended),
                    )
                )
                out.withdrawals += [
                    IncidentWithdrawal(
                        source=SOURCE,
                        id=i.id,
                        type=i.type,
                        withdrawn_at=message.at,
                        reason="cancelled",
                        by=f"{SOURCE},{message.key}",
                    )
                    for i in ended
                ]
                notes.append(
                    f"{warning.name} 해제: reported, not applied "
                    f"(ends {len(ended)} incident(s) of this response)"
                )
                verdict = "lifted" if verdict in ("skipped", "no-effect") else verdict
                continue
            if warning.level == "예비특보" or warning.action in ("연장", "유지", ""):
                what = (
                    "a preliminary warning"
                    if warning.level == "예비특보"
                    else (f"{warning.action or 'no action word'}: counted when issued")
                )
                notes.append(f"{warning.name}: {what}")
                verdict = "no-effect" if verdict == "skipped" else verdict
                continue
            known, incident_type = disaster_type(warning.kind)
            if not known:
                notes.append(f"{warning.name}: unknown warning kind {warning.kind!r}")
                verdict = "unmapped" if verdict in ("skipped", "no-effect") else verdict
                continue
            if incident_type is None:
                notes.append(f"{warning.name}: a type riskmon's indices do not count")
                verdict = "no-effect" if verdict == "skipped" else verdict
                continue
            for code in place.codes:
                incident = Incident(
                    id=f"{message.key}-{warning.name}@{code}",
                    source=SOURCE,
                    type=incident_type,
                    severity=LEVEL_SEVERITY[warning.level],
                    occurred_at=message.at,
                    code=code,
                    description=message.text[:2000],
                )
                out.incidents.append(incident)
                live.setdefault((warning.name, code), []).append(incident)
                made.append(incident.id)
            notes.append(
                f"{warning.name} → {incident_type}, severity "
                f"{LEVEL_SEVERITY[warning.level]}, {len(place.codes)} district(s)"
            )
            verdict = "incident"
        out.read(Reading(message.where, verdict, "; ".join(notes), tuple(made)))  # type: ignore[arg-type]
    return out
