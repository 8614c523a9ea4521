"""``/api/whatif`` before any database: parameters, limits, roles."""

from __future__ import annotations

import json
from datetime import datetime

from dashboard_ws.api.params import ApiProblem, WhatIfRequest, parse_request
from dashboard_ws.api.service import HistoryApi
from streams.settings import Settings
from tests.cities import exact_gimpo_config
from tests.principals import VIEWER, principal

NOW_ISO = "2026-12-01T00:00:00+00:00"


def parse(query: str) -> WhatIfRequest | ApiProblem:
    request = parse_request(
        "/api/whatif", query, now=datetime.fromisoformat(NOW_ISO),
        districts=["4157056000"], domains=["composite"],
    )  # fmt: skip
    assert isinstance(request, WhatIfRequest | ApiProblem)
    return request


def test_defaults_and_every_parameter() -> None:
    assert parse("change=cctv") == WhatIfRequest("cctv")
    assert parse("change=shelter&count=100&district=4157056000&by=safety&format=csv") == (
        WhatIfRequest("shelter", 100, "4157056000", None, None, "safety", "csv")
    )
    assert parse("change=inspection&structure=bridge%207&grade=A") == WhatIfRequest(
        "inspection", 1, None, "bridge 7", "A"
    )


def test_limits() -> None:
    long_id = "x" * 129
    for query, parameter in (
        ("change=cctv&count=101", "count"),
        ("change=cctv&count=1234567", "count"),
        ("change=inspection&structure=" + long_id, "structure"),
        ("change=inspection&structure=a%0Ab", "structure"),
        ("change=cctv&structure=b", "structure"),
    ):
        problem = parse(query)
        assert isinstance(problem, ApiProblem), query
        assert (problem.status, problem.error.parameter) == (400, parameter)


async def test_roles_are_checked_before_the_database() -> None:
    config = exact_gimpo_config()
    api = HistoryApi(Settings(pg_dsn=None), config.city.codes, ["composite"], city=config)
    status, body = await api.handle("/api/whatif", "change=cctv", VIEWER)
    assert (status, json.loads(body)["error"]) == (403, "forbidden")
    status, body = await api.handle("/api/whatif", "change=cctv", principal("analyst"))
    assert status == 503
    assert "RISKMON_PG_DSN" in json.loads(body)["detail"]
    status, _ = await api.handle("/api/whatif", "change=cctv&count=0", VIEWER)
    assert status == 400  # a bad request is told so whoever asks
