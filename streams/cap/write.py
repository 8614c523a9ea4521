""":class:`~streams.cap.model.CapAlert` → CAP 1.2 XML bytes (UTF-8), elements in the schema's
order, times as CAP wants them (``YYYY-MM-DDThh:mm:ss±hh:mm``, no fraction, no ``Z``).

:func:`write_cap` and :func:`~streams.cap.parse.parse_cap` are inverses on everything the model
holds (resources' ``derefUri`` content is not kept, so it is not written; nor is a signature:
a signed message is kept and forwarded as the bytes it came in).
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from streams.cap.model import CAP_12, CapAlert, CapArea, CapInfo, CapResource, Point, ValuePair

__all__ = ["cap_time", "write_cap"]


def cap_time(moment: datetime) -> str:
    """A CAP dateTime: whole seconds, numeric offset.

    >>> from datetime import timezone, timedelta
    >>> cap_time(datetime(2026, 11, 24, 21, 5, 7, 999, tzinfo=timezone(timedelta(hours=9))))
    '2026-11-24T21:05:07+09:00'
    """
    if moment.tzinfo is None:
        raise ValueError("a CAP time needs an offset")
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def _num(value: float) -> str:
    """A coordinate with at most 6 decimals (0.1 m), without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _point_text(points: tuple[Point, ...]) -> str:
    return " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in points)


class _Writer:
    def __init__(self) -> None:
        self.q = f"{{{CAP_12}}}"

    def add(self, parent: etree._Element, name: str, text: str | None) -> None:
        if text is not None:
            etree.SubElement(parent, self.q + name).text = text

    def pairs(self, parent: etree._Element, name: str, pairs: tuple[ValuePair, ...]) -> None:
        for pair in pairs:
            element = etree.SubElement(parent, self.q + name)
            self.add(element, "valueName", pair.name)
            self.add(element, "value", pair.value)

    def alert(self, alert: CapAlert) -> etree._Element:
        root = etree.Element(self.q + "alert", nsmap={None: CAP_12})  # type: ignore[dict-item]
        self.add(root, "identifier", alert.identifier)
        self.add(root, "sender", alert.sender)
        self.add(root, "sent", cap_time(alert.sent))
        self.add(root, "status", alert.status)
        self.add(root, "msgType", alert.msg_type)
        self.add(root, "source", alert.source)
        self.add(root, "scope", alert.scope)
        self.add(root, "restriction", alert.restriction)
        self.add(root, "addresses", alert.addresses)
        for code in alert.codes:
            self.add(root, "code", code)
        self.add(root, "note", alert.note)
        if alert.references:
            refs = " ".join(
                f"{r.sender},{r.identifier},{cap_time(r.sent)}" for r in alert.references
            )
            self.add(root, "references", refs)
        self.add(root, "incidents", alert.incidents)
        for info in alert.infos:
            self.info(root, info)
        return root

    def info(self, root: etree._Element, info: CapInfo) -> None:
        element = etree.SubElement(root, self.q + "info")
        self.add(element, "language", info.language)
        for category in info.categories:
            self.add(element, "category", category)
        self.add(element, "event", info.event)
        for response in info.response_types:
            self.add(element, "responseType", response)
        self.add(element, "urgency", info.urgency)
        self.add(element, "severity", info.severity)
        self.add(element, "certainty", info.certainty)
        self.add(element, "audience", info.audience)
        self.pairs(element, "eventCode", info.event_codes)
        for name, moment in (("effective", info.effective), ("onset", info.onset)):
            self.add(element, name, None if moment is None else cap_time(moment))
        self.add(element, "expires", None if info.expires is None else cap_time(info.expires))
        for name, text in (
            ("senderName", info.sender_name),
            ("headline", info.headline),
            ("description", info.description),
            ("instruction", info.instruction),
            ("web", info.web),
            ("contact", info.contact),
        ):
            self.add(element, name, text)
        self.pairs(element, "parameter", info.parameters)
        for resource in info.resources:
            self.resource(element, resource)
        for area in info.areas:
            self.area(element, area)

    def resource(self, parent: etree._Element, resource: CapResource) -> None:
        element = etree.SubElement(parent, self.q + "resource")
        self.add(element, "resourceDesc", resource.description)
        self.add(element, "mimeType", resource.mime_type)
        self.add(element, "size", None if resource.size is None else str(resource.size))
        self.add(element, "uri", resource.uri)
        self.add(element, "digest", resource.digest)

    def area(self, parent: etree._Element, area: CapArea) -> None:
        element = etree.SubElement(parent, self.q + "area")
        self.add(element, "areaDesc", area.description)
        for ring in area.polygons:
            self.add(element, "polygon", _point_text(ring))
        for circle in area.circles:
            lat, lon = circle.center
            self.add(element, "circle", f"{_num(lat)},{_num(lon)} {circle.radius_km:g}")
        self.pairs(element, "geocode", area.geocodes)
        self.add(element, "altitude", None if area.altitude is None else f"{area.altitude:g}")
        self.add(element, "ceiling", None if area.ceiling is None else f"{area.ceiling:g}")


def write_cap(alert: CapAlert) -> bytes:
    """The CAP 1.2 XML of ``alert``: UTF-8 bytes with an XML declaration."""
    root = _Writer().alert(alert)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
