"""The CAP-out routes (docs/agencies.md, "Public warnings"), between the gateway's router and
:class:`~dashboard_ws.capout.service.CapOutService`:

    GET  /api/cap/draft?alert=ID      the next message of the alert's chain, for review
    GET  /api/cap/published?alert=ID  the messages of the chain published so far
    GET  /api/cap/open                the warnings out and not cleared yet (to update or clear)
    GET  /api/cap/active              CAP alerts in effect over the city (riskmon.cap), GeoJSON
    POST /api/cap/approve             approve (and publish) the reviewed draft, with edits

All but ``active`` need ``cap.publish`` (operator and above); ``active`` needs ``live.alerts``
(viewer). The router has checked Host, Origin (for the POST) and the credentials; these check
the role, the body's size and type.
"""

from __future__ import annotations

import json

from dashboard_ws.answers import Answer, error, forbidden
from dashboard_ws.auth.principal import Principal
from dashboard_ws.capin.feed import CapFeed
from dashboard_ws.capout.service import CapOutService
from dashboard_ws.security.roles import Action

__all__ = [
    "ACTIVE",
    "APPROVE",
    "DRAFT",
    "MAX_BODY",
    "OPEN",
    "PREFIX",
    "PUBLISHED",
    "active",
    "get",
    "post",
]

PREFIX = "/api/cap/"
DRAFT = "/api/cap/draft"
PUBLISHED = "/api/cap/published"
APPROVE = "/api/cap/approve"
OPEN = "/api/cap/open"
ACTIVE = "/api/cap/active"
MAX_BODY = 32 * 1024  # six texts of at most 2,000 characters (UTF-8) and the ids


def active(feed: CapFeed, principal: Principal) -> Answer:
    """``GET /api/cap/active``: a GeoJSON FeatureCollection of the alerts in effect."""
    if not principal.may(Action.LIVE_ALERTS):
        return forbidden(principal, Action.LIVE_ALERTS)
    body = json.dumps(feed.active(), ensure_ascii=False, separators=(",", ":")).encode()
    return Answer(200, body, "application/geo+json")


async def get(service: CapOutService, principal: Principal, path: str, query: str) -> Answer:
    if not principal.may(Action.CAP_PUBLISH):
        return forbidden(principal, Action.CAP_PUBLISH)
    if path == DRAFT:
        return await service.draft(query)
    if path == PUBLISHED:
        return await service.published(query)
    if path == OPEN:
        return await service.open_chains()
    return error(404, "not_found", f"try {DRAFT}, {PUBLISHED}, {OPEN} or POST {APPROVE}")


async def post(
    service: CapOutService,
    principal: Principal,
    *,
    content_type: str | None,
    body: bytes | None,
    body_problem: str | None,
    address: str | None,
) -> Answer:
    if not principal.may(Action.CAP_PUBLISH):
        return forbidden(principal, Action.CAP_PUBLISH)
    if body_problem == "too_large":
        return error(413, "too_large", f"an approval has at most {MAX_BODY:,} bytes")
    if body_problem is not None:
        return error(400, "bad_request", "the Content-Length is not a number")
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        return error(415, "unsupported_media_type", "send the approval as application/json")
    return await service.approve(principal.user, body or b"", address)
