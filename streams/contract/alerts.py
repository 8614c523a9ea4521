"""Alerts and their acknowledgement: ``riskmon.alerts`` (:class:`Alert`), ``riskmon.alert-acks``
(:class:`AlertAck`) and ``riskmon.alert-ack-results`` (:class:`AckResult`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    Field,
)

from streams.contract.base import (
    INTERNAL_FORMAT,
    DistrictCode,
    Name,
    Note,
    RecordFormat,
    Text,
    Timestamp,
    Token,
    WireModel,
)
from streams.contract.scores import Driver

AlertKind = Literal["hazard", "stale"]


AlertTrigger = Literal["spike", "threshold", "stale"]


class Alert(WireModel):
    """An alert on a district's index; published on ``riskmon.alerts`` keyed by district code.

    One alert per (district, domain, rule) is open at a time: later messages with the same ``id``
    are the same alert moving through its lifecycle (``change`` says what happened). ``rule`` is
    the alert's kind: ``hazard`` stands for the spike and threshold rules of the domain together
    (one rise is one alert, whichever of them holds; ``triggers`` says which did), ``stale`` for
    its sensor feeds. Pending alerts (not yet held their minimum duration) are published here
    for history; the gateway shows clients only alerts that fired.
    """

    format: RecordFormat = INTERNAL_FORMAT

    id: str
    seq: int = Field(ge=0, description="per alert, strictly increasing")
    district: DistrictCode
    name: str
    domain: str = Field(description="a domain, or 'composite'")
    rule: AlertKind
    triggers: list[AlertTrigger] = Field(
        description="the rules whose open condition held during its life, first first"
    )
    state: Literal["pending", "firing", "acknowledged", "resolved"]
    change: Literal[
        "opened", "fired", "updated", "acknowledged", "refired", "resolved", "withdrawn", "expired"
    ] = Field(
        description="withdrawn: a pending alert whose condition ended before it fired (or, for "
        "the composite, that gave way to a domain's alert of its district); expired: closed "
        "without its condition ending, because the stream restarted (a new epoch) and the "
        "alert's state was lost, or because an upgrade merged it into another alert"
    )
    severity: Literal["Minor", "Moderate", "Severe", "Extreme"] = Field(
        description="CAP 1.2 severity terms"
    )
    value: float
    baseline: float | None = Field(description="the detector's expected value, if known")
    peak: float
    opened_at: AwareDatetime
    fired_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    note: str | None = None
    resolved_at: AwareDatetime | None = None
    as_of: AwareDatetime
    cluster: str | None = Field(
        default=None, description="incident cluster: same-domain alerts in adjacent districts"
    )
    drivers: list[Driver] = Field(description="the events that explained it when it fired")


class AlertAck(WireModel):
    """An operator takes ownership of an alert; published on ``riskmon.alert-acks`` keyed by
    the alert's district code."""

    format: RecordFormat = INTERNAL_FORMAT

    alert_id: Text
    district: DistrictCode
    who: Name
    note: Note | None = None
    at: Timestamp
    ack_id: Token | None = Field(
        default=None,
        description="unique per acknowledgement (the gateway sets a UUID); echoed in its AckResult",
    )


AckRejection = Literal["not_open", "not_firing", "already_acknowledged", "wrong_district"]


class AckResult(WireModel):
    """The worker's decision on one :class:`AlertAck`; published on
    ``riskmon.alert-ack-results`` keyed by district. Applied: the alert's ``acknowledged``
    message is on ``riskmon.alerts``. Rejected: the alert is unchanged (and the acknowledgement
    is also dead-lettered as ``ack_rejected``)."""

    format: RecordFormat = INTERNAL_FORMAT

    ack_id: str | None = Field(description="the AlertAck's ``ack_id``")
    alert_id: str
    district: DistrictCode
    who: str
    outcome: Literal["applied", "rejected"]
    code: AckRejection | None = Field(
        default=None,
        description=(
            "why it was rejected: not_open (resolved, expired or never existed), not_firing "
            "(still pending: nobody has been notified yet), already_acknowledged, "
            "wrong_district (the alert belongs to another district)"
        ),
    )
    reason: str | None = Field(default=None, description="the rejection in words, for operators")
    decided_at: AwareDatetime


def expired(alert: Alert, now: datetime) -> Alert:
    """The message that closes ``alert`` at ``now`` without its condition having ended: a new
    stream epoch dropped the state that would have resolved it."""
    return alert.model_copy(
        update={
            "seq": alert.seq + 1,
            "state": "resolved",
            "change": "expired",
            "resolved_at": now,
            "as_of": now,
        }
    )
