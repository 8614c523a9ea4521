"""What the request-parsing tests share: a fixed now, the city's districts and domains, and
helpers that parse a request or expect its refusal."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from dashboard_ws.api.params import (
    ApiProblem,
    ApiRequest,
    parse_request,
)
from streams.contract import ApiError

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 14:00 in Seoul
DISTRICTS = frozenset({"4157056000", "4157051500"})
DOMAINS = frozenset({"composite", "safety", "fire", "group:natural"})
CODE = "4157056000"
HISTORY = f"/api/districts/{CODE}/history"
M = timedelta(minutes=1)


def parse(path: str, query: str | dict[str, str] = "") -> ApiRequest | ApiProblem:
    text = urlencode(query) if isinstance(query, dict) else query
    return parse_request(path, text, now=NOW, districts=DISTRICTS, domains=DOMAINS)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def bad(path: str, query: str | dict[str, str] = "", status: int = 400) -> ApiError:
    """The error of a request that must be refused with ``status``."""
    result = parse(path, query)
    assert isinstance(result, ApiProblem), result
    assert result.status == status
    assert result.error.error == ("not_found" if status == 404 else "bad_parameter")
    return result.error


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()
