"""CAP's words → riskmon's: which incident type (and so domain) an alert is, and how severe.

:func:`classify` looks, in this order, at

1. every ``eventCode`` of every ``info`` block (the languages describe one incident):
   ``SAME`` codes (the US EAS event codes, :data:`SAME_EVENTS`); the Korean disaster types
   (:data:`KOREAN_EVENTS`, under the value names of :data:`KOREAN_SCHEMES`), matched on the
   type's name with ``경보``/``주의보``/``특보`` stripped (``호우경보`` is ``호우``); and the
   OASIS Event Terms (:data:`EVENT_TERMS`, under value names starting with ``OET``) matched on
   the term's name;
2. the ``event`` text of each block, against the Korean types and the event terms;
3. the ``category`` (:data:`CATEGORY_TYPES`), only where one incident type is the right reading
   (``Fire`` is a fire; ``Geo`` could be an earthquake or a landslide, so it is not mapped).

No match, or a match to a kind of event riskmon does not count (an earthquake, an abduction, a
test), gives ``incident_type=None``: the alert is shown as an overlay without index effect.

Tables are written from the published lists: the SAME codes of 47 CFR §11.31 as NOAA lists them,
the Korean types as the 재난문자 (disaster text message) service and the 기상특보 (weather
warning) names spell them, and the OASIS Event Terms List's *term names*. The Event Terms List's
numeric ``OET-nnn`` codes are not in this table (their lookup table was not available to check
against when it was written); a value that is a term name matches, a bare code does not.

:func:`severity_of` turns severity, urgency and certainty into riskmon's 1..5, documented there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from indices.taxonomy import INCIDENT_TYPES
from streams.cap.model import CapAlert, CapInfo

__all__ = [
    "CATEGORY_TYPES",
    "EVENT_TERMS",
    "KOREAN_EVENTS",
    "SAME_EVENTS",
    "Classification",
    "classify",
    "severity_of",
]

# SAME event codes -> incident type (None: known, but not something riskmon's indices count).
SAME_EVENTS: Final[dict[str, str | None]] = {
    # floods and water
    "FFW": "flood", "FFA": "flood", "FFS": "flood", "FLW": "flood", "FLA": "flood",
    "FLS": "flood", "CFW": "flood", "CFA": "flood", "SSW": "flood", "SSA": "flood",
    "TSW": "flood", "TSA": "flood",
    # wind, storms, snow
    "SVR": "storm_damage", "SVA": "storm_damage", "SVS": "storm_damage", "TOR": "storm_damage",
    "TOA": "storm_damage", "HWW": "storm_damage", "HWA": "storm_damage", "EWW": "storm_damage",
    "HUW": "storm_damage", "HUA": "storm_damage", "HLS": "storm_damage", "TRW": "storm_damage",
    "TRA": "storm_damage", "BZW": "storm_damage", "WSW": "storm_damage", "WSA": "storm_damage",
    "SQW": "storm_damage", "DSW": "storm_damage", "SMW": "storm_damage",
    "SPS": "storm_damage",
    # heat, fire, slides, hazardous materials
    "EHW": "heat_illness", "EHA": "heat_illness",
    "FRW": "fire",
    "AVW": "landslide", "AVA": "landslide",
    "HMW": "gas_leak",
    # known, no index effect: earthquakes, civil and law-enforcement notices, nuclear and
    # radiological, shelter/evacuation orders (their cause is in another alert), tests
    "EQW": None, "CAE": None, "BLU": None, "LEW": None, "CDW": None, "CEM": None, "LAE": None,
    "EVI": None, "SPW": None, "NUW": None, "RHW": None, "VOW": None, "TOE": None, "ADR": None,
    "EAN": None, "NIC": None, "NPT": None, "RMT": None, "RWT": None, "DMO": None, "NMN": None,
    "NAT": None, "NST": None, "FSW": None, "FZW": None,
}  # fmt: skip

# Korean disaster types (재난 유형 / 기상특보 종류), by name.
KOREAN_EVENTS: Final[dict[str, str | None]] = {
    "호우": "flood", "홍수": "flood", "침수": "flood", "하천범람": "flood", "해일": "flood",
    "폭풍해일": "flood", "지진해일": "flood",
    "태풍": "storm_damage", "강풍": "storm_damage", "풍랑": "storm_damage",
    "대설": "storm_damage", "낙뢰": "storm_damage", "우박": "storm_damage",
    "폭염": "heat_illness",
    "산사태": "landslide", "토사유출": "landslide",
    "화재": "fire", "산불": "fire", "폭발": "explosion",
    "가스": "gas_leak", "가스사고": "gas_leak", "가스누출": "gas_leak",
    "붕괴": "building_collapse", "건축물붕괴": "building_collapse",
    "싱크홀": "sinkhole", "지반침하": "sinkhole", "상수도관파열": "water_main_break",
    "교통": "traffic_accident", "교통사고": "traffic_accident",
    # known, no index effect
    "지진": None, "한파": None, "건조": None, "황사": None, "미세먼지": None, "초미세먼지": None,
    "안개": None, "정전": None, "감염병": None, "실종": None, "테러": None, "민방공": None,
    "훈련": None, "기타": None,
}  # fmt: skip
KOREAN_SCHEMES: Final = frozenset({"재난유형", "재난구분", "재해구분", "특보종류", "DST_SE_NM"})
_KOREAN_SUFFIXES: Final = ("예비특보", "주의보", "경보", "특보", "발생", "주의", "위험")

# OASIS Event Terms (term names, lower case) -> incident type.
EVENT_TERMS: Final[dict[str, str | None]] = {
    "flood": "flood", "flash flood": "flood", "coastal flood": "flood", "river flood": "flood",
    "storm surge": "flood", "tsunami": "flood", "heavy rain": "flood", "rainfall": "flood",
    "landslide": "landslide", "mudslide": "landslide", "debris flow": "landslide",
    "avalanche": "landslide",
    "thunderstorm": "storm_damage", "severe thunderstorm": "storm_damage",
    "tornado": "storm_damage", "high wind": "storm_damage", "wind": "storm_damage",
    "strong wind": "storm_damage", "typhoon": "storm_damage", "hurricane": "storm_damage",
    "tropical storm": "storm_damage", "tropical cyclone": "storm_damage",
    "winter storm": "storm_damage", "blizzard": "storm_damage", "snow": "storm_damage",
    "heavy snow": "storm_damage", "hail": "storm_damage", "dust storm": "storm_damage",
    "heat": "heat_illness", "heat wave": "heat_illness", "extreme heat": "heat_illness",
    "excessive heat": "heat_illness",
    "fire": "fire", "wildfire": "fire", "forest fire": "fire", "structure fire": "fire",
    "building fire": "fire", "explosion": "explosion",
    "gas leak": "gas_leak", "building collapse": "building_collapse",
    "structural collapse": "building_collapse", "sinkhole": "sinkhole",
    "water main break": "water_main_break",
    "traffic accident": "traffic_accident", "road accident": "traffic_accident",
    "vehicle accident": "traffic_accident",
    "earthquake": None, "volcano": None, "child abduction": None, "missing person": None,
    "power outage": None, "air quality": None, "cold": None, "test": None,
}  # fmt: skip

# CAP category -> incident type, only where the category alone says what happened.
CATEGORY_TYPES: Final[dict[str, str]] = {
    "Fire": "fire",
    "Met": "storm_damage",
    "Transport": "traffic_accident",
}


@dataclass(frozen=True)
class Classification:
    """What an alert is in riskmon's terms. ``incident_type`` None: an overlay without index
    effect. ``matched_by`` says which rule decided, e.g. ``"eventCode SAME=FFW"``."""

    incident_type: str | None
    matched_by: str

    @property
    def domain(self) -> str | None:
        return None if self.incident_type is None else INCIDENT_TYPES[self.incident_type]


def _korean(value: str) -> tuple[bool, str | None]:
    name = value.replace(" ", "")
    for suffix in _KOREAN_SUFFIXES:
        if name.endswith(suffix) and name != suffix:
            name = name.removesuffix(suffix)
            break
    return (name in KOREAN_EVENTS, KOREAN_EVENTS.get(name))


def _term(value: str) -> tuple[bool, str | None]:
    name = " ".join(value.lower().replace("_", " ").replace("-", " ").split())
    for suffix in (" warning", " watch", " advisory", " statement", " emergency"):
        name = name.removesuffix(suffix)
    return (name in EVENT_TERMS, EVENT_TERMS.get(name))


def _by_event_codes(infos: Iterable[CapInfo]) -> Classification | None:
    for info in infos:
        for code in info.event_codes:
            if code.name.upper() == "SAME" and code.value.upper() in SAME_EVENTS:
                found = SAME_EVENTS[code.value.upper()]
            elif code.name in KOREAN_SCHEMES and _korean(code.value)[0]:
                found = _korean(code.value)[1]
            elif code.name.upper().startswith("OET") and _term(code.value)[0]:
                found = _term(code.value)[1]
            else:
                continue
            return Classification(found, f"eventCode {code.name}={code.value}")
    return None


def classify(alert: CapAlert) -> Classification:
    """The incident type of ``alert`` (see the module's docstring for the order of rules).

    >>> from datetime import datetime, UTC
    >>> from streams.cap.model import CapInfo, ValuePair
    >>> info = CapInfo(categories=("Met",), event="호우경보", urgency="Immediate",
    ...                severity="Severe", certainty="Observed")
    >>> alert = CapAlert("A1", "kma", datetime(2026, 7, 1, tzinfo=UTC), "Actual", "Alert",
    ...                  "Public", infos=(info,))
    >>> classify(alert)
    Classification(incident_type='flood', matched_by='event 호우경보')
    """
    found = _by_event_codes(alert.infos)
    if found is not None:
        return found
    for info in alert.infos:
        for reader in (_korean, _term):
            known, kind = reader(info.event)
            if known:
                return Classification(kind, f"event {info.event}")
    for info in alert.infos:
        for category in info.categories:
            if category in CATEGORY_TYPES:
                return Classification(CATEGORY_TYPES[category], f"category {category}")
    return Classification(None, "unmapped")


_BASE: Final = {"Extreme": 5, "Severe": 4, "Moderate": 3, "Minor": 2, "Unknown": 2}
_CERTAINTY: Final = {"Observed": 0, "Likely": 0, "Possible": -1, "Unknown": -1}
_URGENCY: Final = {"Immediate": 0, "Expected": 0, "Unknown": 0, "Future": -1, "Past": -1}


def severity_of(info: CapInfo) -> int | None:
    """riskmon's severity (1 minor .. 5 catastrophic) of one info block, or None when it should
    have no index effect.

    * severity gives the base: Extreme 5, Severe 4, Moderate 3, Minor 2, Unknown 2;
    * certainty: Observed and Likely keep it, Possible and Unknown lower it by one, Unlikely
      (CAP: "not expected to occur") gives None;
    * urgency: Immediate, Expected and Unknown keep it, Future and Past lower it by one (not
      yet, or over);
    * the result is held to 1..5.

    >>> info = CapInfo(categories=("Met",), event="x", urgency="Future", severity="Extreme",
    ...                certainty="Possible")
    >>> severity_of(info)
    3
    """
    if info.certainty == "Unlikely":
        return None
    value = _BASE[info.severity] + _CERTAINTY[info.certainty] + _URGENCY[info.urgency]
    return max(1, min(5, value))
