"""The websocket messages of the gateway: server to client (:data:`WS_SERVER_MESSAGE`) and the
client's acknowledgement request (:class:`AckRequest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
    TypeAdapter,
)

from streams.contract.alerts import AckRejection, Alert
from streams.contract.base import DistrictCode, Name, Note, Text, Timestamp, Token, WireModel
from streams.contract.scores import ScoreUpdate


class SnapshotMessage(WireModel):
    """First message on a websocket: the latest update of every district and the open alerts."""

    type: Literal["snapshot"] = "snapshot"
    districts: list[ScoreUpdate]
    alerts: list[Alert] = Field(default_factory=list)


class ScoresMessage(WireModel):
    """Live updates, coalesced: the newest state of every district that changed since this
    client's previous ``scores`` message, sorted by district code, one entry per district. A
    client gets at most one every ``RISKMON_WS_COALESCE_MS`` (100 ms by default); one that falls
    behind gets the latest state of each district, never a backlog, so a district's ``seq``
    skips the updates it missed. Only the newest update's ``drivers`` are in it: ``contributors``
    explain a district's state whatever was skipped. Alerts, answers and heartbeats are their
    own messages, in the order the gateway received them."""

    type: Literal["scores"] = "scores"
    at: Timestamp = Field(description="the gateway's clock when it built this message")
    districts: list[ScoreUpdate] = Field(
        min_length=1, description="the districts that changed, sorted by district code"
    )


class AlertMessage(WireModel):
    """An alert opened, changed or resolved."""

    type: Literal["alert"] = "alert"
    alert: Alert


class HeartbeatMessage(WireModel):
    """Sent when a client has had nothing for ``RISKMON_WS_HEARTBEAT_S``: the gateway is alive
    and the connection works, so a page can tell a quiet city from a broken feed (browsers do
    not see websocket pings)."""

    type: Literal["heartbeat"] = "heartbeat"
    at: Timestamp = Field(description="the gateway's clock when it sent this")


class RequestErrorMessage(WireModel):
    """Server to one client: the gateway could not act on that client's message; nothing was
    done. (An acknowledgement the gateway passed on is answered with ``ack_result``.)"""

    type: Literal["request_error"] = "request_error"
    reason: str
    alert_id: str | None = Field(
        default=None, description="the alert the request named, when it could be read"
    )
    request_id: str | None = Field(
        default=None, description="the request's ``request_id``, when it could be read"
    )
    retry: bool = Field(
        description="true when the same request may succeed later (the broker did not take it)"
    )


class AckResultMessage(WireModel):
    """Server to the client that sent an ``ack``: what became of it. ``queued``: the broker took
    it and the worker will decide; then ``applied`` (the alert's ``acknowledged`` message goes to
    every client) or ``rejected`` (``code`` and ``reason`` say why; the alert is unchanged), or
    ``timed_out`` when no decision came within the gateway's wait (``RISKMON_ACK_WAIT_S``): the
    worker is down or far behind and may still apply it later, which the alert's own messages
    would show. A request the gateway could not pass on is answered with ``request_error``
    instead."""

    type: Literal["ack_result"] = "ack_result"
    request_id: str | None = Field(description="the request's ``request_id``, when it had one")
    alert_id: str
    status: Literal["queued", "applied", "rejected", "timed_out"]
    code: AckRejection | None = None
    reason: str | None = None


class AckRequest(WireModel):
    """Client to server: acknowledge an alert (needs the ``operator`` role or above). The
    acknowledger is the user the connection logged in as."""

    type: Literal["ack"] = "ack"
    alert_id: Text
    district: DistrictCode
    who: Name | None = Field(
        default=None,
        description="ignored (older clients sent it): the gateway records the authenticated user",
    )
    note: Note | None = None
    request_id: Token | None = Field(
        default=None,
        description="chosen by the client; echoed in the ack_result and request_error answers",
    )


WsServerMessage = (
    SnapshotMessage
    | ScoresMessage
    | AlertMessage
    | AckResultMessage
    | RequestErrorMessage
    | HeartbeatMessage
)


WS_SERVER_MESSAGE: TypeAdapter[WsServerMessage] = TypeAdapter(
    Annotated[WsServerMessage, Field(discriminator="type")]
)


_AT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def scores_frame(at: datetime, districts: Sequence[str]) -> str:
    """The JSON text of a :class:`ScoresMessage` from ``districts``: ScoreUpdates already
    encoded as JSON (``model_dump_json``), in district order. The gateway encodes each update
    once and splices the same text into the frames of every client.

    >>> from datetime import UTC
    >>> scores_frame(datetime(2026, 5, 1, tzinfo=UTC), ['{"district":"1"}'])
    '{"type":"scores","at":"2026-05-01T00:00:00Z","districts":[{"district":"1"}]}'
    """
    when = _AT.dump_json(at).decode()
    return f'{{"type":"scores","at":{when},"districts":[{",".join(districts)}]}}'
