"""Passwords: argon2id hashes (argon2-cffi) with explicit parameters, verification that takes as
long for a name that does not exist as for one that does, and the password policy.

Parameters (:data:`PARAMETERS`): memory 64 MiB, 3 passes, 4 lanes, 16-byte salt, 32-byte hash —
RFC 9106's second recommended option (argon2-cffi's own default profile). OWASP's Password
Storage Cheat Sheet asks for at least argon2id with 19 MiB, 2 passes, 1 lane (or an equivalent
trade such as 46 MiB and 1 pass); these are more than three times that memory and cost about
0.1-0.15 s of CPU per hash on one server core. The gateway must therefore bound concurrent
verifications (each holds 64 MiB while it runs) and rate-limit failed logins
(:mod:`dashboard_ws.security.ratelimit`).

A stored hash carries its own parameters (``$argon2id$v=19$m=65536,t=3,p=4$...``): raising them
later does not break old hashes, and :meth:`PasswordHasher.needs_rehash` tells the login path to
store a new hash after a successful verification.
"""

from __future__ import annotations

from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PARAMETERS",
    "Argon2Parameters",
    "PasswordHasher",
    "password_problem",
]

MIN_PASSWORD_LENGTH = 12  # NIST SP 800-63B asks for at least 8; a control room gets 12
MAX_PASSWORD_LENGTH = 1024  # long passphrases welcome; a megabyte "password" is not


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id cost parameters (memory in KiB)."""

    memory_kib: int
    time_cost: int
    parallelism: int
    salt_len: int = 16
    hash_len: int = 32


PARAMETERS = Argon2Parameters(memory_kib=64 * 1024, time_cost=3, parallelism=4)
OWASP_MINIMUM = Argon2Parameters(memory_kib=19 * 1024, time_cost=2, parallelism=1)


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None when it can (length only: a long passphrase
    beats composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


class PasswordHasher:
    """Hashes and verifies passwords with argon2id at fixed ``parameters``.

    :meth:`verify` with ``stored=None`` (no such user, or one without a password) still runs one
    full argon2id verification, against a dummy hash made with the same parameters, and
    returns False: how long a login takes does not tell whether the name exists.
    """

    def __init__(self, parameters: Argon2Parameters = PARAMETERS) -> None:
        self.parameters = parameters
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=parameters.hash_len,
            salt_len=parameters.salt_len,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """A new salted argon2id hash of ``password`` (a PHC string, parameters included)."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches the ``stored`` hash. False for a wrong password, a
        missing hash (after the same work as a real check) or a malformed one."""
        if stored is None:
            self._verify(self._dummy_hash(), password)
            return False
        return self._verify(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters (or another variant) than these:
        after a successful login, store :meth:`hash` of the password instead."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        if self._dummy is None:  # made once, on first use: no cost for processes that never log in
            self._dummy = self.hash("riskmon dummy password: no user has it")
        return self._dummy
