"""Failed-login limiting per account and per address (pure: explicit state, the clock — monotonic
seconds — is an argument).

A :class:`FailureWindow` counts failures per key in a sliding window: a key with
``max_failures`` failures within the last ``window_s`` seconds is limited until the oldest of
them leaves the window. It keeps at most ``max_failures`` instants per key and at most
``max_keys`` keys; when a new key would exceed that, the least recently failed key is forgotten.
Memory is therefore bounded by ``max_keys × max_failures`` instants whatever an attacker sends.
(The price: a flood of distinct keys can make the window forget a key early. The limit per
address stops one client from doing that cheaply; many addresses are a matter for the network.)

:class:`LoginLimiter` combines two windows: one per account name (guessing one user's password
from many addresses) and one per client address (one client trying many names). A login is
refused, before its password is even checked, while either is limited; a failed password counts
against both; a successful one clears the account's failures (not the address's: an attacker
who knows one password must not wipe its own record).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

__all__ = ["FailureWindow", "LoginDecision", "LoginLimiter"]


class FailureWindow:
    """Failures per key in a sliding window of ``window_s`` seconds, at most ``max_keys`` keys."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int) -> None:
        if max_failures < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("max_failures and max_keys need at least 1, window_s more than 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # oldest key first

    def __len__(self) -> int:
        """Keys tracked now."""
        return len(self._failures)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again: 0 when it is not limited."""
        times = self._recent(key, now)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return times[0] + self.window_s - now

    def failed(self, key: str, now: float) -> None:
        """Count a failure of ``key`` at ``now``."""
        times = self._recent(key, now)
        if times is None:
            times = deque(maxlen=self.max_failures)
            self._failures[key] = times
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(key)
        times.append(now)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        """``key``'s failures still within the window (older ones dropped), None if none."""
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


@dataclass(frozen=True)
class LoginDecision:
    """Whether a login may be tried now; if not, why and for how long."""

    allowed: bool
    retry_after_s: float = 0.0
    reason: str = ""


class LoginLimiter:
    """Failed logins limited per account name and per client address.

    Defaults: 10 failures per account and 20 per address within 15 minutes, 10,000 keys each
    (the gateway builds it from the settings ``login_*``).
    """

    def __init__(
        self,
        *,
        per_account: int = 10,
        per_address: int = 20,
        window_s: float = 900.0,
        max_keys: int = 10_000,
    ) -> None:
        self.accounts = FailureWindow(per_account, window_s, max_keys)
        self.addresses = FailureWindow(per_address, window_s, max_keys)

    def check(self, account: str, address: str, now: float) -> LoginDecision:
        """May a login for ``account`` from ``address`` be tried at ``now``?"""
        by_address = self.addresses.retry_after(address, now)
        if by_address > 0:
            return LoginDecision(False, by_address, "too many failed logins from this address")
        by_account = self.accounts.retry_after(account, now)
        if by_account > 0:
            return LoginDecision(False, by_account, "too many failed logins for this account")
        return LoginDecision(True)

    def failed(self, account: str, address: str, now: float) -> None:
        """Count a wrong password (or an unknown name) against both."""
        self.accounts.failed(account, now)
        self.addresses.failed(address, now)

    def succeeded(self, account: str) -> None:
        """A correct password: the account's failures are forgotten."""
        self.accounts.clear(account)
