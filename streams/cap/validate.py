"""The rules of CAP 1.2 that an XML schema cannot check, one function per kind of value.

Each reader takes the element's ``path`` (for the error), its text and a ``notes`` list, returns
the checked value, appends a note for every deviation it accepted, and raises
:class:`~streams.cap.errors.CapInvalid` where a guess would be wrong.

>>> notes: list[str] = []
>>> read_polygon("p", "37.6,126.6 37.7,126.6 37.7,126.7 37.6,126.6", notes)
((37.6, 126.6), (37.7, 126.6), (37.7, 126.7), (37.6, 126.6))
>>> read_enum("u", "immediate", ("Immediate", "Expected"), notes), notes
('Immediate', ["u: 'immediate' read as 'Immediate'"])
>>> read_time("t", "2026-11-24T21:05:00", [])
Traceback (most recent call last):
...
streams.cap.errors.CapInvalid: t: '2026-11-24T21:05:00' has no UTC offset (CAP needs e.g. +09:00)

What is lenient (noted) and what is strict:

* enum values in another case (``actual``), CAP 1.1's ``Very Likely`` (read as ``Likely``);
* times with ``Z`` (CAP wants ``-00:00``), fractional seconds, or an offset without its colon;
  a time *without* an offset is refused: "09:00" is another instant in Seoul and in UTC;
* spaces around the comma of a coordinate pair (``37.6, 126.7``);
* polygons: fewer than 4 points, an open ring, a coordinate out of range are refused; a pair
  whose first value is out of range for a latitude but would be one as a longitude (and the
  second would be a latitude) is refused as swapped (``lon,lat``), never silently turned round;
* identifiers and senders with a space, comma, ``<`` or ``&`` are refused (references could not
  name them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from streams.cap.errors import CapInvalid
from streams.cap.model import Circle, Point, Reference

EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
MAX_RADIUS_KM = 20_038.0  # half the Earth's circumference: any larger circle is the whole Earth

_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:(Z)|([+-])(\d{2})(:?)(\d{2}))?$"
)
_COMMA = re.compile(r"\s*,\s*")
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
_ENUM_ALIASES = {"very likely": "Likely"}  # CAP 1.1 kept it as a deprecated synonym


def read_time(path: str, text: str, notes: list[str]) -> datetime:
    """A CAP ``dateTime``: ``YYYY-MM-DDThh:mm:ss`` with a ``±hh:mm`` offset (``-00:00`` is UTC,
    as CAP 1.2 §3.3.2 says)."""
    match = _TIME.match(text)
    if match is None:
        raise CapInvalid(path, f"{text!r} is not a CAP time (e.g. 2026-11-24T21:05:00+09:00)")
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, colon, om = match.groups()
    if zulu:
        notes.append(f"{path}: 'Z' read as -00:00 (UTC); CAP 1.2 wants -00:00")
        tz: timezone = UTC
    elif sign:
        if not colon:
            notes.append(f"{path}: offset without a colon read as {sign}{oh}:{om}")
        if int(oh) > 14 or int(om) > 59:
            raise CapInvalid(path, f"{text!r} has an impossible UTC offset")
        offset = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-offset if sign == "-" else offset)
    else:
        raise CapInvalid(path, f"{text!r} has no UTC offset (CAP needs e.g. +09:00)")
    if fraction:
        notes.append(f"{path}: fractional seconds accepted (CAP 1.2 has none)")
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            round(float(fraction or "0") * 1e6) if fraction else 0,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise CapInvalid(path, f"{text!r} is not a real time: {exc}") from exc
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise CapInvalid(path, f"year {moment.year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}")
    return moment


def read_enum(path: str, text: str, allowed: Sequence[str], notes: list[str]) -> str:
    """One of ``allowed``, in the spec's spelling; another case is accepted and noted."""
    if text in allowed:
        return text
    folded = {value.lower(): value for value in allowed}
    value = folded.get(text.lower()) or _ENUM_ALIASES.get(text.lower())
    if value is None or value not in allowed:
        raise CapInvalid(path, f"{text!r} is not one of {', '.join(allowed)}")
    notes.append(f"{path}: {text!r} read as {value!r}")
    return value


