"""The CAP alerts in effect over the city, for the map: every one, mapped to an index or not.

:class:`CapBoard` is what a dashboard shows as the "CAP alerts" overlay: it reads the same
``riskmon.cap`` records the worker reads, keeps the same :class:`~streams.cap.CapLedger` (Update
supersedes, Cancel withdraws, ``expires`` ends; any order, redeliveries are no-ops) and answers the
alerts in effect as GeoJSON: each alert's area as its sender drew it (polygons and circles,
not clipped to the city; for an area given only by geocodes, the districts they name), with its
headline, event, severity, urgency, certainty, expiry, the districts it covers in the city, and
whether it moves an index (``mapped``: an incident type was found) or is an overlay only. Alerts
that cover no district of the city are not shown. Pure: the clock is an argument; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import mapping

from streams.cap.areas import GeocodeTable, circle_polygon, cover
from streams.cap.errors import CapError
from streams.cap.ledger import CapLedger
from streams.cap.mapping import classify
from streams.cap.model import CapAlert
from streams.cap.parse import parse_cap
from streams.city.map import CityMap

__all__ = ["MAX_SHOWN", "CapBoard", "Shown"]

Key = tuple[str, str]
MAX_SHOWN = 500  # alerts in effect kept for the map; beyond it the earliest-ending go first
COORDINATE_DECIMALS = 5  # ~1 m: enough for a map, smaller answers


@dataclass(frozen=True)
class Shown:
    """One alert in effect, placed on the city."""

    alert: CapAlert
    districts: tuple[str, ...]
    incident_type: str | None
    geometry: dict[str, Any]  # GeoJSON (lon, lat)
    ends_at: datetime


class CapBoard:
    """The CAP alerts in effect (see the module's docstring)."""

    def __init__(self, city: CityMap, tables: GeocodeTable | None = None) -> None:
        self.city = city
        self.tables = tables
        self.ledger = CapLedger()
        self.shown: dict[Key, Shown] = {}
        self.counts: dict[str, int] = {}

    def take(self, data: bytes, now: datetime) -> str:
        """Read one record; returns what happened (``refused``, ``read``) and counts it."""
        try:
            alert = parse_cap(data).alert
        except CapError:
            return self._count("refused")
        for change in self.ledger.apply(alert, now):
            if change.change == "ended":
                self.shown.pop(change.key, None)
            elif change.key == alert.key:
                self._show(alert)
        return self._count("read")

    def advance(self, now: datetime) -> None:
        for change in self.ledger.advance(now):
            self.shown.pop(change.key, None)

    def feature_collection(self, now: datetime) -> dict[str, Any]:
        """The alerts in effect at ``now`` as a GeoJSON FeatureCollection, severest first."""
        self.advance(now)
        order = {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3}
        features: list[dict[str, Any]] = []
        for key, shown in self.shown.items():
            info = next(
                (i for i in shown.alert.infos if i.language.lower().startswith("ko")),
                shown.alert.infos[0] if shown.alert.infos else None,
            )
            if info is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "id": f"{key[0]},{key[1]}",
                    "geometry": shown.geometry,
                    "properties": {
                        "sender": shown.alert.sender,
                        "identifier": shown.alert.identifier,
                        "sent": shown.alert.sent.isoformat(),
                        "msg_type": shown.alert.msg_type,
                        "sender_name": info.sender_name,
                        "event": info.event,
                        "headline": info.headline,
                        "severity": info.severity,
                        "urgency": info.urgency,
                        "certainty": info.certainty,
                        "language": info.language,
                        "expires": shown.ends_at.isoformat(),
                        "districts": list(shown.districts),
                        "incident_type": shown.incident_type,
                        "mapped": shown.incident_type is not None,
                    },
                }
            )
        features.sort(
            key=lambda f: (order.get(f["properties"]["severity"], 4), f["properties"]["sent"])
        )
        return {"type": "FeatureCollection", "features": features}

    def _show(self, alert: CapAlert) -> None:
        coverage = cover(alert, self.city, self.tables)
        if not coverage.shares:
            self._count("outside_city")
            return
        parts: list[shapely.Geometry] = []
        for info in alert.infos:
            for area in info.areas:
                parts += [
                    shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in area.polygons
                ]
                parts += [circle_polygon(circle) for circle in area.circles]
        parts += [self.city.districts[s.code].geometry for s in coverage.shares if not parts]
        whole = shapely.make_valid(shapely.union_all(parts))
        whole = shapely.set_precision(whole, 10**-COORDINATE_DECIMALS)
        self.shown[alert.key] = Shown(
            alert=alert,
            districts=tuple(sorted(coverage.codes)),
            incident_type=classify(alert).incident_type,
            geometry=dict(mapping(whole)),
            ends_at=self.ledger.ends_at(alert),
        )
        if len(self.shown) > MAX_SHOWN:
            first = min(self.shown, key=lambda k: (self.shown[k].ends_at, k))
            del self.shown[first]
            self._count("dropped")

    def _count(self, what: str) -> str:
        self.counts[what] = self.counts.get(what, 0) + 1
        return what
