"""argon2id hashing: round trip, wrong passwords, unknown users take the same work, rehash."""

from __future__ import annotations

import time

import pytest

from dashboard_ws.security.passwords import (
    OWASP_MINIMUM,
    PARAMETERS,
    Argon2Parameters,
    PasswordHasher,
    password_problem,
)

FAST = Argon2Parameters(memory_kib=1024, time_cost=1, parallelism=1)  # tests only


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_the_chosen_parameters_meet_owasps_minimum() -> None:
    assert PARAMETERS.memory_kib >= OWASP_MINIMUM.memory_kib
    assert PARAMETERS.time_cost >= OWASP_MINIMUM.time_cost
    assert PARAMETERS.parallelism >= OWASP_MINIMUM.parallelism
    assert PARAMETERS.salt_len >= 16


def test_a_hash_is_argon2id_with_the_parameters_and_verifies(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in stored
    assert hasher.verify(stored, "correct horse battery")
    assert not hasher.verify(stored, "correct horse battery!")
    assert not hasher.verify(stored, "")


def test_two_hashes_of_one_password_differ_by_their_salt(hasher: PasswordHasher) -> None:
    assert hasher.hash("same password 1") != hasher.hash("same password 1")


def test_a_malformed_stored_hash_verifies_as_false_and_needs_a_rehash() -> None:
    hasher = PasswordHasher(FAST)
    assert not hasher.verify("not a hash", "anything at all")
    assert hasher.needs_rehash("not a hash")


def test_an_unknown_user_costs_one_full_verification(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery")
    hasher.verify(None, "warm up the dummy hash")

    def best_of(stored_hash: str | None) -> float:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            hasher.verify(stored_hash, "wrong password here")
            timings.append(time.perf_counter() - started)
        return min(timings)

    known, unknown = best_of(stored), best_of(None)
    assert not hasher.verify(None, "correct horse battery")
    # Same argon2id work both ways: within a factor of 2 (machine noise), not ~0 for unknown.
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_needs_rehash_when_the_parameters_change() -> None:
    weak, strong = PasswordHasher(FAST), PasswordHasher(FAST.__class__(2048, 1, 1))
    stored = weak.hash("a long enough password")
    assert not weak.needs_rehash(stored)
    assert strong.needs_rehash(stored)
    assert strong.verify(stored, "a long enough password")  # old hashes keep working


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12"),
        ("x" * 11, "at least 12"),
        ("x" * 12, None),
        ("x" * 1024, None),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    found = password_problem(password)
    assert (found is None) if problem is None else (found is not None and problem in found)