def read_identifier(path: str, text: str) -> str:
    """An identifier or sender: not empty, without spaces, commas, ``<`` or ``&``."""
    if not text:
        raise CapInvalid(path, "is empty")
    bad = _FORBIDDEN_IN_ID.search(text)
    if bad is not None:
        raise CapInvalid(path, f"{text!r} contains {bad.group()!r} (no spaces, commas, < or &)")
    return text


def _pairs_text(path: str, text: str, notes: list[str]) -> str:
    stripped = text.strip()
    tidy = _COMMA.sub(",", stripped)
    if tidy != stripped:  # whitespace separates pairs; around a comma it is a deviation
        notes.append(f"{path}: spaces around a comma ignored")
    return tidy


def read_point(path: str, pair: str) -> Point:
    """A ``lat,lon`` pair in WGS84 degrees; a ``lon,lat`` pair is refused when it shows."""
    parts = pair.split(",")
    if len(parts) != 2:
        raise CapInvalid(path, f"{pair!r} is not a lat,lon pair")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError as exc:
        raise CapInvalid(path, f"{pair!r} is not a lat,lon pair of numbers") from exc
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise CapInvalid(path, f"{pair!r} is not finite")
    if not -90 <= lat <= 90:
        if -180 <= lat <= 180 and -90 <= lon <= 90:
            raise CapInvalid(
                path,
                f"{pair!r}: latitude {lat:g} is out of range; swapped (lon,lat)? CAP is lat,lon",
            )
        raise CapInvalid(path, f"{pair!r}: latitude {lat:g} is outside -90..90")
    if not -180 <= lon <= 180:
        raise CapInvalid(path, f"{pair!r}: longitude {lon:g} is outside -180..180")
    return (lat, lon)


def read_polygon(path: str, text: str, notes: list[str]) -> tuple[Point, ...]:
    """A ``polygon``: at least 4 ``lat,lon`` pairs, the first and last the same."""
    pairs = _pairs_text(path, text, notes).split()
    points = tuple(read_point(f"{path}[{i}]", pair) for i, pair in enumerate(pairs))
    if len(points) < 4:
        raise CapInvalid(path, f"{len(points)} points, needs at least 4 (a closed ring)")
    if points[0] != points[-1]:
        raise CapInvalid(path, "not closed: the first and last points differ")
    return points


def read_circle(path: str, text: str, notes: list[str]) -> Circle:
    """A ``circle``: ``lat,lon radius`` with the radius in kilometres."""
    parts = _pairs_text(path, text, notes).split()
    if len(parts) != 2:
        raise CapInvalid(path, f"{text.strip()!r} is not 'lat,lon radius_km'")
    center = read_point(path, parts[0])
    try:
        radius = float(parts[1])
    except ValueError as exc:
        raise CapInvalid(path, f"radius {parts[1]!r} is not a number of kilometres") from exc
    if not (math.isfinite(radius) and 0 <= radius <= MAX_RADIUS_KM):
        raise CapInvalid(path, f"radius {parts[1]} km is outside 0..{MAX_RADIUS_KM:g}")
    return Circle(center, radius)


def read_references(path: str, text: str, notes: list[str]) -> tuple[Reference, ...]:
    """``references``: space-separated ``sender,identifier,sent`` triples."""
    entries = text.split()
    if not entries:
        raise CapInvalid(path, "is empty")
    found = []
    for i, entry in enumerate(entries):
        parts = entry.split(",")
        if len(parts) != 3:
            raise CapInvalid(f"{path}[{i}]", f"{entry!r} is not sender,identifier,sent")
        sender = read_identifier(f"{path}[{i}]/sender", parts[0])
        identifier = read_identifier(f"{path}[{i}]/identifier", parts[1])
        sent = read_time(f"{path}[{i}]/sent", parts[2], notes)
        found.append(Reference(sender, identifier, sent))
    return tuple(found)


def read_number(path: str, text: str) -> float:
    """A decimal number (altitude, ceiling)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise CapInvalid(path, f"{text!r} is not a number") from exc
    if not math.isfinite(value):
        raise CapInvalid(path, f"{text!r} is not finite")
    return value
