"""The history API shell without a database: parameters are checked first, then 503."""

from __future__ import annotations

import json

from dashboard_ws.api.service import HistoryApi
from streams.settings import Settings
from tests.principals import ADMIN

DISTRICTS = ["4157056000"]
SERIES = ["composite", "fire"]


async def test_without_a_database_the_api_answers_503_naming_the_setting() -> None:
    api = HistoryApi(Settings(pg_dsn=None), DISTRICTS, SERIES)
    status, body = await api.handle("/api/scores", "", ADMIN)
    assert status == 503
    error = json.loads(body)
    assert error["error"] == "unavailable"
    assert "RISKMON_PG_DSN" in error["detail"]


async def test_bad_parameters_are_refused_before_any_database_is_needed() -> None:
    api = HistoryApi(Settings(pg_dsn=None), DISTRICTS, SERIES)
    status, body = await api.handle("/api/districts/4157056000/history", "domain=volcano", ADMIN)
    assert status == 400
    assert json.loads(body)["parameter"] == "domain"
    status, _ = await api.handle("/api/districts/0000000000/history", "", ADMIN)
    assert status == 404
    assert api.stats.responses == {400: 1, 404: 1}
    assert api.stats.seconds > 0
