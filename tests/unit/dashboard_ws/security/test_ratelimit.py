"""Failed-login limiting: per account and per address, the sliding window, bounded memory."""

from __future__ import annotations

import pytest

from dashboard_ws.security.ratelimit import FailureWindow, LoginLimiter


def test_twenty_bad_passwords_from_one_address_are_limited() -> None:
    limiter = LoginLimiter(per_account=1000, per_address=20, window_s=900)
    for n in range(20):
        assert limiter.check(f"user{n}", "198.51.100.7", now=n).allowed
        limiter.failed(f"user{n}", "198.51.100.7", now=n)
    decision = limiter.check("someone", "198.51.100.7", now=20)
    assert not decision.allowed
    assert decision.reason == "too many failed logins from this address"
    assert decision.retry_after_s == pytest.approx(880)  # the first failure leaves at 900
    assert limiter.check("someone", "203.0.113.9", now=20).allowed  # other addresses are not


def test_the_default_limiter_limits_one_account_tried_from_many_addresses() -> None:
    limiter = LoginLimiter()
    for n in range(10):
        limiter.failed("ana", f"10.0.0.{n}", now=n)
    decision = limiter.check("ana", "10.9.9.9", now=10)
    assert not decision.allowed
    assert decision.reason == "too many failed logins for this account"
    assert limiter.check("bo", "10.9.9.9", now=10).allowed


def test_twenty_bad_passwords_for_one_account_are_limited_with_the_defaults() -> None:
    limiter = LoginLimiter()
    refused = 0
    for n in range(20):
        if limiter.check("ana", "198.51.100.7", now=n).allowed:
            limiter.failed("ana", "198.51.100.7", now=n)
        else:
            refused += 1
    assert refused == 10


def test_the_window_slides() -> None:
    window = FailureWindow(max_failures=3, window_s=60, max_keys=10)
    for t in (0, 10, 20):
        window.failed("k", t)
    assert window.retry_after("k", 30) == 30  # until the failure at 0 is 60 s old
    assert window.retry_after("k", 60) == 0
    window.failed("k", 61)
    assert window.retry_after("k", 62) == 8  # failures at 10, 20, 61: free at 70
    assert window.retry_after("k", 200) == 0
    assert len(window) == 0  # all expired: the key is forgotten


def test_success_clears_the_account_but_not_the_address() -> None:
    limiter = LoginLimiter(per_account=2, per_address=3, window_s=60)
    limiter.failed("ana", "a1", now=0)
    limiter.failed("ana", "a1", now=1)
    assert not limiter.check("ana", "a2", now=2).allowed
    limiter.succeeded("ana")
    assert limiter.check("ana", "a2", now=2).allowed
    limiter.failed("bo", "a1", now=3)
    assert not limiter.check("ana", "a1", now=4).allowed  # a1 has 3 failures


def test_memory_is_bounded_and_the_least_recent_key_goes_first() -> None:
    window = FailureWindow(max_failures=2, window_s=3600, max_keys=100)
    for n in range(10_000):
        window.failed(f"addr-{n}", now=n * 0.001)
        window.failed(f"addr-{n}", now=n * 0.001)
    assert len(window) == 100
    assert window.retry_after("addr-9999", 11) > 0
    assert window.retry_after("addr-0", 11) == 0  # evicted
    assert all(len(times) <= 2 for times in window._failures.values())


def test_a_failing_key_moves_to_the_end_of_the_eviction_order() -> None:
    window = FailureWindow(max_failures=5, window_s=3600, max_keys=2)
    window.failed("old", 0)
    window.failed("new", 1)
    window.failed("old", 2)  # old is now the most recent
    window.failed("third", 3)  # evicts "new"
    assert set(window._failures) == {"old", "third"}


def test_bad_limits_are_refused() -> None:
    for args in ((0, 60.0, 10), (1, 0.0, 10), (1, 60.0, 0)):
        with pytest.raises(ValueError, match="at least 1"):
            FailureWindow(*args)
