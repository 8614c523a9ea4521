"""Operators' acknowledgements: websocket ``ack`` requests -> ``riskmon.alert-acks``, and the
worker's decision back to the client that asked.

:func:`decode_client_message` and :class:`PendingAcks` are pure; :class:`AckPublisher` is the one
producer of the gateway. The gateway gives every acknowledgement a fresh ``ack_id`` and answers the
client ``ack_result`` ``queued`` once the broker has it. The worker applies it (the alert's new
state goes to every client as an ``alert`` message) or rejects it, and publishes its decision on
``riskmon.alert-ack-results``; every gateway reads that topic, and the one that holds the
``ack_id`` in its :class:`PendingAcks` tells its client ``applied`` or ``rejected``. When no
decision comes within ``wait_s`` (the worker is down or far behind) the client is told
``timed_out`` instead of waiting for ever; every acknowledgement is answered once.

The acknowledger (``who``) is the user the connection authenticated as (the gateway checked the
role before calling :func:`to_ack`); a ``who`` the client still sends is ignored.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from streams.contract import AckRequest, AckResult, AckResultMessage, AlertAck
from streams.settings import Settings

C = TypeVar("C", bound=Hashable)

# A client may have this many acknowledgements waiting for the worker's decision.
MAX_PENDING_PER_CLIENT = 32
# A decision that has not come after this long is no longer waited for (the worker is down or far
# behind): the client is told ``timed_out``; the alert's own messages still show the
# acknowledgement if the worker applies it later. The gateway takes it from RISKMON_ACK_WAIT_S.
PENDING_WAIT_S = 600.0


def decode_client_message(text: str | bytes) -> AckRequest | str:
    """The client's request, or the reason it cannot be used.

    >>> request = '{"type": "ack", "alert_id": "a1", "district": "4157056000"}'
    >>> decode_client_message(request).alert_id
    'a1'
    >>> decode_client_message('{"type": "hello"}')
    "type: Input should be 'ack'"
    """
    try:
        return AckRequest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        return f"{where}: {first['msg']}"


def to_ack(request: AckRequest, who: str, at: datetime, ack_id: str) -> AlertAck:
    """The acknowledgement to publish: ``who`` is the authenticated user, never the client's."""
    return AlertAck(
        alert_id=request.alert_id,
        district=request.district,
        who=who,
        note=request.note,
        at=at,
        ack_id=ack_id,
    )


@dataclass(frozen=True, slots=True)
class _Waiting(Generic[C]):
    client: C
    request_id: str | None
    alert_id: str
    since: float


