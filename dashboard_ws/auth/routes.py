"""The gateway's access-control routes: answers to ``/auth/*`` and ``GET /api/audit``.

    POST /auth/login   JSON LoginRequest -> 200 LoginResponse + session cookie; 401; 429
    POST /auth/logout  ends this session (204) and clears the cookie
    GET  /auth/me      MeResponse of the caller; 401 without valid credentials
    GET  /api/audit    AuditResponse (admin): ?limit=1..1000&actor=&action=

The server checked Host and Origin before calling these, and authenticated the caller where the
route needs one; these build the answers (bodies from :mod:`streams.contract.auth`).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs

from pydantic import ValidationError

from dashboard_ws.answers import JSON, Answer, error, forbidden
from dashboard_ws.auth.principal import Principal, expired_cookie, session_cookie
from dashboard_ws.auth.service import AuthService, LoginOk
from dashboard_ws.security.roles import Action
from streams.contract import (
    AuditEntry,
    AuditResponse,
    LoginRequest,
    LoginResponse,
    MeResponse,
)

__all__ = ["audit", "login", "logout", "me"]

AUDIT_MAX = 1000


async def login(
    auth: AuthService,
    *,
    content_type: str | None,
    body: bytes | None,
    body_problem: str | None,
    address: str,
    now: datetime,
) -> tuple[Answer, LoginOk | None]:
    """Answer a login; the :class:`LoginOk` too when it succeeded (for the server's counters)."""
    if body_problem == "too_large":
        return error(413, "too_large", "a login body has at most 4096 bytes"), None
    if (content_type or "").split(";")[0].strip().lower() != JSON:
        return error(415, "unsupported_media_type", "send Content-Type: application/json"), None
    try:
        request = LoginRequest.model_validate_json(body or b"")
    except ValidationError:
        return error(400, "bad_request", 'send {"username": "...", "password": "..."}'), None
    outcome = await auth.login(request.username, request.password, address, now)
    if not isinstance(outcome, LoginOk):
        if outcome.status == 429:
            retry = str(int(outcome.retry_after_s))
            return error(429, "rate_limited", outcome.detail, ("Retry-After", retry)), None
        return error(outcome.status, "unauthorized", outcome.detail), None
    assert outcome.bearer is not None
    assert outcome.bearer_expires_at is not None
    response = LoginResponse(
        user=outcome.user,
        role=outcome.role.value,
        token=outcome.bearer,
        token_expires_at=outcome.bearer_expires_at,
        session_expires_at=outcome.session.expires_at,
    )
    cookie = session_cookie(
        outcome.session_token, max_age_s=auth.settings.session_max_s, tls=auth.tls
    )
    return Answer(200, response.model_dump_json().encode(), JSON, (("Set-Cookie", cookie),)), (
        outcome
    )


async def logout(auth: AuthService, principal: Principal, now: datetime) -> Answer:
    await auth.logout(principal, now)
    return Answer(204, b"", JSON, (("Set-Cookie", expired_cookie(tls=auth.tls)),))


def me(principal: Principal) -> Answer:
    answer = MeResponse(
        user=principal.user,
        role=principal.role.value,
        via=principal.via,
        expires_at=principal.ends_at,
        rights=principal.rights(),
    )
    return Answer(200, answer.model_dump_json().encode(), JSON)


async def audit(auth: AuthService, principal: Principal, query: str) -> Answer:
    if not principal.may(Action.AUDIT_READ):
        return forbidden(principal, Action.AUDIT_READ)
    params = parse_qs(query, keep_blank_values=True, max_num_fields=10)
    unknown = set(params) - {"limit", "actor", "action"}
    if unknown:
        return error(400, "bad_parameter", f"unknown parameter {sorted(unknown)[0]!r}")
    limit_text = params.get("limit", ["100"])[-1]
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= AUDIT_MAX:
        return error(400, "bad_parameter", f"limit is a whole number from 1 to {AUDIT_MAX}")
    actor = params.get("actor", [None])[-1]
    action = params.get("action", [None])[-1]
    rows = await auth.store.query_audit(limit=int(limit_text), actor=actor, action=action)
    entries = [
        AuditEntry(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            address=r.address,
            detail=r.detail,
        )
        for r in rows
    ]
    return Answer(200, AuditResponse(entries=entries).model_dump_json().encode(), JSON)
