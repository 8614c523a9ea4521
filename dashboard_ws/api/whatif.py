"""``GET /api/whatif``: the policy map's answer (analyst), from the worker's checkpoints.

The parser (:mod:`dashboard_ws.api.params`) has checked the parameters; here the role is checked,
each district's newest state is read from ``scorer_checkpoints`` (cached, re-read when a row
moves: :class:`~streams.persistence.whatif_reads.CheckpointCache`), the change is scored with the
index model off the event loop, and the answer is JSON or CSV. Refusals: 403 below analyst, 404
for a structure no district holds, 503 without a database or a checkpoint.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from dashboard_ws.answers import Answer, error, forbidden
from dashboard_ws.api.params import WhatIfRequest
from dashboard_ws.auth.principal import Principal
from dashboard_ws.logfmt import logfmt
from dashboard_ws.security.roles import Action
from indices.taxonomy import GROUPS
from streams.city.config import CityConfig
from streams.contract import WhatIfResponse
from streams.persistence import db
from streams.persistence.whatif_reads import (
    CheckpointCache,
    NoCheckpoint,
    WhatIfRefused,
    whatif_from_checkpoints,
)
from streams.settings import Settings

__all__ = ["WHATIF_COLUMNS", "WhatIfService", "whatif_csv"]

log = logging.getLogger(__name__)

CSV = "text/csv; charset=utf-8"
QUERY_TIMEOUT_S = 8.0
WHATIF_COLUMNS = (
    "rank",
    "district",
    "name",
    "change",
    "items",
    "risk_before",
    "risk_after",
    "risk_reduction",
    "risk_reduction_per_item",
    "grade_before",
    "grade_after",
    "safety_before",
    "safety_after",
    "safety_gain_per_item",
    *(f"{group}_change" for group in GROUPS),
)

PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]


class WhatIfService:
    """Answers :class:`WhatIfRequest` s for one city; ``pool`` gives the API's database pool."""

    def __init__(self, settings: Settings, city: CityConfig | None, pool: PoolGetter) -> None:
        self._dsn = settings.pg_dsn
        self._city = city
        self._pool = pool
        self._detail = f"the worker's checkpoints ({settings.app_id}, {settings.topics.located})"
        self._cache = (
            CheckpointCache(settings.app_id, settings.topics.located, city.params)
            if city is not None
            else None
        )

    async def respond(self, request: WhatIfRequest, principal: Principal) -> Answer:
        if not principal.may(Action.WHATIF_READ):
            return forbidden(principal, Action.WHATIF_READ)
        if self._city is None or self._cache is None:
            return error(404, "not_found", "this gateway has no city map")
        if self._dsn is None:
            return error(503, "unavailable", "no history database configured (RISKMON_PG_DSN)")
        try:
            pool = await self._pool()
            async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
                found = await asyncio.wait_for(self._cache.states(conn), QUERY_TIMEOUT_S)
        except asyncpg.UndefinedTableError:
            return error(503, "unavailable", "the tables do not exist: run riskmon db migrate")
        except db.DATABASE_ERRORS as exc:
            if not db.is_transient(exc):
                raise  # a bug in the SQL: the server logs it and answers 500
            log.warning(logfmt("whatif_unavailable", error=repr(exc)))
            return error(503, "unavailable", "the database does not answer; retry later")
        query = (request.change, request.count, request.structure, request.grade)
        try:
            answer = await asyncio.to_thread(
                whatif_from_checkpoints,
                found,
                self._city,
                query,
                datetime.now(UTC),
                only=request.district,
                by="safety" if request.by == "safety" else "risk",
                detail=self._detail,
            )
        except NoCheckpoint as exc:
            return error(503, "unavailable", str(exc))
        except WhatIfRefused as exc:
            status = 404 if exc.parameter == "structure" else 400
            return error(status, "not_found" if status == 404 else "bad_parameter", exc.detail)
        if request.format == "csv":
            return Answer(200, whatif_csv(answer), CSV)
        return Answer(200, answer.model_dump_json().encode())


def whatif_csv(answer: WhatIfResponse) -> bytes:
    """One row per district in rank order (the change and the basis are in the JSON answer).

    >>> from streams.contract import IndexShift, WhatIfBasis, WhatIfDistrict
    >>> shift = IndexShift(before=2.0, after=1.5, change=-0.5, grade_before=2, grade_after=1)
    >>> row = WhatIfDistrict(rank=1, district="4157056000", name="장기동", items=2,
    ...     risk_reduction=0.5, risk_reduction_per_item=0.25, safety_gain_per_item=0.5,
    ...     composite=shift, safety=IndexShift(before=5.0, after=6.0, change=1.0),
    ...     coping_lack=IndexShift(before=5.0, after=4.0, change=-1.0),
    ...     groups={"natural": shift, "calamity": shift, "crime": shift})
    >>> answer = WhatIfResponse(change="cctv", count=2, at=datetime(2026, 12, 1, tzinfo=UTC),
    ...     model_version="m", ranked_by="risk", districts=[row],
    ...     basis=WhatIfBasis(source="baseline", detail="empty"))
    >>> print(whatif_csv(answer).decode().splitlines()[1])
    1,4157056000,장기동,cctv,2,2.0,1.5,0.5,0.25,2,1,5.0,6.0,0.5,-0.5,-0.5,-0.5
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WHATIF_COLUMNS)
    for d in answer.districts:
        writer.writerow(
            [
                d.rank,
                d.district,
                d.name,
                answer.change,
                d.items,
                d.composite.before,
                d.composite.after,
                d.risk_reduction,
                d.risk_reduction_per_item,
                d.composite.grade_before,
                d.composite.grade_after,
                d.safety.before,
                d.safety.after,
                d.safety_gain_per_item,
                *(d.groups[g].change if g in d.groups else "" for g in GROUPS),
            ]
        )
    return out.getvalue().encode()