class PendingAcks(Generic[C]):
    """Acknowledgements passed on to the worker and waiting for its decision, by ``ack_id``.

    Clients are any hashable id; the clock is an argument (seconds, any monotonic origin).

    >>> pending: PendingAcks[int] = PendingAcks(per_client=1)
    >>> request = AckRequest(alert_id="a1", district="4157056000", who="kim", request_id="r1")
    >>> pending.admit(7), pending.add("x1", 7, request, now=0.0), pending.admit(7)
    (True, None, False)
    >>> result = AckResult(ack_id="x1", alert_id="a1", district="4157056000", who="kim",
    ...                    outcome="applied", decided_at="2026-11-25T00:00:00Z")
    >>> client, message = pending.decide(result)
    >>> client, message.status, message.request_id
    (7, 'applied', 'r1')
    >>> pending.decide(result) is None  # told once; a redelivered result is ignored
    True
    """

    def __init__(
        self, per_client: int = MAX_PENDING_PER_CLIENT, wait_s: float = PENDING_WAIT_S
    ) -> None:
        self.per_client = per_client
        self.wait_s = wait_s
        self._waiting: dict[str, _Waiting[C]] = {}
        self._count: dict[C, int] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, ack_id: object) -> bool:
        return ack_id in self._waiting

    def admit(self, client: C) -> bool:
        """True while ``client`` has fewer than ``per_client`` acknowledgements waiting."""
        return self._count.get(client, 0) < self.per_client

    def add(self, ack_id: str, client: C, request: AckRequest, now: float) -> None:
        """Wait for the decision on ``ack_id``; add it before publishing (a decision may come
        back before the publisher returns)."""
        self.forget(ack_id)
        self._waiting[ack_id] = _Waiting(client, request.request_id, request.alert_id, now)
        self._count[client] = self._count.get(client, 0) + 1

    def forget(self, ack_id: str) -> _Waiting[C] | None:
        waiting = self._waiting.pop(ack_id, None)
        if waiting is not None:
            left = self._count[waiting.client] - 1
            if left:
                self._count[waiting.client] = left
            else:
                del self._count[waiting.client]
        return waiting

    def decide(self, result: AckResult) -> tuple[C, AckResultMessage] | None:
        """The client to tell and what, when ``result`` answers an acknowledgement held here;
        None for another gateway's, a timed-out one, or a repeat."""
        waiting = None if result.ack_id is None else self.forget(result.ack_id)
        if waiting is None:
            return None
        message = AckResultMessage(
            request_id=waiting.request_id,
            alert_id=result.alert_id,
            status=result.outcome,
            code=result.code,
            reason=result.reason,
        )
        return waiting.client, message

    def drop_client(self, client: C) -> int:
        """Forget the acknowledgements of a client that went away; returns how many."""
        gone = [ack_id for ack_id, w in self._waiting.items() if w.client == client]
        for ack_id in gone:
            self.forget(ack_id)
        return len(gone)

    def expire(self, now: float) -> list[tuple[C, str, AckResultMessage]]:
        """Stop waiting for decisions older than ``wait_s``: for each, the client to tell, the
        ``ack_id`` and the ``timed_out`` answer, oldest first.

        >>> pending: PendingAcks[int] = PendingAcks(wait_s=60.0)
        >>> pending.add("x1", 7, AckRequest(alert_id="a1", district="4157056000", who="kim",
        ...                                 request_id="r1"), now=0.0)
        >>> pending.expire(59.9)
        []
        >>> [(client, ack_id, m.status, m.request_id) for client, ack_id, m in pending.expire(60.0)]
        [(7, 'x1', 'timed_out', 'r1')]
        >>> pending.expire(120.0), len(pending)  # told once
        ([], 0)
        """
        old = [(ack_id, w) for ack_id, w in self._waiting.items() if now - w.since >= self.wait_s]
        told = []
        for ack_id, waiting in old:
            self.forget(ack_id)
            message = AckResultMessage(
                request_id=waiting.request_id,
                alert_id=waiting.alert_id,
                status="timed_out",
                reason=f"no decision from the worker within {self.wait_s:g} s (it is down or far "
                "behind); if it applies the acknowledgement later, the alert's own message "
                "will show it",
            )
            told.append((waiting.client, ack_id, message))
        return told

    def next_expiry(self) -> float | None:
        """When the oldest wait ends (same clock as ``add``), or None when nothing waits.

        >>> pending: PendingAcks[int] = PendingAcks(wait_s=60.0)
        >>> pending.next_expiry() is None
        True
        >>> pending.add("x1", 7, AckRequest(alert_id="a1", district="4157056000", who="k"), 5.0)
        >>> pending.next_expiry()
        65.0
        """
        if not self._waiting:
            return None
        return min(w.since for w in self._waiting.values()) + self.wait_s


class AckPublisher:
    """Publishes :class:`AlertAck` records keyed by district (co-partitioned with the alerts)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, ack: AlertAck) -> None:
        """Send ``ack`` and wait for the broker; connects on first use (raises KafkaError)."""
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.require_bootstrap(),
                acks="all",
                **self._settings.kafka_client_options(),
            )
            try:
                await producer.start()
            except BaseException:  # cleanup, re-raised: a producer that failed to start is closed
                await producer.stop()
                raise
            self._producer = producer
        await self._producer.send_and_wait(
            self._settings.topics.alert_acks,
            ack.model_dump_json().encode(),
            key=ack.district.encode(),
        )

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
