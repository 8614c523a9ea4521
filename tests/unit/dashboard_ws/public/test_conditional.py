"""Conditional requests, cache lifetimes and the per-address request limit of the open data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dashboard_ws.public.conditional import (
    MAX_AGE_S,
    RequestLimiter,
    http_date,
    max_age,
    not_modified,
)

T = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
TAG = '"0123abcd"'


def test_if_none_match_decides_when_present() -> None:
    assert not_modified(TAG, T, TAG, None)
    assert not_modified(TAG, T, f'"x", W/{TAG}', None)  # weak comparison, lists
    assert not_modified(TAG, T, "*", None)
    assert not not_modified(TAG, T, '"other"', http_date(T + timedelta(days=1)))
    assert not not_modified(TAG, T, "", None)


def test_if_modified_since_when_no_tag_is_sent() -> None:
    assert not_modified(TAG, T, None, http_date(T))
    assert not_modified(TAG, T + timedelta(microseconds=5), None, http_date(T))
    assert not not_modified(TAG, T, None, http_date(T - timedelta(seconds=1)))
    assert not not_modified(TAG, T, None, "not a date")
    assert not not_modified(TAG, T, None, None)


def test_caches_keep_the_document_until_the_next_hour_at_most_ten_minutes() -> None:
    assert max_age(T, T + timedelta(minutes=3)) == 180
    assert max_age(T, T + timedelta(hours=1)) == MAX_AGE_S == 600
    assert max_age(T, T) == 1
    assert max_age(T, T - timedelta(minutes=1)) == 1


@given(st.lists(st.floats(min_value=0, max_value=300), min_size=1, max_size=200))
def test_no_window_admits_more_than_the_limit(offsets: list[float]) -> None:
    limiter = RequestLimiter(per_window=5, window_s=10.0)
    admitted = []
    for now in sorted(offsets):
        wait = limiter.admit("198.51.100.7", now)
        if wait == 0:
            admitted.append(now)
        else:
            assert 0 < wait <= 10.0
    for start in admitted:
        assert sum(1 for t in admitted if start <= t < start + 10.0) <= 5


def test_addresses_are_limited_separately_and_memory_is_bounded() -> None:
    limiter = RequestLimiter(per_window=1, window_s=60.0, max_keys=100)
    assert limiter.admit("a", 0.0) == 0.0
    assert limiter.admit("a", 1.0) == 59.0
    assert limiter.admit("b", 1.0) == 0.0
    for n in range(1000):
        limiter.admit(f"10.0.{n // 256}.{n % 256}", 2.0)
    assert len(limiter) <= 100
