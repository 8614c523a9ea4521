"""Keyset page cursors for the history API (pure: no I/O).

A list route orders its rows by a unique key (for events: occurrence time, epoch, kind, source,
id). A page that stops at ``limit`` names the key of its last row as an opaque cursor; the next
request passes it back as ``after=`` and the query continues strictly after that key. Unlike an
offset, the cursor neither skips nor repeats a row when rows are added while a client pages, and
each page costs the same however deep it lies.

>>> from datetime import UTC, datetime
>>> when = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
>>> token = encode(EVENT_KEY, (when, 2, "incident", "119", "F-7"))
>>> decode(EVENT_KEY, token)[1:]
(2, 'incident', '119', 'F-7')
>>> decode(ALERT_KEY, token)
Traceback (most recent call last):
...
ValueError: this cursor belongs to another route
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["ALERT_KEY", "DEAD_LETTER_KEY", "EVENT_KEY", "Key", "KeyShape", "decode", "encode"]

Key = tuple[datetime | int | str, ...]


@dataclass(frozen=True)
class KeyShape:
    """The route a cursor belongs to and the types of its key's fields, in order."""

    route: str
    fields: tuple[type, ...]


# occurred_at, epoch, kind, source, event_id (oldest first)
EVENT_KEY = KeyShape("events", (datetime, int, str, str, str))
# opened_at, id (newest first)
ALERT_KEY = KeyShape("alerts", (datetime, str))
# failed_at, epoch, topic, partition, offset (newest first)
DEAD_LETTER_KEY = KeyShape("dead-letters", (datetime, int, str, int, int))


def encode(shape: KeyShape, key: Sequence[datetime | int | str]) -> str:
    """The cursor text of ``key`` (URL-safe, no padding)."""
    if len(key) != len(shape.fields):
        raise ValueError(f"a {shape.route} key has {len(shape.fields)} fields, got {len(key)}")
    fields = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    raw = json.dumps([shape.route, *fields], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def decode(shape: KeyShape, token: str) -> Key:
    """The key a cursor names; ``ValueError`` with a readable reason if it is not one of
    ``shape``'s cursors."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError("not a cursor this API gave out") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ValueError("not a cursor this API gave out")
    if data[0] != shape.route:
        raise ValueError("this cursor belongs to another route")
    values = data[1:]
    if len(values) != len(shape.fields):
        raise ValueError("not a cursor this API gave out")
    key: list[datetime | int | str] = []
    for kind, value in zip(shape.fields, values, strict=True):
        if kind is datetime and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("not a cursor this API gave out") from None
            if moment.tzinfo is None:
                raise ValueError("not a cursor this API gave out")
            key.append(moment)
        elif (kind is int and type(value) is int) or (kind is str and isinstance(value, str)):
            key.append(value)
        else:
            raise ValueError("not a cursor this API gave out")
    return tuple(key)
