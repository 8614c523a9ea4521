"""A draft CAP 1.2 message from one of riskmon's alerts (:class:`streams.contract.Alert`).

:func:`draft_from_alert` makes the :class:`~streams.cap.model.CapAlert` an operator reviews;
:func:`~streams.cap.write.write_cap` turns it into bytes. The draft has

* ``status`` ``Draft`` (approval re-issues it as ``Actual``: pass ``status="Actual"``), scope
  ``Public``, an identifier made from the alert's id and seq, so the same alert message always
  drafts the same identifier;
* two ``info`` blocks, ``ko-KR`` and ``en-US``, the same in all but words;
* ``category`` and an ``eventCode`` (``riskmon:domain``) from the alert's domain
  (:data:`DOMAIN_CATEGORY`); ``severity`` is the alert's (already CAP's terms, from the grade:
  1-2 Minor, 3 Moderate, 4 Severe, 5 Extreme); ``urgency`` ``Immediate`` while it fires,
  ``Past`` once resolved (with ``responseType`` ``AllClear``); ``certainty`` ``Likely`` (a model's
  estimate, not an observation);
* ``expires`` as given (the caller derives it from the model's decay) or ``sent + ttl``;
* one ``area`` with the district's polygon(s) in ``lat,lon`` (exterior rings only: CAP has no
  holes; coordinates to 6 decimals) and the ``행정구역코드`` geocode (the district's code);
* ``parameter`` s: ``riskmon:alertId``, ``riskmon:value``, ``riskmon:baseline``,
  ``riskmon:modelVersion`` and one ``riskmon:driver`` per driver (``event_id type contribution``).

``msg_type="Update"`` or ``"Cancel"`` with ``references`` writes the later messages of a chain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import shapely

from streams.cap.model import CapAlert, CapArea, CapInfo, Point, Reference, ValuePair
from streams.city.map import CityMap
from streams.contract.alerts import Alert

__all__ = ["DOMAIN_CATEGORY", "DOMAIN_NAMES", "draft_from_alert"]

DOMAIN_CATEGORY: Final[dict[str, str]] = {
    "fire": "Fire",
    "flood_weather": "Met",
    "traffic": "Transport",
    "crime": "Security",
    "living_safety": "Safety",
    "air_quality": "Env",
    "composite": "Other",
}
DOMAIN_NAMES: Final[dict[str, tuple[str, str]]] = {  # (ko, en)
    "fire": ("화재", "fire"),
    "flood_weather": ("풍수해·기상", "flood and weather"),
    "traffic": ("교통", "traffic"),
    "crime": ("범죄", "crime"),
    "living_safety": ("생활안전", "living safety"),
    "air_quality": ("대기질", "air quality"),
    "composite": ("종합", "overall"),
}
ADMIN_CODE = "행정구역코드"
DEFAULT_TTL = timedelta(hours=3)
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._:@-]")


def _rings(geometry: shapely.Geometry) -> tuple[tuple[Point, ...], ...]:
    polygons = list(getattr(geometry, "geoms", [geometry]))
    rings = []
    for polygon in polygons:
        if not isinstance(polygon, shapely.Polygon) or polygon.is_empty:
            continue
        points: list[Point] = []
        for lon, lat in polygon.exterior.coords:
            point = (round(lat, 6), round(lon, 6))
            if not points or points[-1] != point:
                points.append(point)
        if len(points) >= 4 and points[0] == points[-1]:
            rings.append(tuple(points))
    return tuple(rings)


def _info(
    alert: Alert,
    language: str,
    district_name: str,
    rings: tuple[tuple[Point, ...], ...],
    expires: datetime,
    parameters: tuple[ValuePair, ...],
    sender_name: str,
) -> CapInfo:
    ko = language.startswith("ko")
    domain_ko, domain_en = DOMAIN_NAMES.get(alert.domain, (alert.domain, alert.domain))
    resolved = alert.state == "resolved"
    if ko:
        event = f"{domain_ko} 위험 경보"
        headline = f"{district_name} {domain_ko} 위험 {'해제' if resolved else '경보'}"
        description = (
            f"{district_name}의 {domain_ko} 위험 지수가 {alert.value:.1f}입니다"
            f" (최고 {alert.peak:.1f})."
        )
    else:
        event = f"{domain_en} risk alert"
        headline = (
            f"{domain_en.capitalize()} risk {'all clear' if resolved else 'alert'}: {district_name}"
        )
        description = (
            f"The {domain_en} risk index of {district_name} is {alert.value:.1f}"
            f" (peak {alert.peak:.1f})."
        )
    return CapInfo(
        language=language,
        categories=(DOMAIN_CATEGORY.get(alert.domain, "Other"),),
        event=event,
        response_types=("AllClear",) if resolved else ("Monitor",),
        urgency="Past" if resolved else "Immediate",
        severity=alert.severity,
        certainty="Likely",
        event_codes=(ValuePair("riskmon:domain", alert.domain),),
        effective=alert.fired_at or alert.opened_at,
        expires=expires,
        sender_name=sender_name,
        headline=headline,
        description=description,
        parameters=parameters,
        areas=(
            CapArea(
                description=district_name,
                polygons=rings,
                geocodes=(ValuePair(ADMIN_CODE, alert.district),),
            ),
        ),
    )


def draft_from_alert(
    alert: Alert,
    city: CityMap,
    *,
    sent: datetime,
    model_version: str,
    sender: str = "riskmon",
    sender_name: str = "riskmon",
    expires: datetime | None = None,
    status: str = "Draft",
    msg_type: str = "Alert",
    references: Sequence[Reference] = (),
    timezone: str = "Asia/Seoul",
) -> CapAlert:
    """The CAP message for ``alert`` (see the module's docstring); ``sent`` is the clock."""
    zone = ZoneInfo(timezone)
    sent = sent.astimezone(zone).replace(microsecond=0)
    expires = (expires or sent + DEFAULT_TTL).astimezone(zone).replace(microsecond=0)
    district = city.districts[alert.district]
    rings = _rings(district.geometry)
    parameters = (
        ValuePair("riskmon:alertId", alert.id),
        ValuePair("riskmon:value", f"{alert.value:.2f}"),
        *(
            (ValuePair("riskmon:baseline", f"{alert.baseline:.2f}"),)
            if alert.baseline is not None
            else ()
        ),
        ValuePair("riskmon:modelVersion", model_version),
        *(
            ValuePair("riskmon:driver", f"{d.event_id} {d.type} {d.contribution:.2f}")
            for d in alert.drivers
        ),
    )
    infos = tuple(
        _info(alert, language, name, rings, expires, parameters, sender_name)
        for language, name in (("ko-KR", district.name_ko), ("en-US", district.name_en))
    )
    identifier = _NOT_IN_ID.sub("-", f"riskmon-{alert.id}-{alert.seq}")
    return CapAlert(
        identifier=identifier,
        sender=_NOT_IN_ID.sub("-", sender),
        sent=sent,
        status=status,
        msg_type=msg_type,
        scope="Public",
        references=tuple(references),
        infos=infos,
    )
