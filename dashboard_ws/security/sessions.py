"""Sessions of browsers and bearer tokens of programs (pure: the clock is an argument).

**Sessions.** A session token is 32 random bytes (:func:`new_session_token`, URL-safe base64,
sent once in the cookie). The database keeps only :func:`token_digest` (SHA-256) of it, so a dump
of the ``sessions`` table gives no live session; a lookup hashes the presented cookie and finds
the row by digest. A :class:`Session` ends at the first of two instants: ``idle_s`` after it was
last used, and ``expires_at`` (its start plus the absolute maximum), whatever its use.

**Bearer tokens.** For programs that cannot keep a cookie: ``rm1.<claims>.<signature>``, the
claims (user, role, expiry in Unix seconds) as URL-safe base64 of compact JSON and the signature
HMAC-SHA256 over ``rm1.<claims>`` with the server secret (``RISKMON_AUTH_SECRET``). They are
short-lived and not stored: :meth:`TokenSigner.verify` checks the signature in constant time
(:func:`hmac.compare_digest`) before it reads anything, then the expiry. The gateway still
reads the user's row on use (disabled? role lowered?) — a token cannot be revoked otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dashboard_ws.security.roles import Role, parse_role

__all__ = [
    "MIN_SECRET_BYTES",
    "TOKEN_BYTES",
    "Claims",
    "Session",
    "TokenRefused",
    "TokenSigner",
    "new_session",
    "new_session_token",
    "token_digest",
]

TOKEN_BYTES = 32  # 256 bits of randomness per session token
MIN_SECRET_BYTES = 32  # an HMAC-SHA256 key shorter than its output wastes its strength
_PREFIX = "rm1"


def new_session_token() -> str:
    """A fresh session token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """What the database keeps of a session token: its SHA-256 (a random 256-bit token needs no
    salt or slow hash: it cannot be guessed, only stolen)."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Session:
    """A logged-in browser: whose, since when, last used when, and when it ends."""

    token_hash: bytes
    user: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime  # absolute end, whatever the use
    idle_s: float
    address: str | None = None

    def ends_at(self) -> datetime:
        """The instant it expires unless used again before."""
        return min(self.expires_at, self.last_seen + timedelta(seconds=self.idle_s))

    def expired(self, now: datetime) -> bool:
        return now >= self.ends_at()

    def touched(self, now: datetime) -> Session:
        """The session used at ``now`` (its idle clock restarts; its absolute end stays)."""
        return replace(self, last_seen=max(self.last_seen, now))


def new_session(
    user: str,
    now: datetime,
    *,
    idle_s: float,
    max_s: float,
    address: str | None = None,
) -> tuple[str, Session]:
    """A new session of ``user``: the token for the cookie, and the :class:`Session` to store
    (which holds only the token's digest)."""
    token = new_session_token()
    session = Session(
        token_hash=token_digest(token),
        user=user,
        created_at=now,
        last_seen=now,
        expires_at=now + timedelta(seconds=max_s),
        idle_s=idle_s,
        address=address,
    )
    return token, session


@dataclass(frozen=True)
class Claims:
    """What a valid bearer token says: who, with which role, until when (Unix seconds)."""

    user: str
    role: Role
    expires: int


@dataclass(frozen=True)
class TokenRefused:
    """Why a bearer token is not accepted (for the log; the client gets a plain 401)."""

    reason: str


class TokenSigner:
    """Issues and verifies bearer tokens with one server secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the token secret needs at least {MIN_SECRET_BYTES} bytes")
        self._key = secret

    def issue(self, user: str, role: Role, now: datetime, ttl_s: float) -> str:
        """A token for ``user`` with ``role`` valid for ``ttl_s`` seconds from ``now``."""
        expires = int((now + timedelta(seconds=ttl_s)).timestamp())
        claims = json.dumps({"u": user, "r": role.value, "exp": expires}, separators=(",", ":"))
        signed = f"{_PREFIX}.{_b64(claims.encode())}"
        return f"{signed}.{_b64(self._sign(signed))}"

    def verify(self, token: str, now: datetime) -> Claims | TokenRefused:
        """The token's claims, or why it is refused: malformed, a wrong signature (tampered, or
        signed with another secret), unreadable claims, or expired at ``now``."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            return TokenRefused("malformed")
        signed = f"{parts[0]}.{parts[1]}"
        try:
            signature = _unb64(parts[2])
        except ValueError:
            return TokenRefused("malformed")
        if not hmac.compare_digest(signature, self._sign(signed)):
            return TokenRefused("bad signature")
        try:
            raw = json.loads(_unb64(parts[1]))
            user, role, expires = raw["u"], parse_role(raw["r"]), raw["exp"]
        except (ValueError, KeyError, TypeError):
            return TokenRefused("bad claims")
        if not isinstance(user, str) or role is None or type(expires) is not int:
            return TokenRefused("bad claims")
        if now.timestamp() >= expires:
            return TokenRefused("expired")
        return Claims(user=user, role=role, expires=expires)

    def _sign(self, signed: str) -> bytes:
        return hmac.new(self._key, signed.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as error:  # binascii.Error, or a character outside ASCII
        raise ValueError("not base64") from error
