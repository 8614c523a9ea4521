"""What one gateway lets clients take (pure: explicit state, the clock is an argument).

* :class:`ConnectionLimits`: open websockets per gateway (over it: HTTP 503 at the handshake)
  and per user (over it: 429).
* :class:`TokenBucket`: messages per connection, ``burst`` at once and ``rate`` per second
  sustained (over it: the socket is closed with :data:`CLOSE_TOO_MANY_MESSAGES`).

Close codes the gateway uses (4000-4999 are the application's, RFC 6455 §7.4.2):
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CLOSE_QUEUE_OVERFLOW",
    "CLOSE_SESSION_ENDED",
    "CLOSE_TOO_MANY_MESSAGES",
    "CLOSE_TOO_SLOW",
    "ConnectionLimits",
    "TokenBucket",
]

CLOSE_SESSION_ENDED = 4001  # logged out, expired, disabled, role changed: log in again
CLOSE_TOO_MANY_MESSAGES = 4008  # the client sent faster than its message rate
CLOSE_QUEUE_OVERFLOW = 4013  # answers piled up for a client that does not read them
CLOSE_TOO_SLOW = 4014  # one message waited longer than RISKMON_WS_SEND_TIMEOUT_S to be taken


@dataclass
class ConnectionLimits:
    """Open connections in all and per user."""

    max_total: int
    max_per_user: int
    total: int = 0

    def __post_init__(self) -> None:
        self._per_user: dict[str, int] = {}

    def refusal(self, user: str) -> tuple[int, str] | None:
        """(HTTP status, reason) when ``user`` may not open one more connection now."""
        if self.total >= self.max_total:
            return 503, "this gateway serves its maximum of connections; try another or later"
        if self._per_user.get(user, 0) >= self.max_per_user:
            return 429, f"at most {self.max_per_user} open connections per user"
        return None

    def open(self, user: str) -> None:
        self.total += 1
        self._per_user[user] = self._per_user.get(user, 0) + 1

    def close(self, user: str) -> None:
        self.total -= 1
        left = self._per_user.get(user, 0) - 1
        if left > 0:
            self._per_user[user] = left
        else:
            self._per_user.pop(user, None)

    def of(self, user: str) -> int:
        return self._per_user.get(user, 0)


@dataclass
class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a message takes one.

    >>> bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
    >>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(1.0)]
    [True, True, False, True]
    """

    rate: float
    burst: int
    now: float

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.now

    def take(self, now: float) -> bool:
        """Spend a token at ``now``; False when none is left (the message is over the rate)."""
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
