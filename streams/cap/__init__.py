"""CAP 1.2 (Common Alerting Protocol) in and out: pure, no I/O, no clock.

One module per idea, in the order a message flows:

:mod:`~streams.cap.parse`     bytes → :class:`ParsedCap` (safe lxml: no DTD, entity, network or
                              XInclude; a size cap before parsing; BOM and encodings honoured)
:mod:`~streams.cap.validate`  the spec's rules a schema cannot check (polygons, circles,
                              references, times with offsets, enums) and the leniencies
:mod:`~streams.cap.model`     frozen dataclasses: alert → info → area / resource
:mod:`~streams.cap.areas`     areas → the city's districts with each one's share
:mod:`~streams.cap.mapping`   eventCode / event / category → incident type; severity
:mod:`~streams.cap.effects`   a covered, classified alert → Incidents, one per district
:mod:`~streams.cap.ledger`    Update supersedes, Cancel withdraws, expires ends (a state machine)
:mod:`~streams.cap.build`     riskmon's :class:`~streams.contract.Alert` → a draft CAP message
:mod:`~streams.cap.write`     :class:`CapAlert` → CAP 1.2 XML bytes
:mod:`~streams.cap.errors`    :class:`CapError` (:class:`CapRefused`, :class:`CapInvalid`)

Imports :mod:`streams.contract`, :mod:`streams.city`, :mod:`indices.taxonomy`, lxml, shapely and
(optionally) pyproj; never Kafka, Faust, asyncio or sockets. Its place in the layers is beside
:mod:`streams.pipeline`'s inputs: ``pipeline → cap → contract | city``.
"""

from streams.cap.areas import AreaCoverage, DistrictShare, cover
from streams.cap.build import draft_from_alert
from streams.cap.effects import incidents_of
from streams.cap.errors import CapError, CapInvalid, CapRefused
from streams.cap.ledger import CapLedger, LedgerChange
from streams.cap.mapping import Classification, classify, severity_of
from streams.cap.model import CapAlert, CapArea, CapInfo, CapResource, ParsedCap
from streams.cap.parse import parse_cap
from streams.cap.write import write_cap

__all__ = [
    "AreaCoverage",
    "CapAlert",
    "CapArea",
    "CapError",
    "CapInfo",
    "CapInvalid",
    "CapLedger",
    "CapRefused",
    "CapResource",
    "Classification",
    "DistrictShare",
    "LedgerChange",
    "ParsedCap",
    "classify",
    "cover",
    "draft_from_alert",
    "incidents_of",
    "parse_cap",
    "severity_of",
    "write_cap",
]
