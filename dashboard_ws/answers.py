"""An HTTP answer of the gateway before it becomes bytes, and the refusals every route shares."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard_ws.auth.principal import Principal
from dashboard_ws.security.roles import MINIMUM_ROLE, Action
from streams.contract import ApiError

__all__ = ["JSON", "Answer", "error", "forbidden", "unauthorized"]

JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def error(status: int, kind: str, detail: str, *headers: tuple[str, str]) -> Answer:
    """An :class:`~streams.contract.ApiError` answer."""
    body = ApiError.model_validate({"error": kind, "detail": detail}).model_dump_json()
    return Answer(status, body.encode(), JSON, headers)


def unauthorized(detail: str = "log in first: POST /auth/login") -> Answer:
    return error(401, "unauthorized", detail, ("WWW-Authenticate", 'Bearer realm="riskmon"'))


def forbidden(principal: Principal, action: Action) -> Answer:
    needed = MINIMUM_ROLE[action].value
    return error(
        403,
        "forbidden",
        f"this needs the {needed} role or above; {principal.user} is {principal.role.value}",
    )
