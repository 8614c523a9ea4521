"""The I/O shell of the public routes: ``GET /open/districts.geojson`` from the score history in
PostgreSQL, with the disclosure rule applied (docs/public.md).

Why the history and not the gateway's live view: the rule publishes the scores *as of* an
instant an hour or more ago, which the live view (the newest update per district) no longer
holds, and the history survives a gateway restart, so every gateway of a deployment answers
the same document for the same hour (the same ETag).

The document of the current hour is built once and kept; it is rebuilt when the published hour
moves, and at most every :data:`REFRESH_S` seconds within an hour (a sink that stored the hour's
last updates late is caught up with). While the database does not answer, the last document
built is served (it names its own ``as_of``); with none, 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from websockets.datastructures import Headers

from dashboard_ws.answers import Answer, error
from dashboard_ws.logfmt import logfmt
from dashboard_ws.public.conditional import RequestLimiter, http_date, max_age, not_modified
from dashboard_ws.public.disclosure import (
    Publication,
    disclose,
    publication,
    series_of_downsampled,
    series_of_update,
)
from dashboard_ws.public.geojson import (
    BoundarySource,
    document,
    encode,
    etag_of,
    simplified_boundaries,
)
from indices.taxonomy import GROUPS
from streams.city.config import CityConfig
from streams.persistence import db
from streams.persistence import reads as history
from streams.settings import Settings

__all__ = ["DISTRICTS", "OPEN_PREFIX", "PAGE", "PublicService"]

log = logging.getLogger(__name__)

PAGE = "/public"
OPEN_PREFIX = "/open/"
DISTRICTS = "/open/districts.geojson"
GEOJSON = "application/geo+json"
SERIES = "live"  # the worker's own series in the history (not a replay's)
READ = ("composite", "safety", *(f"group:{g}" for g in GROUPS))
REFRESH_S = 60.0
POOL_MAX = 2
QUERY_TIMEOUT_S = 8.0
# Public data: any site may read it (no credentials are ever involved).
CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag, Retry-After"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)


@dataclass(frozen=True)
class _Built:
    when: Publication
    body: bytes
    etag: str
    fetched: float  # monotonic


class PublicService:
    """Answers ``GET /open/...``; opens a small pool on the first request.

    ``clock`` gives the current time (tests move it to see the delay rule at work);
    ``limiter`` counts requests per client address.
    """

    def __init__(
        self,
        settings: Settings,
        config: CityConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self._dsn = settings.pg_dsn
        self._config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.limiter = limiter or RequestLimiter()
        self._boundaries: dict[str, dict[str, Any]] | None = None
        self._source = BoundarySource(config.attribution, config.license, config.approximate)
        self._built: _Built | None = None
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def respond(self, path: str, headers: Headers, address: str) -> Answer:
        """The answer to ``GET path`` from ``address``: 200 (or 304) with cache and CORS
        headers, 404 for another path, 429 over the limit, 503 without a database."""
        if path != DISTRICTS:
            return _cors(error(404, "not_found", f"the open data is {DISTRICTS}"))
        wait = self.limiter.admit(address, time.monotonic())
        if wait > 0:
            retry = str(max(1, int(wait + 0.999)))
            return _cors(
                error(429, "rate_limited", "too many requests; retry later", ("Retry-After", retry))
            )
        now = self.clock()
        built = await self._current(now)
        if built is None:
            return _cors(
                error(503, "unavailable", "the score history does not answer; retry later")
            )
        cache = (
            ("Cache-Control", f"public, max-age={max_age(now, built.when.next_at)}"),
            ("ETag", built.etag),
            ("Last-Modified", http_date(built.when.published_at)),
            *CORS,
        )
        conditional = not_modified(
            built.etag,
            built.when.published_at,
            headers.get("If-None-Match"),
            headers.get("If-Modified-Since"),
        )
        if conditional:
            return Answer(304, b"", GEOJSON, cache)
        return Answer(200, built.body, GEOJSON, cache)

    async def _current(self, now: datetime) -> _Built | None:
        when = publication(now)
        async with self._lock:  # one build at a time: the others wait and take its result
            built = self._built
            fresh = built is not None and time.monotonic() - built.fetched < REFRESH_S
            if built is not None and built.when == when and fresh:
                return built
            if self._dsn is None:
                return built
            try:
                body = await asyncio.wait_for(self._build(self._dsn, when), QUERY_TIMEOUT_S)
            except asyncpg.UndefinedTableError:
                log.warning(logfmt("public_unavailable", reason="no history tables"))
                return built
            except TimeoutError:
                log.warning(logfmt("public_unavailable", reason="timeout"))
                return built
            except db.DATABASE_ERRORS as exc:
                if not db.is_transient(exc):
                    raise  # an error in this module's SQL is a bug: websockets answers 500
                log.warning(logfmt("public_unavailable", error=repr(exc)))
                return built
            self._built = _Built(when, body, etag_of(body), time.monotonic())
            return self._built

    async def _build(self, dsn: str, when: Publication) -> bytes:
        city = self._config.city
        pool = await self._get_pool(dsn)
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            found = await history.scores_at(
                conn, series=SERIES, at=when.as_of, codes=city.codes, domains=READ
            )
        series = {u.district: series_of_update(u) for u in found.districts}
        versions = {u.district: u.model_version for u in found.districts}
        for scores in found.downsampled:
            series[scores.district] = series_of_downsampled(scores)
            versions[scores.district] = scores.model_version
        populations = {code: city.districts[code].population for code in city.codes}
        grades = disclose(series, populations, self._config.params)
        if self._boundaries is None:  # the city does not change while serving
            self._boundaries = simplified_boundaries(city)
        shown = {code: v for code, v in versions.items() if not grades[code].withheld}
        doc = document(
            city, self._boundaries, grades, shown, when, self._source,
            timezone=self._config.timezone,
        )  # fmt: skip
        return encode(doc)

    async def _get_pool(self, dsn: str) -> asyncpg.Pool:
        if self._pool is None:  # called under self._lock
            self._pool = await asyncpg.create_pool(
                dsn,
                min_size=0,
                max_size=POOL_MAX,
                timeout=QUERY_TIMEOUT_S,
                server_settings={"statement_timeout": str(int(QUERY_TIMEOUT_S * 1000))},
            )
        return self._pool


def _cors(answer: Answer) -> Answer:
    return Answer(answer.status, answer.body, answer.content_type, (*answer.headers, *CORS))
