"""What one gateway lets clients take: connections in all and per user, messages per connection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dashboard_ws.limits import (
    CLOSE_QUEUE_OVERFLOW,
    CLOSE_SESSION_ENDED,
    CLOSE_TOO_MANY_MESSAGES,
    ConnectionLimits,
    TokenBucket,
)

# --- connections --------------------------------------------------------------------------------


def test_a_user_over_its_share_gets_429_others_still_get_in() -> None:
    limits = ConnectionLimits(max_total=10, max_per_user=2)
    assert limits.refusal("ana") is None
    limits.open("ana")
    assert limits.refusal("ana") is None
    limits.open("ana")
    assert limits.refusal("ana") == (429, "at most 2 open connections per user")
    assert limits.refusal("bo") is None
    assert (limits.total, limits.of("ana"), limits.of("bo")) == (2, 2, 0)


def test_a_full_gateway_gets_503_for_everyone() -> None:
    limits = ConnectionLimits(max_total=3, max_per_user=2)
    for name in ("ana", "ana", "bo"):
        assert limits.refusal(name) is None
        limits.open(name)
    for name in ("ana", "bo", "cy"):  # the gateway's limit is said first, even to ana
        refusal = limits.refusal(name)
        assert refusal is not None
        assert refusal[0] == 503


def test_closing_frees_a_place_for_the_user_and_the_gateway() -> None:
    limits = ConnectionLimits(max_total=3, max_per_user=2)
    for name in ("ana", "ana", "bo"):
        limits.open(name)
    limits.close("bo")
    assert limits.refusal("cy") is None
    assert limits.refusal("ana") == (429, "at most 2 open connections per user")
    limits.close("ana")
    assert limits.refusal("ana") is None
    assert (limits.total, limits.of("ana"), limits.of("bo")) == (1, 1, 0)
    limits.close("ana")
    assert (limits.total, limits.of("ana")) == (0, 0)


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["ana", "bo", "cy"])), max_size=60))
def test_counts_follow_any_sequence_of_admitted_opens_and_closes(
    steps: list[tuple[bool, str]],
) -> None:
    limits = ConnectionLimits(max_total=4, max_per_user=2)
    model: dict[str, int] = {}
    for opening, name in steps:
        if opening:
            refusal = limits.refusal(name)
            expected: int | None = None
            if sum(model.values()) >= 4:
                expected = 503
            elif model.get(name, 0) >= 2:
                expected = 429
            assert (refusal[0] if refusal else None) == expected
            if refusal is None:
                limits.open(name)
                model[name] = model.get(name, 0) + 1
        elif model.get(name, 0) > 0:
            limits.close(name)
            model[name] -= 1
        assert limits.total == sum(model.values())
        assert all(limits.of(n) == model.get(n, 0) for n in ("ana", "bo", "cy"))


def test_close_codes_are_the_applications() -> None:
    codes = {CLOSE_SESSION_ENDED, CLOSE_TOO_MANY_MESSAGES, CLOSE_QUEUE_OVERFLOW}
    assert len(codes) == 3
    assert all(4000 <= code <= 4999 for code in codes)


# --- messages -----------------------------------------------------------------------------------


def test_a_burst_is_allowed_at_once_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(100.4)  # 0.8 of a token
    assert bucket.take(100.5)  # one token after 0.5 s at 2 per second
    assert not bucket.take(100.5)
    assert [bucket.take(101.5) for _ in range(3)] == [True, True, False]


def test_an_idle_bucket_refills_only_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, now=0.0)
    assert bucket.take(0.0)
    assert [bucket.take(3600.0) for _ in range(3)] == [True, True, False]


def test_time_going_backwards_gives_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(10.5)
    assert bucket.take(11.0)  # counted from 10.0, not from 5.0
    full = TokenBucket(rate=1.0, burst=2, now=10.0)
    assert [full.take(5.0), full.take(5.0), full.take(5.0)] == [True, True, False]  # no debt


times = st.lists(
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)


@given(
    st.floats(min_value=0.01, max_value=100.0, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=50),
    times,
)
def test_accepted_messages_never_exceed_burst_plus_rate_times_elapsed(
    rate: float, burst: int, offsets: list[float]
) -> None:
    instants = sorted(offsets)
    bucket = TokenBucket(rate=rate, burst=burst, now=instants[0])
    accepted = 0
    for at in instants:
        accepted += bucket.take(at)
        bound = burst + rate * (at - instants[0])
        assert accepted <= bound + 1e-9 * max(1.0, bound), (accepted, bound)


@given(
    st.floats(min_value=0.01, max_value=100.0, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=50),
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False),
)
def test_a_client_sending_at_the_rate_is_never_refused(
    rate: float, burst: int, start: float
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=start)
    step = 1.0 / rate
    # Spaced a little more than 1/rate apart, every message finds a token.
    assert all(bucket.take(start + n * step * (1 + 1e-6)) for n in range(1, 60))
