"""A CAP alert in riskmon's terms: the :class:`~streams.contract.Incident` s it stands for, one
per district it covers, for the pipeline to score like any agency's incident.

:func:`incidents_of` puts :func:`~streams.cap.areas.cover`, :func:`~streams.cap.mapping.classify`
and :func:`~streams.cap.mapping.severity_of` together. An alert that maps to no incident type, or
whose every info block is ``Unlikely``, gives none (an overlay without index effect). Each
incident is named ``IDENTIFIER@DISTRICT`` from source ``SENDER`` (so its driver id, ``source:id``,
names the CAP alert), takes the time of the first of ``onset``, ``effective`` and ``sent``, and
the headline as its description. Districts covered by less than ``min_fraction`` of their area
are left out (a polygon that grazes a border should not raise the neighbour's index).

Ending an incident's effect when the :class:`~streams.cap.ledger.CapLedger` says the alert ended
(Update, Cancel, expires) is the pipeline's part: the index model has no "withdrawn" input yet.
"""

from __future__ import annotations

from streams.cap.areas import AreaCoverage
from streams.cap.mapping import Classification, severity_of
from streams.cap.model import CapAlert
from streams.contract.inputs import Incident

__all__ = ["MIN_FRACTION", "incidents_of"]

MIN_FRACTION = 0.05
MAX_ID = 128  # the contract's Identifier


def incidents_of(
    alert: CapAlert,
    coverage: AreaCoverage,
    classification: Classification,
    *,
    min_fraction: float = MIN_FRACTION,
) -> list[Incident]:
    """The incidents ``alert`` stands for (see the module's docstring)."""
    if classification.incident_type is None:
        return []
    severities = [s for s in (severity_of(info) for info in alert.infos) if s is not None]
    if not severities:
        return []
    info = alert.infos[0]
    occurred = info.onset or info.effective or alert.sent
    headline = next((i.headline for i in alert.infos if i.headline), info.event)
    incidents = []
    for share in coverage.shares:
        if share.district_fraction < min_fraction:
            continue
        incidents.append(
            Incident(
                id=f"{alert.identifier}@{share.code}"[-MAX_ID:],
                source=alert.sender[:MAX_ID],
                type=classification.incident_type,
                severity=max(severities),
                occurred_at=occurred,
                code=share.code,
                description=headline[:2000],
                status="reported",
            )
        )
    return incidents
