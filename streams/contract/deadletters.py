"""Dead letters (``riskmon.deadletter``): an input that could not be used, its original bytes
(bounded) and the reason; :class:`RawRecord` is a Kafka record as read, :func:`dead_letter` builds
the letter of one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    Field,
)

from streams.contract.base import INTERNAL_FORMAT, RecordFormat, WireModel

DeadLetterError = Literal[
    "not_json",
    "schema",
    "outside_city",
    "unknown_district",
    "not_counted",
    "future",
    "conflict",
    "not_storable",
    "ack_rejected",
    "internal",
    "output_too_large",
    "state_full",
    "cap_refused",
]


DEAD_LETTER_VALUE_MAX = 256 * 1024  # original bytes kept in a dead letter
DEAD_LETTER_KEY_MAX = 1024  # original key bytes kept (a key is a district code or an id)
DEAD_LETTER_REASON_MAX = 2000  # characters of the reason kept


class DeadLetter(WireModel):
    """An input the worker could not use, with its original bytes and a reason to act on."""

    format: RecordFormat = INTERNAL_FORMAT

    topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str
    reason: str
    error: DeadLetterError
    failed_at: AwareDatetime
    key_truncated_from: int | None = Field(
        default=None,
        ge=0,
        description=f"set when the original key was larger than {DEAD_LETTER_KEY_MAX} bytes: "
        "its size; key_b64 then holds its first bytes",
    )
    value_truncated_from: int | None = Field(
        default=None,
        ge=0,
        description="set when the original value was larger than "
        f"{DEAD_LETTER_VALUE_MAX} bytes: its size; value_b64 then holds its first "
        f"{DEAD_LETTER_VALUE_MAX} bytes (so that the dead letter itself fits in a Kafka message)",
    )

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)

    @staticmethod
    def encode(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as read: where it came from and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def dead_letter(raw: RawRecord, error: DeadLetterError, reason: str, at: datetime) -> DeadLetter:
    """A dead letter of ``raw``; a value over :data:`DEAD_LETTER_VALUE_MAX` bytes (a key over
    :data:`DEAD_LETTER_KEY_MAX`) keeps its first bytes and says how large it was, and the reason
    is cut at :data:`DEAD_LETTER_REASON_MAX` characters: a dead letter always fits in a Kafka
    message (about 350 KB at most), whatever the input (Kafka accepts inputs that, base64-encoded
    in a dead letter, would exceed its message size).

    >>> from datetime import UTC
    >>> big = RawRecord("riskmon.incidents", 0, 7, None, b"x" * 1_000_000)
    >>> letter = dead_letter(big, "not_json", "not JSON", datetime(2026, 11, 24, tzinfo=UTC))
    >>> len(letter.value), letter.value_truncated_from
    (262144, 1000000)
    """
    value = raw.value or b""
    kept = value[:DEAD_LETTER_VALUE_MAX]
    key = raw.key[:DEAD_LETTER_KEY_MAX] if raw.key is not None else None
    # A reason quoting the input may quote a NUL, which PostgreSQL's text cannot hold: shown
    # escaped, so the dead letter is stored under its input's topic like any other.
    reason = reason.replace("\x00", "\\x00")
    if len(reason) > DEAD_LETTER_REASON_MAX:
        told = f"… ({len(reason)} characters)"
        reason = reason[: DEAD_LETTER_REASON_MAX - len(told)] + told
    return DeadLetter(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key_b64=DeadLetter.encode(key),
        key_truncated_from=len(raw.key) if raw.key is not None and key != raw.key else None,
        value_b64=DeadLetter.encode(kept) or "",
        reason=reason,
        error=error,
        failed_at=at,
        value_truncated_from=len(value) if len(kept) < len(value) else None,
    )
