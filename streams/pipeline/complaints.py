"""Civil complaints (민원), the pure step: a ``riskmon.complaints`` record -> the complaint placed
in its district and H3 cell, and the safety facts derived from it; or a dead letter.

No Kafka here: :mod:`streams.worker.complaints_stage` hands each record in and sends what comes
out. The rules are data (:data:`FACILITY_RULES`), each with its reasoning; docs/complaints.md
explains them for operators.

**A complaint never raises a risk index.** It is what a resident *reports*, filtered by who
bothers to report and where; counting it as a hazard would make the busiest, best-served
neighbourhoods look the most dangerous. It enters the index in one way only, through the coping
capacity the model already has: a complaint that a *named safety facility* is out of order takes
that facility out of service until the complaint is fixed, closed or rejected.

* ``broken_emergency_bell`` -> the ``emergency_bell``, ``broken_cctv`` -> the ``cctv``,
  ``street_light_out`` -> the ``security_light`` named by ``facility_id``: a
  :class:`~streams.contract.FacilityFact` ``removed`` at ``received_at``; once the complaint is
  ``fixed``, ``closed`` or ``rejected``, one ``added`` at its ``updated_at``. The model counts
  facilities in service by id, newest fact first (:class:`indices.DistrictState`), so the removal
  lowers the district's safety index only when the facility is in the district's state (the
  city's safety register published it on ``riskmon.safety`` with this ``facility_id``): a
  removal of an unknown id changes no count. The restoring ``added`` however counts the facility
  from then on, known or not: the crew that fixed it has seen it, so it exists and works.
* Fact ids are derived from (complaint id, status) -- ``complaint:ID:out`` for the removal (the
  same for every version of the complaint: a complaint first seen already fixed still records
  its outage), ``complaint:ID:fixed`` (``:closed``, ``:rejected``) for the return -- with the
  complaint's own ``source``, so redelivery and re-sent versions are duplicates downstream (the
  identity stage and the state count a (source, id) once), and the district panel's driver
  names the complaint (``gimpo-minwon:complaint:M-1:out``).
* Every other category, and a facility category without ``facility_id``, is only stored (the
  statistics map and the heat layer). ``flooding_drain`` is not turned into a flood signal: see
  docs/complaints.md ("Why no flood signal").
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from pydantic import ValidationError

from streams.city.map import CityMap
from streams.contract import DeadLetter, FacilityFact
from streams.contract.complaints import OPEN_STATUSES, Complaint, LocatedComplaint
from streams.contract.deadletters import RawRecord, dead_letter
from streams.pipeline.ingest import Rejected, describe_validation_error, place

__all__ = [
    "FACILITY_RULES",
    "Derived",
    "FacilityRule",
    "derive_facts",
    "fact_id",
    "parse_complaint",
    "translate",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FacilityRule:
    """A complaint category that reports one safety facility out of order."""

    facility: str  # its kind in indices.taxonomy.FACILITY_KINDS
    reasoning: str


FACILITY_RULES: Final = MappingProxyType(
    {
        "broken_emergency_bell": FacilityRule(
            "emergency_bell",
            "an emergency bell (안심비상벨) that does not ring brings no help: it adds nothing to "
            "the district's coping capacity until it is repaired",
        ),
        "broken_cctv": FacilityRule(
            "cctv",
            "a public camera that records nothing neither deters nor helps an investigation: "
            "out of service until repaired",
        ),
        "street_light_out": FacilityRule(
            "security_light",
            "the model counts lighting as security_light (보안등; 가로등 where the register lists "
            "them): a dark light is out of service until fixed",
        ),
    }
)

FACT_ID_MAX = 128  # streams.contract.base.Identifier


def fact_id(complaint_id: str, phase: str) -> str:
    """The derived fact's id: ``complaint:ID:PHASE``, or with a hash of the id when that would
    exceed an identifier's 128 characters.

    >>> fact_id("M-2026-0042", "out")
    'complaint:M-2026-0042:out'
    >>> len(fact_id("x" * 128, "rejected"))
    60
    """
    text = f"complaint:{complaint_id}:{phase}"
    if len(text) <= FACT_ID_MAX:
        return text
    digest = hashlib.sha256(complaint_id.encode()).hexdigest()[:40]
    return f"complaint:#{digest}:{phase}"


def derive_facts(complaint: Complaint) -> list[FacilityFact]:
    """The safety facts a complaint implies (none for most: see the module's docstring)."""
    rule = FACILITY_RULES.get(complaint.category)
    if rule is None or complaint.facility_id is None:
        return []
    where = {"lat": complaint.lat, "lon": complaint.lon, "code": complaint.code}
    facts = [
        FacilityFact(
            id=fact_id(complaint.id, "out"),
            source=complaint.source,
            facility_id=complaint.facility_id,
            facility=rule.facility,
            action="removed",
            effective_at=complaint.received_at,
            **where,
        )
    ]
    if complaint.status not in OPEN_STATUSES:
        facts.append(
            FacilityFact(
                id=fact_id(complaint.id, complaint.status),
                source=complaint.source,
                facility_id=complaint.facility_id,
                facility=rule.facility,
                action="added",
                effective_at=complaint.updated_at,
                **where,
            )
        )
    return facts


def parse_complaint(value: bytes | None) -> Complaint:
    """The complaint in a record's bytes; raises :class:`Rejected` (``not_json``, ``schema``)."""
    if value is None:
        raise Rejected("not_json", "empty message (null value); expected a JSON object")
    try:
        data = json.loads(value)
    except UnicodeDecodeError as exc:
        raise Rejected("not_json", f"not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise Rejected(
            "not_json", f"not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise Rejected("not_json", f"JSON this reader refuses: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise Rejected("schema", f"expected a JSON object, got {type(data).__name__}")
    try:
        return Complaint.model_validate(data)
    except ValidationError as exc:
        raise Rejected("schema", f"invalid complaint: {describe_validation_error(exc)}") from exc


@dataclass(frozen=True)
class Derived:
    """What one valid complaint becomes: its located record and the facts derived from it."""

    located: LocatedComplaint
    facts: list[FacilityFact]


def translate(
    raw: RawRecord, city: CityMap, read_at: datetime, max_future: timedelta
) -> Derived | DeadLetter:
    """One record -> the located complaint and its facts, or the dead letter saying why not.

    Refused: not JSON, not a valid complaint (``schema``), outside the city or an unknown
    district, or an ``updated_at`` more than ``max_future`` after ``read_at`` (``future``).
    """
    try:
        complaint = parse_complaint(raw.value)
        ahead = (complaint.updated_at - read_at).total_seconds()
        if ahead > max_future.total_seconds():
            raise Rejected(
                "future",
                f"updated_at {complaint.updated_at.isoformat()} is {ahead:.0f} s after the "
                f"worker read it ({read_at.isoformat()}); more than "
                f"{max_future.total_seconds():.0f} s ahead is refused: check the sender's clock "
                "and time zone",
            )
        district, cell = place(complaint, city)
        facts = derive_facts(complaint)
        located = LocatedComplaint(
            complaint=complaint,
            district=district,
            h3=cell,
            read_at=read_at,
            origin=raw.origin,
            facts=[f.id for f in facts],
        )
        return Derived(located, facts)
    except Rejected as rejected:
        return dead_letter(raw, rejected.error, rejected.reason, read_at)
    except Exception as exc:
        # The same last-resort boundary as ingest: a bug must not stop the stream.
        log.exception("complaint translation failed unexpectedly origin=%s", raw.origin)
        return dead_letter(raw, "internal", f"internal error: {exc!r}", read_at)
