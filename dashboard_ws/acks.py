"""Operators' acknowledgements: websocket ``ack`` requests -> ``riskmon.alert-acks``.

:func:`decode_client_message` is pure; :class:`AckPublisher` is the one producer of the gateway.
The worker applies the acknowledgement to the alert and publishes the alert's new state, which
every gateway forwards to every client.

The acknowledging operator's name (``who``) is taken from the client as given: the gateway does
not authenticate users yet.
"""

from __future__ import annotations

from datetime import datetime

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from streams.contract import AckRequest, AlertAck
from streams.settings import Settings


def decode_client_message(text: str | bytes) -> AckRequest | str:
    """The client's request, or the reason it cannot be used.

    >>> decode_client_message('{"type": "ack", "alert_id": "a1", "district": "4157056000",'
    ...                       ' "who": "kim"}').who
    'kim'
    >>> decode_client_message('{"type": "hello"}')
    "type: Input should be 'ack'"
    """
    try:
        return AckRequest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        return f"{where}: {first['msg']}"


def to_ack(request: AckRequest, at: datetime) -> AlertAck:
    return AlertAck(
        alert_id=request.alert_id,
        district=request.district,
        who=request.who,
        note=request.note,
        at=at,
    )


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
            except BaseException:
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
