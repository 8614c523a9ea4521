"""What the Korean public alert adapters share: where the city is, Korean local times, the
disaster-type table and the shape of a conversion's result.

* :class:`Jurisdiction` — the city as Korean alert texts name it: its 시·도 (``경기도``, also
  ``경기``), its 시·군·구 (``김포시``, also ``김포``) and its districts' Korean names.
  :meth:`Jurisdiction.place` reads one region name (``경기도 김포시``, ``경기도 김포시 장기동``,
  ``경기도 전체``, ``전국``) into the district codes it covers, or says why not.
* :func:`kst` — the APIs give local times without an offset; they are Korea Standard Time
  (Asia/Seoul, UTC+09:00, no daylight saving since 1988), and every time made here carries it.
* :func:`disaster_type` — a Korean disaster or warning name (``호우``, ``호우경보``) to riskmon's
  incident type, through :data:`streams.cap.mapping.KOREAN_EVENTS` (the CAP stage's table: one
  table for both ways in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final, Literal

from streams.cap.mapping import KOREAN_EVENTS
from streams.city.map import CityMap
from streams.contract import Incident, IncidentWithdrawal
from streams.errors import RiskmonError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KST",
    "PROVINCES",
    "AdapterRefused",
    "Conversion",
    "Jurisdiction",
    "Lift",
    "Placement",
    "Reading",
    "disaster_type",
    "kst",
]

DEFAULT_MAX_BYTES: Final = 4 << 20
KST: Final = timezone(timedelta(hours=9), "KST")

# 시·도 (first two digits of the 행정기관코드) -> the names alert texts use, full name first.
# The codes of 행정표준코드 (행정안전부); 강원 and 전북 kept both their old (42, 45) and new
# (51, 52) codes since they became 특별자치도 in 2023 and 2024.
PROVINCES: Final[dict[str, tuple[str, ...]]] = {
    "11": ("서울특별시", "서울시", "서울"),
    "26": ("부산광역시", "부산시", "부산"),
    "27": ("대구광역시", "대구시", "대구"),
    "28": ("인천광역시", "인천시", "인천"),
    "29": ("광주광역시", "광주시", "광주"),
    "30": ("대전광역시", "대전시", "대전"),
    "31": ("울산광역시", "울산시", "울산"),
    "36": ("세종특별자치시", "세종시", "세종"),
    "41": ("경기도", "경기"),
    "42": ("강원특별자치도", "강원도", "강원"),
    "43": ("충청북도", "충북"),
    "44": ("충청남도", "충남"),
    "45": ("전북특별자치도", "전라북도", "전북"),
    "46": ("전라남도", "전남"),
    "47": ("경상북도", "경북"),
    "48": ("경상남도", "경남"),
    "50": ("제주특별자치도", "제주도", "제주"),
    "51": ("강원특별자치도", "강원도", "강원"),
    "52": ("전북특별자치도", "전라북도", "전북"),
}
WHOLE: Final = frozenset({"전체", "전역", "일원", "전지역"})
NATION: Final = frozenset({"전국", "대한민국"})
_SUFFIXES: Final = ("예비특보", "주의보", "경보", "특보", "발생", "주의", "위험")
_CITY_WORD: Final = re.compile(r"[가-힣]+(?:시|군|구)")


class AdapterRefused(RiskmonError, ValueError):
    """A response that cannot be read at all (too big, not JSON/XML, an API error): nothing of
    it is converted. The message says why."""

    retriable = False


def kst(text: str, formats: Iterable[str], what: str = "time") -> datetime:
    """``text`` (a local time in one of ``formats``) as an aware datetime in KST.

    >>> kst("2025/07/17 06:41:11", ["%Y/%m/%d %H:%M:%S"]).isoformat()
    '2025-07-17T06:41:11+09:00'
    """
    value = text.strip()
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=KST)
        except ValueError:
            continue
    raise ValueError(f"{what} {text!r} is not in the documented format ({', '.join(formats)})")


def disaster_type(name: str) -> tuple[bool, str | None]:
    """(known, incident type) of a Korean disaster/warning name; ``known`` with None is a type
    riskmon does not count (지진, 한파, 감염병 ...).

    >>> disaster_type("호우경보"), disaster_type("한파"), disaster_type("우주전쟁")
    ((True, 'flood'), (True, None), (False, None))
    """
    key = name.replace(" ", "")
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and key != suffix:
            key = key.removesuffix(suffix)
            break
    return (key in KOREAN_EVENTS, KOREAN_EVENTS.get(key))


def _short(name: str) -> str:
    """김포시 -> 김포 (the 특보구역 and short forms drop the 시/군/구)."""
    return name[:-1] if len(name) > 2 and name[-1] in "시군구" else name


@dataclass(frozen=True)
class Placement:
    """Where one region name falls: the district codes it covers (empty when ``reason``)."""

    codes: tuple[str, ...] = ()
    reason: str | None = None
    elsewhere: bool = False  # another city or province: skipped, not an error


@dataclass(frozen=True)
class Jurisdiction:
    """The city as Korean alert texts name it (see the module's docstring)."""

    provinces: tuple[str, ...]
    city: str
    districts: dict[str, str]  # Korean name -> district code

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.districts.values())))

    @classmethod
    def of(cls, city: CityMap, region: str | None = None) -> Jurisdiction:
        """The jurisdiction of ``city``. ``region`` names it (``"경기도 김포시"``); without it the
        시·도 comes from the district codes and the 시·군·구 from a Korean word ending in 시, 군
        or 구 in the city's name. Raises ValueError when that is not enough."""
        prefixes = {code[:2] for code in city.codes}
        districts = {info.name_ko: code for code, info in city.districts.items()}
        if region is not None:
            words = region.split()
            if len(words) != 2:
                raise ValueError(
                    f"region {region!r}: expected '시·도 시·군·구', e.g. '경기도 김포시'"
                )
            names = next((n for n in PROVINCES.values() if words[0] in n), (words[0],))
            return cls(tuple(dict.fromkeys((words[0], *names))), words[1], districts)
        if len(prefixes) != 1 or next(iter(prefixes)) not in PROVINCES:
            raise ValueError(
                "the districts' codes do not name one 시·도: give the region, e.g. '경기도 김포시'"
            )
        found = _CITY_WORD.findall(city.name)
        if not found:
            raise ValueError(
                f"the city's name {city.name!r} has no Korean 시/군/구 name: give the region, "
                "e.g. '경기도 김포시'"
            )
        return cls(PROVINCES[next(iter(prefixes))], found[0], districts)

    def is_province(self, word: str) -> bool:
        return word in self.provinces

    def is_city(self, word: str) -> bool:
        return word in (self.city, _short(self.city))

    def place(self, region: str) -> Placement:
        """The districts one region name covers.

        ``전국`` and a whole 시·도 cover the city; ``시·도 시·군·구`` covers it when it is this city
        (``전체`` after it too), ``시·도 시·군·구 읍·면·동`` one district, by its Korean name. A
        district name the city does not have is a reason, never a guess."""
        words = region.split()
        if not words:
            return Placement(reason="empty region name")
        if words[0] in NATION and len(words) == 1:
            return Placement(self.codes)
        if not self.is_province(words[0]):
            return Placement(reason=f"{region}: another 시·도", elsewhere=True)
        rest = [w for w in words[1:] if w not in WHOLE]
        if not rest:
            return Placement(self.codes)
        if not self.is_city(rest[0]):
            return Placement(reason=f"{region}: another 시·군·구", elsewhere=True)
        if len(rest) == 1:
            return Placement(self.codes)
        if len(rest) == 2 and rest[1] in self.districts:
            return Placement((self.districts[rest[1]],))
        return Placement(
            reason=f"{region}: no district of {self.city} is named {' '.join(rest[1:])}"
        )


