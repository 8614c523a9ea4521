"""HTTP caching and limits of the open endpoint (pure: the clock is an argument).

* :func:`not_modified` — RFC 9110 §13.1: ``If-None-Match`` (weak comparison; ``*``) decides when
  present, else ``If-Modified-Since``.
* :func:`max_age` — how long a client may keep the document: until the next publication, at
  most :data:`MAX_AGE_S` (so a correction of the same hour reaches caches within minutes).
* :class:`RequestLimiter` — requests per client address in a sliding window, on the login
  limiter's bounded :class:`~dashboard_ws.security.ratelimit.FailureWindow` (at most
  ``max_keys`` addresses are tracked, whatever a flood of addresses does).
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime

from dashboard_ws.security.ratelimit import FailureWindow

__all__ = ["MAX_AGE_S", "RequestLimiter", "http_date", "max_age", "not_modified"]

MAX_AGE_S = 600


def http_date(when: datetime) -> str:
    """An IMF-fixdate, e.g. ``Sat, 05 Dec 2026 14:00:00 GMT``.

    >>> http_date(datetime(2026, 12, 5, 14, 0, tzinfo=UTC))
    'Sat, 05 Dec 2026 14:00:00 GMT'
    """
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)


def not_modified(
    etag: str,
    last_modified: datetime,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> bool:
    """True when the client's copy is current (answer 304).

    >>> t = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    >>> not_modified('"a"', t, 'W/"a", "b"', None), not_modified('"a"', t, '"b"', None)
    (True, False)
    >>> not_modified('"a"', t, None, "Sat, 05 Dec 2026 14:00:00 GMT")
    True
    >>> not_modified('"a"', t, '"b"', "Sat, 05 Dec 2026 14:00:00 GMT")  # If-None-Match decides
    False
    """
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        if "*" in tags:
            return True
        return _opaque(etag) in {_opaque(tag) for tag in tags if tag}
    if if_modified_since is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # an unreadable date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def max_age(now: datetime, next_at: datetime, cap_s: int = MAX_AGE_S) -> int:
    """Seconds a cache may keep the document: until ``next_at``, at most ``cap_s``, at least 1.

    >>> t = datetime(2026, 12, 5, 14, 55, tzinfo=UTC)
    >>> max_age(t, datetime(2026, 12, 5, 15, 0, tzinfo=UTC)), max_age(t, t.replace(hour=16))
    (300, 600)
    """
    return max(1, min(cap_s, math.ceil((next_at - now).total_seconds())))


class RequestLimiter:
    """At most ``per_window`` requests per client address within ``window_s`` seconds.

    >>> limiter = RequestLimiter(per_window=2, window_s=10.0)
    >>> [limiter.admit("10.0.0.1", t) for t in (0.0, 1.0, 2.0)], limiter.admit("10.0.0.2", 2.0)
    ([0.0, 0.0, 8.0], 0.0)
    >>> limiter.admit("10.0.0.1", 10.5)
    0.0
    """

    def __init__(self, per_window: int = 60, window_s: float = 60.0, max_keys: int = 10_000):
        self.per_window = per_window
        self.window_s = window_s
        self._window = FailureWindow(per_window, window_s, max_keys)

    def __len__(self) -> int:
        """Addresses tracked now (at most ``max_keys``)."""
        return len(self._window)

    def admit(self, address: str, now: float) -> float:
        """0 when a request from ``address`` at ``now`` (monotonic seconds) may be answered (it
        is counted), else the seconds until it may."""
        wait = self._window.retry_after(address, now)
        if wait > 0:
            return wait
        self._window.failed(address, now)  # the window counts events: here, requests
        return 0.0
