"""The field page's decisions, pure: a report -> the fact to publish, the search's parameters and
ranking. No I/O; the clock is an argument.

The fact of a report is determined by the report, the user and the user's agency alone, so a
report sent twice becomes the same fact with the same bytes, which the worker counts once::

    >>> from streams.contract.field import FieldReport
    >>> report = FieldReport.model_validate({
    ...     "report_id": "5b0c7a1e-0000-4000-8000-000000000001", "kind": "inspection",
    ...     "structure_id": "GP-BRIDGE-7", "grade": "D", "lat": 37.6385, "lon": 126.6791,
    ...     "observed_at": "2026-11-24T21:05:00+09:00"})
    >>> fact = build_fact(report, "kim", "gimpo-safety")
    >>> fact.id, fact.source, fact.structure_id, fact.grade
    ('kim:5b0c7a1e-0000-4000-8000-000000000001', 'gimpo-safety', 'GP-BRIDGE-7', 'D')
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from streams.contract import FacilityFact, InspectionFact
from streams.contract.field import FieldReport, StructureMatch

__all__ = [
    "MAX_AGE",
    "MAX_AHEAD",
    "SEARCH_RADIUS_M",
    "Search",
    "build_fact",
    "distance_m",
    "fact_id",
    "parse_search",
    "rank",
    "request_hash",
    "time_problem",
]

MAX_AGE = timedelta(days=30)  # a report kept offline longer than this is refused
MAX_AHEAD = timedelta(minutes=5)  # a phone's clock may run a little fast
SEARCH_RADIUS_M = 5000.0  # without a query text, only what lies this close is listed
MAX_QUERY = 64
MAX_LIMIT = 50
EARTH_RADIUS_M = 6_371_008.8  # the mean Earth radius (IUGG)


def fact_id(user: str, report_id: str) -> str:
    """The fact's id: the user and the client's report id (unique per user).

    >>> fact_id("kim", "r-12345678")
    'kim:r-12345678'
    """
    return f"{user}:{report_id}"


def build_fact(report: FieldReport, user: str, agency: str) -> InspectionFact | FacilityFact:
    """The safety fact a report publishes: ``source`` is the user's agency, ``effective_at``
    the moment the inspector made the report."""
    common = {
        "id": fact_id(user, report.report_id),
        "source": agency,
        "lat": report.lat,
        "lon": report.lon,
        "effective_at": report.observed_at,
    }
    if report.kind == "inspection":
        return InspectionFact.model_validate(
            {**common, "structure_id": report.structure_id, "grade": report.grade}
        )
    return FacilityFact.model_validate(
        {
            **common,
            "facility_id": report.facility_id,
            "facility": report.facility,
            "action": report.action,
        }
    )


def request_hash(report: FieldReport) -> bytes:
    """SHA-256 of the whole report as received (photos included): a resend must match it, a
    different report under the same ``report_id`` does not."""
    return hashlib.sha256(report.model_dump_json().encode()).digest()


def time_problem(observed_at: datetime, now: datetime) -> str | None:
    """Why a report made at ``observed_at`` cannot be taken at ``now``, or None.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    >>> time_problem(now - timedelta(days=2), now) is None
    True
    >>> time_problem(now + timedelta(hours=1), now)
    "observed_at is 60 min ahead of the gateway's clock: check the phone's time"
    """
    if observed_at > now + MAX_AHEAD:
        ahead = round((observed_at - now).total_seconds() / 60)
        return f"observed_at is {ahead} min ahead of the gateway's clock: check the phone's time"
    if observed_at < now - MAX_AGE:
        return (
            f"observed_at is older than {MAX_AGE.days} days: such a report cannot be sent any "
            "more; report what you see now"
        )
    return None


@dataclass(frozen=True)
class Search:
    """``GET /api/field/structures?lat=&lon=&q=&limit=``: a position, a text, or both."""

    lat: float | None
    lon: float | None
    text: str | None
    limit: int

    def box(self) -> tuple[float, float, float, float] | None:
        """(south, west, north, east) around the position within :data:`SEARCH_RADIUS_M`;
        None with a text (found wherever it is) or without a position."""
        if self.text is not None or self.lat is None or self.lon is None:
            return None
        dlat = math.degrees(SEARCH_RADIUS_M / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(self.lat)), 0.01)
        return (self.lat - dlat, self.lon - dlon, self.lat + dlat, self.lon + dlon)


def parse_search(query: str) -> Search | str:
    """The search a query string asks for, or why it cannot be answered.

    >>> parse_search("lat=37.6&lon=126.7&q=bridge")
    Search(lat=37.6, lon=126.7, text='bridge', limit=20)
    >>> parse_search("lat=37.6")
    'give both lat and lon, or neither'
    >>> parse_search("")
    'give a position (lat and lon), a text (q), or both'
    """
    try:
        params = parse_qs(query, keep_blank_values=True, max_num_fields=8, strict_parsing=False)
    except ValueError:
        return "too many parameters"
    unknown = set(params) - {"lat", "lon", "q", "limit"}
    if unknown:
        return f"unknown parameter {sorted(unknown)[0]!r}; known: lat, lon, q, limit"
    if any(len(values) > 1 for values in params.values()):
        return "give each parameter once"
    one = {name: values[0] for name, values in params.items()}
    lat = _number(one.get("lat"), -90, 90)
    lon = _number(one.get("lon"), -180, 180)
    if isinstance(lat, str) or isinstance(lon, str):
        return f"lat and lon are WGS84 degrees: {lat if isinstance(lat, str) else lon}"
    if (lat is None) != (lon is None):
        return "give both lat and lon, or neither"
    text = one.get("q", "").strip() or None
    if text is not None and (len(text) > MAX_QUERY or "\x00" in text):
        return f"q has at most {MAX_QUERY} characters"
    if lat is None and text is None:
        return "give a position (lat and lon), a text (q), or both"
    limit_text = one.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        return f"limit is 1 to {MAX_LIMIT}"
    return Search(lat, lon, text, int(limit_text))


def _number(text: str | None, low: float, high: float) -> float | str | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return f"not a number: {text[:20]!r}"
    if not math.isfinite(value) or not low <= value <= high:
        return f"{text[:20]} is outside {low:g}..{high:g}"
    return value


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine on the mean Earth sphere; within 0.5 % of the
    ellipsoid, plenty for "what is near me").

    >>> round(distance_m(37.6385, 126.6791, 37.6385, 126.6891))
    881
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Fact:
    """A stored safety fact as the search sees it (the newest of its structure or facility)."""

    type: str
    subject: str
    source: str
    district: str
    effective_at: datetime
    payload: Mapping[str, object]


def rank(facts: Iterable[Fact], search: Search, names: Mapping[str, str]) -> list[StructureMatch]:
    """The matches to answer: nearest first when a position is given (those without a point,
    placed by district code only, after), then by id; at most ``search.limit``.
    ``names`` maps district codes to names."""
    matches = []
    for fact in facts:
        lat, lon = _coordinate(fact.payload.get("lat")), _coordinate(fact.payload.get("lon"))
        distance = None
        if (
            search.lat is not None
            and search.lon is not None
            and lat is not None
            and lon is not None
        ):
            distance = distance_m(search.lat, search.lon, lat, lon)
            if search.text is None and distance > SEARCH_RADIUS_M:
                continue
        inspection = fact.type == "inspection"
        grade = fact.payload.get("grade") if inspection else None
        matches.append(
            StructureMatch.model_validate(
                {
                    "kind": "structure" if inspection else "facility",
                    "id": fact.subject,
                    "source": fact.source,
                    "district": fact.district,
                    "district_name": names.get(fact.district, fact.district),
                    "lat": lat,
                    "lon": lon,
                    "distance_m": None if distance is None else round(distance, 1),
                    "grade": grade,
                    "facility": None if inspection else fact.payload.get("facility"),
                    "action": None if inspection else fact.payload.get("action"),
                    "effective_at": fact.effective_at,
                }
            )
        )
    matches.sort(key=lambda m: (m.distance_m is None, m.distance_m or 0.0, m.id, m.kind))
    return matches[: search.limit]


def _coordinate(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