Verdict = Literal["incident", "lifted", "skipped", "unmapped", "duplicate", "no-effect"]


@dataclass(frozen=True)
class Reading:
    """What became of one message of a response: ``where`` names it (``body[3] SN=215001``)."""

    where: str
    verdict: Verdict
    detail: str
    incidents: tuple[str, ...] = ()  # ids made


@dataclass(frozen=True)
class Lift:
    """A KMA 해제 (a warning lifted): which warning, over which districts, when. ``ends`` are the
    (source, id) of incidents of the same response it ends."""

    where: str
    warning: str
    codes: tuple[str, ...]
    at: datetime
    ends: tuple[str, ...] = ()


@dataclass
class Conversion:
    """A response converted: incidents to publish, withdrawals a 해제 implies (reported, see
    docs/agencies.md), what became of every message, and counts by verdict."""

    incidents: list[Incident] = field(default_factory=list)
    withdrawals: list[IncidentWithdrawal] = field(default_factory=list)
    lifts: list[Lift] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def read(self, reading: Reading) -> None:
        self.readings.append(reading)
        self.counts[reading.verdict] = self.counts.get(reading.verdict, 0) + 1


def load_json(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> object:
    """A JSON response body (bytes, UTF-8 with or without BOM), size-capped before parsing."""
    import json

    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"pass the response's bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise AdapterRefused(f"{len(data)} bytes, more than the {max_bytes} allowed")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise AdapterRefused(f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise AdapterRefused(f"not JSON: {exc.msg} at line {exc.lineno}") from exc


def text_of(value: object, what: str, *, max_length: int = 200) -> str:
    """A field that must be a non-empty text (a number is read as its digits)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{what}: expected a text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what}: empty")
    if len(text) > max_length or "\x00" in text:
        raise ValueError(f"{what}: longer than {max_length} characters or has a NUL")
    return text
