"""A CAP 1.2 message as frozen values: :class:`CapAlert` → :class:`CapInfo` → :class:`CapArea` and
:class:`CapResource`. Built by :func:`streams.cap.parse.parse_cap`, written by
:func:`streams.cap.build.build_cap`; both sides use the same types.

Values are already checked and normalised: times are aware datetimes, enum values carry the
spec's spelling, coordinates are ``(lat, lon)`` floats in range, and every list is a tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

CAP_12: Final = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_11: Final = "urn:oasis:names:tc:emergency:cap:1.1"
NAMESPACES: Final = {CAP_12: "1.2", CAP_11: "1.1"}
XMLDSIG: Final = "http://www.w3.org/2000/09/xmldsig#"

# The enumerations of CAP 1.2 §3.2 (the spec's spelling; parsing is case-insensitive).
STATUS: Final = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE: Final = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE: Final = ("Public", "Restricted", "Private")
CATEGORY: Final = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
RESPONSE_TYPE: Final = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)
URGENCY: Final = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY: Final = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY: Final = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

Point = tuple[float, float]
"""``(lat, lon)`` in WGS84 degrees: CAP's order, not GeoJSON's."""


@dataclass(frozen=True)
class ValuePair:
    """A ``valueName``/``value`` pair: an eventCode, a parameter or a geocode."""

    name: str
    value: str


@dataclass(frozen=True)
class Circle:
    """A circle: centre ``(lat, lon)`` and radius in kilometres (0 = a point)."""

    center: Point
    radius_km: float


@dataclass(frozen=True)
class Reference:
    """One earlier message a ``references`` entry names: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.sender, self.identifier)


@dataclass(frozen=True)
class CapArea:
    """An ``area``: its description and any of polygons (closed rings of ``(lat, lon)``),
    circles and geocodes. An area with none of them names a place only in words."""

    description: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[ValuePair, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True)
class CapResource:
    """A ``resource``: a file that goes with the message (kept, never fetched)."""

    description: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    digest: str | None = None
    has_deref_uri: bool = False


@dataclass(frozen=True)
class CapInfo:
    """One ``info`` block: the event in one language."""

    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    language: str = "en-US"
    response_types: tuple[str, ...] = ()
    audience: str | None = None
    event_codes: tuple[ValuePair, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[ValuePair, ...] = ()
    resources: tuple[CapResource, ...] = ()
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapAlert:
    """One CAP message. ``(sender, identifier)`` names it; ``references`` name earlier ones."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = ()
    signed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.sender, self.identifier)


@dataclass(frozen=True)
class ParsedCap:
    """What :func:`~streams.cap.parse.parse_cap` read: the alert, the CAP version of its
    namespace, and every deviation from the spec it accepted (``leniencies``), each naming the
    element, e.g. ``"info[0]/urgency: 'immediate' read as 'Immediate'"``."""

    alert: CapAlert
    version: str
    leniencies: tuple[str, ...] = field(default=())
