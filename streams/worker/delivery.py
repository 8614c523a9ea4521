"""Outputs confirmed before progress: every record the worker publishes is acknowledged by the
broker (``acks=all``) before the batch that made it returns, so neither Faust's committed offsets
(acked when the batch returns) nor a checkpoint (saved between batches) can cover an output that
was lost on the way.

Faust's ``topic.send`` is fire-and-forget: it hands the record to the producer and returns a
future; a delivery error is only logged by Faust. :class:`Delivery` sends a whole batch, awaits
every future, and sends again what failed, with a growing pause (:func:`backoff`), until the
broker has all of it: a Kafka outage holds the batch (and so the offsets) instead of losing it.
A record the broker refuses for its size can never succeed: it is handed to ``too_large``, which
returns its replacement (a bounded dead letter) or None (counted and logged as lost: a dead
letter that is itself refused, which the dead-letter bounds rule out).

Redelivery after a crash sends some outputs twice; every consumer is idempotent by identity
(located events by ``(source, id)``, score updates and alerts by ``seq``), so nothing counts twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from streams.metrics import WorkerMetrics

log = logging.getLogger("riskmon.worker")

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish: ``topic`` is a Faust topic; ``what`` names it in metrics/logs."""

    topic: Any
    key: bytes | None
    value: bytes
    what: str
    partition: int | None = None


Failure = Literal["retry", "too_large"]

Placed = tuple[int, int]
"""Where the broker put a record: (partition, offset)."""

Result = Placed | None | BaseException
"""What became of one send: where the record landed (None: the producer did not say), or the
error it met."""

Sends = Callable[[Sequence[Outgoing]], Awaitable[list[Result]]]
"""Sends records and waits for the broker's answer to each, in their order (never raises for a
refused record: its error is its result)."""


def classify(exc: KafkaError) -> Failure:
    """What to do about a send that failed with ``exc``: a record too large for the broker is
    refused for ever; anything else (timeouts, leader changes, a broker away, even an ACL being
    fixed) is tried again: dropping it would lose an output whose input is already read.

    >>> classify(MessageSizeTooLargeError()), classify(KafkaError())
    ('too_large', 'retry')
    """
    return "too_large" if isinstance(exc, MessageSizeTooLargeError) else "retry"


def backoff(attempt: int) -> float:
    """Seconds to wait before the ``attempt``-th resend (0-based): 0.2, 0.4, 0.8 … at most 5.

    >>> [backoff(n) for n in (0, 1, 2, 5, 50)]
    [0.2, 0.4, 0.8, 5.0, 5.0]
    """
    return float(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** min(attempt, 16)))


TooLarge = Callable[[Outgoing, KafkaError], "Outgoing | None"]


class Delivery:
    """Sends batches of :class:`Outgoing` and returns once the broker has every one."""

    def __init__(
        self, metrics: WorkerMetrics, too_large: TooLarge, sends: Sends | None = None
    ) -> None:
        self.metrics = metrics
        self.too_large = too_large
        self.sends = sends or faust_sends

    async def confirm(self, outgoing: Sequence[Outgoing]) -> list[Placed | None]:
        """Publish ``outgoing`` (in order, per partition, on the first attempt) and wait until
        the broker acknowledged each one; resend what failed until it did. Returns where each
        record of ``outgoing`` landed, in its order (None for a record that was replaced by a
        dead letter or lost): the in-process hand-off (:mod:`streams.worker.handoff`) applies
        a record at the offset it holds in the log."""
        placed: list[Placed | None] = [None] * len(outgoing)
        pending = list(enumerate(outgoing))
        attempt = 0
        while pending:
            results = await self.sends([out for _, out in pending])
            again: list[tuple[int, Outgoing]] = []
            for (index, out), result in zip(pending, results, strict=True):
                if not isinstance(result, BaseException):
                    if out is outgoing[index]:
                        placed[index] = result
                    continue
                if not isinstance(result, KafkaError):
                    raise result  # a bug, not the broker: stop loudly
                if classify(result) == "too_large":
                    replacement = self.too_large(out, result)
                    if replacement is None:
                        self.metrics.outputs_lost.labels(out.what).inc()
                        log.error(
                            "output lost what=%s bytes=%s error=%r: the broker refuses its size",
                            out.what,
                            len(out.value),
                            result,
                        )
                    else:
                        again.append((index, replacement))
                    continue
                self.metrics.output_retries.labels(out.what).inc()
                again.append((index, out))
            if again:
                pause = backoff(attempt)
                if attempt == 0 or attempt % 10 == 0:
                    log.warning(
                        "outputs not confirmed records=%s attempt=%s retry_in_s=%.1f first=%r",
                        len(again),
                        attempt + 1,
                        pause,
                        next(r for r in results if isinstance(r, BaseException)),
                    )
                await asyncio.sleep(pause)
                attempt += 1
            pending = again
        if attempt:
            log.info("outputs confirmed after attempts=%s", attempt + 1)
        return placed


async def faust_sends(outgoing: Sequence[Outgoing]) -> list[Result]:
    """Faust's ``topic.send``, one record at a time (the worker uses
    :func:`streams.worker.batch_send.batch_sends` once its producer runs)."""
    futures = [await _send(out) for out in outgoing]
    results = await asyncio.gather(*futures, return_exceptions=True)
    return [r if isinstance(r, BaseException) else placed_of(r) for r in results]


def placed_of(metadata: Any) -> Placed | None:
    """(partition, offset) of a send's result (aiokafka's ``RecordMetadata``), None when the
    producer did not say (an offset below 0: the broker gave none)."""
    partition = getattr(metadata, "partition", None)
    offset = getattr(metadata, "offset", None)
    if not isinstance(partition, int) or not isinstance(offset, int) or offset < 0:
        return None
    return partition, offset


async def _send(out: Outgoing) -> asyncio.Future[Any]:
    """Faust's send, as a future that fails instead of raising (so one refusal does not stop
    the others of the batch from being sent)."""
    try:
        future: asyncio.Future[Any] = await out.topic.send(
            key=out.key, value=out.value, partition=out.partition
        )
    except KafkaError as exc:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(exc)
    return future
