"""The history API's I/O shell: a parsed request (:mod:`dashboard_ws.api.params`) -> a query of
:mod:`streams.persistence.reads` on a small asyncpg pool -> JSON.

Answers are ``(status, body)``; every error body is an :class:`~streams.contract.ApiError`. Without
a database (``RISKMON_PG_DSN`` unset) or while it is down, the API answers 503 and the live
websocket keeps working.

Every request comes with the authenticated :class:`~dashboard_ws.auth.principal.Principal` (the
server answered 401 to anyone else): dead letters need ``admin``, everything else ``viewer``;
events come with exact places and descriptions only for ``analyst`` and above
(:mod:`dashboard_ws.api.redact`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import asyncpg
from pydantic import BaseModel

from dashboard_ws.answers import Answer, forbidden
from dashboard_ws.api import complaints
from dashboard_ws.api.csv_format import events_csv, history_csv
from dashboard_ws.api.mapdata import (
    COARSE_RESOLUTION,
    FINE_RESOLUTION,
    city_document,
    heat_response,
    stats_csv,
    stats_response,
)
from dashboard_ws.api.openapi import openapi_document
from dashboard_ws.api.params import (
    AlertHistoryRequest,
    AlertsRequest,
    ApiProblem,
    CityRequest,
    ComplaintsRequest,
    DeadLettersRequest,
    EventsRequest,
    HeatRequest,
    HistoryRequest,
    ScoresAtRequest,
    StatsRequest,
    WhatIfRequest,
    parse_request,
    problem,
)
from dashboard_ws.api.redact import redact_events
from dashboard_ws.api.whatif import WhatIfService
from dashboard_ws.auth.principal import Principal
from dashboard_ws.logfmt import logfmt
from dashboard_ws.metrics import ApiStats
from dashboard_ws.security.roles import Action
from streams.city.config import CityConfig
from streams.contract import BaseMap, EventsResponse, HistoryResponse, StatsResponse
from streams.contract.asyncapi import asyncapi_json
from streams.persistence import db
from streams.persistence import reads as history
from streams.settings import Settings

log = logging.getLogger(__name__)

OPENAPI_PATH = "/api/openapi.json"
ASYNCAPI_PATH = "/api/asyncapi.json"
CSV = "text/csv; charset=utf-8"

POOL_MAX = 4
QUERY_TIMEOUT_S = 8.0  # below the websockets opening-handshake timeout (10 s)


class HistoryApi:
    """Answers ``GET /api/...``; opens its pool on the first request."""

    def __init__(
        self,
        settings: Settings,
        districts: Collection[str],
        domains: Collection[str],
        *,
        city: CityConfig | None = None,
    ) -> None:
        self._dsn = settings.pg_dsn
        self._city = city
        self._base_map = (
            BaseMap(
                kind=settings.base_map_kind,
                url=settings.base_map_url,
                attribution=settings.base_map_attribution,
                layers=settings.base_map_layers,
            )
            if settings.base_map_url
            else None
        )
        self._city_document: bytes | None = None
        self._districts = frozenset(districts)
        self._domains = frozenset(domains)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self.stats = ApiStats()
        self._openapi: bytes | None = None
        self._asyncapi = asyncapi_json(settings.topics, partitions=settings.partitions).encode()
        self._whatif = WhatIfService(settings, city, self._whatif_pool)

    def openapi(self) -> bytes:
        """The OpenAPI document of this API (built once)."""
        if self._openapi is None:
            document = openapi_document(self._districts, self._domains, version=_version())
            self._openapi = json.dumps(document, ensure_ascii=False).encode()
        return self._openapi

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def handle(self, path: str, query: str, principal: Principal) -> tuple[int, bytes]:
        """Status and body for ``GET path?query`` (see :meth:`respond` for the headers)."""
        answer = await self.respond(path, query, principal)
        return answer.status, answer.body

    async def respond(self, path: str, query: str, principal: Principal) -> Answer:
        """The whole answer to ``GET path?query`` asked by ``principal``: status, body, content
        type, headers."""
        started = time.perf_counter()
        answer = await self._answer(path, query, principal)
        elapsed = time.perf_counter() - started
        self.stats.record(answer.status, elapsed)
        log.debug(
            logfmt("api_request", path=path, status=answer.status, ms=round(elapsed * 1000, 1))
        )
        return answer

    async def _answer(self, path: str, query: str, principal: Principal) -> Answer:
        if not principal.may(Action.HISTORY_READ):
            return forbidden(principal, Action.HISTORY_READ)
        if path == OPENAPI_PATH:
            return Answer(200, self.openapi())
        if path == ASYNCAPI_PATH:  # the Kafka and websocket contract (docs/asyncapi.md)
            return Answer(200, self._asyncapi)
        request = parse_request(
            path, query, now=datetime.now(UTC), districts=self._districts, domains=self._domains
        )
        if isinstance(request, ApiProblem):
            return self._problem(request)
        if isinstance(request, DeadLettersRequest) and not principal.may(Action.DEAD_LETTERS):
            return forbidden(principal, Action.DEAD_LETTERS)
        if isinstance(request, CityRequest):
            return self._city_answer()
        if isinstance(request, WhatIfRequest):
            return await self._whatif.respond(request, principal)
        if self._dsn is None:
            return self._problem(
                problem(503, "unavailable", "no history database configured (RISKMON_PG_DSN)")
            )
        try:
            pool = await self._get_pool(self._dsn)
            async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
                answer = await asyncio.wait_for(
                    self._query(conn, request, principal), QUERY_TIMEOUT_S
                )
        except asyncpg.UndefinedTableError:
            return self._problem(
                problem(
                    503, "unavailable", "the history tables do not exist: run riskmon db migrate"
                )
            )
        except db.DATABASE_ERRORS as exc:
            if not db.is_transient(exc):
                # An error in the API's SQL is a bug, not an outage: no "retry later" 503. It
                # propagates; websockets logs its traceback and answers 500.
                raise
            log.warning(logfmt("api_unavailable", path=path, error=repr(exc)))
            return self._problem(
                problem(503, "unavailable", "the history database does not answer; retry later")
            )
        if answer is None:
            return self._problem(problem(404, "not_found", "no such alert"))
        if isinstance(answer, EventsResponse) and not principal.may(Action.EVENTS_EXACT):
            answer = redact_events(answer)
        if isinstance(request, ComplaintsRequest) and request.format == "csv":
            assert isinstance(answer, complaints.ComplaintStatsResponse)
            return Answer(200, complaints.stats_csv(answer), CSV)
        if isinstance(request, StatsRequest) and request.format == "csv":
            assert isinstance(answer, StatsResponse)
            return Answer(200, stats_csv(answer), CSV)
        if isinstance(request, HistoryRequest | EventsRequest) and request.format == "csv":
            return _as_csv(answer)
        return Answer(200, answer.model_dump_json().encode())

    def _city_answer(self) -> Answer:
        if self._city is None:
            return self._problem(problem(404, "not_found", "this gateway has no city map"))
        if self._city_document is None:  # built once: the city does not change while serving
            document = city_document(self._city, self._base_map)
            self._city_document = document.model_dump_json().encode()
        return Answer(200, self._city_document)

    async def _query(
        self, conn: asyncpg.Connection, request: object, principal: Principal
    ) -> BaseModel | None:
        if isinstance(request, ComplaintsRequest):
            fine = principal.may(Action.EVENTS_EXACT)
            return await complaints.answer_complaints(conn, request, self._city, fine=fine)
        if isinstance(request, HeatRequest):
            fine = principal.may(Action.EVENTS_EXACT)
            cells = await history.incident_cells(
                conn, start=request.start, end=request.end, type_=request.type
            )
            resolution = FINE_RESOLUTION if fine else COARSE_RESOLUTION
            return heat_response(cells, start=request.start, end=request.end, resolution=resolution)
        if isinstance(request, StatsRequest):
            if self._city is None:
                return None
            counts = await history.incident_counts(
                conn, start=request.start, end=request.end, type_=request.type
            )
            return stats_response(counts, self._city, start=request.start, end=request.end)
        if isinstance(request, HistoryRequest):
            return await history.history(
                conn,
                series=request.series,
                district=request.district,
                domain=request.domain,
                start=request.start,
                end=request.end,
                step=request.step,
            )
        if isinstance(request, ScoresAtRequest):
            return await history.scores_at(
                conn,
                series=request.series,
                at=request.at,
                codes=sorted(self._districts),
                domains=sorted(self._domains),
            )
        if isinstance(request, AlertsRequest):
            return await history.alerts(
                conn,
                start=request.start,
                end=request.end,
                state=request.state,
                district=request.district,
                limit=request.limit,
                after=request.after,
            )
        if isinstance(request, AlertHistoryRequest):
            return await history.alert_history(conn, request.alert_id)
        if isinstance(request, DeadLettersRequest):
            return await history.dead_letters(
                conn,
                start=request.start,
                end=request.end,
                error=request.error,
                topic=request.topic,
                limit=request.limit,
                after=request.after,
            )
        assert isinstance(request, EventsRequest)
        return await history.events(
            conn,
            start=request.start,
            end=request.end,
            district=request.district,
            kind=request.kind,
            type_=request.type,
            source=request.source,
            limit=request.limit,
            after=request.after,
        )

    async def _whatif_pool(self) -> asyncpg.Pool:
        assert self._dsn is not None  # the what-if service asks only with a database configured
        return await self._get_pool(self._dsn)

    async def _get_pool(self, dsn: str) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    dsn,
                    min_size=0,
                    max_size=POOL_MAX,
                    timeout=QUERY_TIMEOUT_S,
                    # the server stops a query the gateway stopped waiting for
                    server_settings={"statement_timeout": str(int(QUERY_TIMEOUT_S * 1000))},
                )
            return self._pool

    @staticmethod
    def _problem(answer: ApiProblem) -> Answer:
        return Answer(answer.status, answer.error.model_dump_json().encode())


def _as_csv(answer: BaseModel) -> Answer:
    """A history or events answer as CSV; a page's continuation in ``X-Riskmon-Next``."""
    if isinstance(answer, HistoryResponse):
        return Answer(200, history_csv(answer), CSV)
    assert isinstance(answer, EventsResponse)  # the only other route that takes format=csv
    headers = (("X-Riskmon-Next", answer.next),) if answer.next else ()
    return Answer(200, events_csv(answer), CSV, headers)


def _version() -> str:
    try:
        return version("riskmon")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"
