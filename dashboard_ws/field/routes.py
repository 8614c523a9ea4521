"""The field routes (docs/field.md) between the gateway's router and :class:`FieldService`:

    GET  /field                    the field page (static/field.html; the router serves it)
    GET  /api/field/structures     structures and facilities near a position or by id (inspector)
    POST /api/field/reports        a report (inspector; same origin; JSON, at most MAX_BODY bytes)

The router has checked Host, Origin (for the POST) and the credentials; these functions check
the role, the body and its type, and hand a valid report on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from dashboard_ws.answers import Answer, error, forbidden
from dashboard_ws.auth.principal import Principal
from dashboard_ws.field.service import FieldService
from dashboard_ws.security.roles import Action
from streams.contract.field import MAX_PHOTO_BASE64, MAX_PHOTO_BYTES, MAX_PHOTOS, FieldReport

__all__ = ["MAX_BODY", "PAGE", "REPORTS", "STRUCTURES", "get", "post"]

PAGE = "/field"
REPORTS = "/api/field/reports"
STRUCTURES = "/api/field/structures"
# Four photos of 5 MB in base64 and the rest of the report (a note of 1,000 characters, ids).
MAX_BODY = MAX_PHOTOS * (MAX_PHOTO_BASE64 + 64) + 16 * 1024


async def get(service: FieldService, principal: Principal, path: str, query: str) -> Answer:
    """``GET /api/field/...``."""
    if not principal.may(Action.FIELD_REPORT):
        return forbidden(principal, Action.FIELD_REPORT)
    if path == STRUCTURES:
        return await service.search(query)
    return error(404, "not_found", f"try {STRUCTURES} or POST {REPORTS}")


async def post(
    service: FieldService,
    principal: Principal,
    *,
    content_type: str | None,
    body: bytes | None,
    body_problem: str | None,
    address: str | None,
) -> Answer:
    """``POST /api/field/reports``: 201 with the fact published, 200 for a report sent before,
    else the refusal (400, 403, 409, 413, 415, 503)."""
    if not principal.may(Action.FIELD_REPORT):
        return forbidden(principal, Action.FIELD_REPORT)
    if body_problem == "too_large":
        return error(413, "too_large", f"a report has at most {MAX_BODY:,} bytes")
    if body_problem is not None:
        return error(400, "bad_request", "the Content-Length is not a number")
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        return error(415, "unsupported_media_type", "send the report as application/json")
    try:
        report = FieldReport.model_validate_json(body or b"")
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "string_too_long" and first["loc"][:1] == ("photos",):
            number = int(first["loc"][1]) + 1 if len(first["loc"]) > 1 else 1
            return error(
                413, "too_large", f"photo {number} is larger than {MAX_PHOTO_BYTES:,} bytes"
            )
        return error(400, "bad_request", _first_problem(exc))
    return await service.submit(principal.user, report, datetime.now(UTC), address)


def _first_problem(exc: ValidationError) -> str:
    """The first validation error, without the input (a photo's base64 would fill the log)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "report"
    return f"{where}: {first['msg']}"[:300]
