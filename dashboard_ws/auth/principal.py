"""Who is asking: the credentials a request carries and the :class:`Principal` they prove (pure).

A browser proves itself with the session cookie the gateway set at login; a program with an
``Authorization: Bearer rm1....`` header. :func:`credentials_of` reads both from the request
headers, :func:`session_cookie` and :func:`expired_cookie` write the ``Set-Cookie`` value.

The cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (another site's page
cannot make the browser send it) and ``Path=/``. Served over TLS it is also ``Secure`` and named
``__Host-riskmon_session``: the ``__Host-`` prefix makes browsers refuse it unless it is Secure,
has no Domain and Path=/ — a sibling subdomain cannot plant or shadow it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dashboard_ws.security.roles import Action, Role, may, may_anonymously

__all__ = [
    "COOKIE",
    "TLS_COOKIE",
    "Credentials",
    "Principal",
    "cookie_name",
    "credentials_of",
    "expired_cookie",
    "session_cookie",
]

COOKIE = "riskmon_session"
TLS_COOKIE = "__Host-riskmon_session"
MAX_CREDENTIAL_CHARS = 2048  # a session token is 43 characters, a bearer token about 150
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]{1,2048}")  # what new_session_token makes (URL-safe)


def cookie_name(*, tls: bool) -> str:
    return TLS_COOKIE if tls else COOKIE


@dataclass(frozen=True)
class Credentials:
    """What a request presents: a session token (cookie), a bearer token, both or neither."""

    session: str | None = None
    bearer: str | None = None

    @property
    def present(self) -> bool:
        return self.session is not None or self.bearer is not None


def credentials_of(headers: Iterable[tuple[str, str]], *, tls: bool) -> Credentials:
    """The session cookie and bearer token among ``headers`` (name, value) pairs; values that are
    malformed or oversized count as absent."""
    session: str | None = None
    bearer: str | None = None
    name = cookie_name(tls=tls)
    for header, value in headers:
        lowered = header.lower()
        if lowered == "authorization" and bearer is None:
            scheme, _, token = value.strip().partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and 0 < len(token) <= MAX_CREDENTIAL_CHARS:
                bearer = token
        elif lowered == "cookie" and session is None and len(value) <= 8 * MAX_CREDENTIAL_CHARS:
            session = _cookie(value, name)
    return Credentials(session=session, bearer=bearer)


def _cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header. Split by hand (RFC 6265 §5.4: pairs
    separated by ``;``): other applications' cookies on the same host may not follow the grammar
    (spaces, JSON), and one of them must not hide ours.

    >>> _cookie('prefs={"a": 1}; riskmon_session=abc; x', "riskmon_session")
    'abc'
    """
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':  # RFC 6265 allows quotes
                value = value[1:-1]
            return value if TOKEN_CHARS.fullmatch(value) else None
    return None


def session_cookie(token: str, *, max_age_s: float, tls: bool) -> str:
    """The ``Set-Cookie`` value that hands a browser its session token."""
    secure = "; Secure" if tls else ""
    return (
        f"{cookie_name(tls=tls)}={token}; Path=/; Max-Age={int(max_age_s)}; HttpOnly; "
        f"SameSite=Strict{secure}"
    )


def expired_cookie(*, tls: bool) -> str:
    """The ``Set-Cookie`` value that makes a browser forget its session token."""
    secure = "; Secure" if tls else ""
    return f"{cookie_name(tls=tls)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its user name and role (as stored now), how it proved itself,
    until when that proof holds, and from where it came.

    ``session_hash`` is the digest of its session token (None for a bearer token): logging out
    or an ended session closes every socket opened with it.
    """

    user: str
    role: Role
    via: Literal["session", "bearer"]
    ends_at: datetime
    address: str | None = None
    session_hash: bytes | None = None

    def may(self, action: Action) -> bool:
        return may(self.role, action)

    def rights(self) -> list[str]:
        """Every action this principal's login allows (for ``GET /auth/me`` and the page); the
        public actions, which need no login, are not listed."""
        return [
            action.value
            for action in Action
            if may(self.role, action) and not may_anonymously(action)
        ]
