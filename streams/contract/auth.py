"""The gateway's access-control messages: login, who am I, and the audit trail (JSON over HTTP).

``POST /auth/login`` takes a :class:`LoginRequest` and answers a :class:`LoginResponse` (and sets
the session cookie); ``GET /auth/me`` answers a :class:`MeResponse`; ``GET /api/audit`` an
:class:`AuditResponse`. Refusals are :class:`~streams.contract.api.ApiError` with ``error``
``unauthorized`` (401), ``forbidden`` (403) or ``rate_limited`` (429).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from streams.contract.base import WireModel

__all__ = ["AuditEntry", "AuditResponse", "LoginRequest", "LoginResponse", "MeResponse"]

Role = Literal["viewer", "inspector", "operator", "analyst", "admin"]


class LoginRequest(WireModel):
    """``POST /auth/login`` body (``Content-Type: application/json``, at most 4 KiB)."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(WireModel):
    """A successful login: the session is in the cookie; ``token`` is for programs
    (``Authorization: Bearer <token>``), valid until ``token_expires_at``."""

    user: str
    role: Role
    token: str = Field(description="short-lived bearer token (rm1.<claims>.<signature>)")
    token_expires_at: AwareDatetime
    session_expires_at: AwareDatetime = Field(
        description="the session's absolute end (it ends earlier when idle too long)"
    )


class MeResponse(WireModel):
    """``GET /auth/me``: who the credentials of this request prove."""

    user: str
    role: Role
    via: Literal["session", "bearer"]
    expires_at: AwareDatetime = Field(description="the session's or token's absolute end")
    rights: list[str] = Field(description="the actions this role may take (roles table)")


class AuditEntry(WireModel):
    """One audited act: who did what to what, from where, when."""

    id: int
    at: AwareDatetime
    actor: str
    action: str = Field(
        description="auth.login, auth.login_failed, auth.login_limited, auth.logout, alert.ack, "
        "user.add, user.disable, user.set_role, ..."
    )
    target: str | None = None
    address: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditResponse(WireModel):
    """``GET /api/audit``: the newest audit rows first."""

    entries: list[AuditEntry]
