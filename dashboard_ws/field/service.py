"""The field routes' I/O: the user's agency, PostgreSQL (reports, photos, the facts searched),
the safety topic (an awaited ``acks=all`` send) and the audit trail. Decisions are
:mod:`dashboard_ws.field.core`'s and :mod:`dashboard_ws.field.photos`'.

A report goes through, in order: its time and place are checked (inside the city, not in the
future, at most 30 days old); a report the user sent before under the same ``report_id`` is
answered as it was (sent again to the broker if it never got there; refused with 409 when the
content differs); the photos are decoded and stripped in a worker thread; the report and photos
are stored (``received``); the fact is published and awaited; the report becomes ``published``
and an audit row ``field.report`` is written. A broker that does not confirm leaves the report
``received`` and answers 503: the page sends it again and the same fact is published.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dashboard_ws.answers import JSON, Answer, error
from dashboard_ws.auth.service import AuthService
from dashboard_ws.field import core
from dashboard_ws.field.photos import CleanPhoto, clean_photo, sniff
from dashboard_ws.logfmt import logfmt
from streams.city.map import CityMap
from streams.contract.field import (
    MAX_PHOTO_BYTES,
    FieldReport,
    FieldReportAnswer,
    StructuresResponse,
)
from streams.persistence import field as store
from streams.settings import Settings

__all__ = ["FieldService"]

log = logging.getLogger(__name__)

POOL_MAX = 2
QUERY_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 15.0
# Reports whose photos are decoded at once (CPU-bound, in threads): the machine's other work
# (websocket clients, the API) keeps its share.
PHOTO_WORKERS = 2


class FieldService:
    """Answers the field routes; opens its database pool and Kafka producer on first use."""

    def __init__(self, settings: Settings, city: CityMap, auth: AuthService | None) -> None:
        self._settings = settings
        self._city = city
        self._auth = auth
        self._names = {code: d.name_ko for code, d in city.districts.items()}
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._photo_slots = asyncio.Semaphore(PHOTO_WORKERS)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # --- GET /api/field/structures ----------------------------------------------------------

    async def search(self, query: str) -> Answer:
        search = core.parse_search(query)
        if isinstance(search, str):
            return error(400, "bad_parameter", search)
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            rows = await store.safety_facts(conn, pattern=search.text, box=search.box())
        facts = (
            core.Fact(r.type, r.subject, r.source, r.district, r.effective_at, r.payload)
            for r in rows
        )
        answer = StructuresResponse(structures=core.rank(facts, search, self._names))
        return Answer(200, answer.model_dump_json().encode(), JSON)

    # --- POST /api/field/reports ------------------------------------------------------------

    async def submit(
        self, user: str, report: FieldReport, now: datetime, address: str | None
    ) -> Answer:
        """The answer to ``report`` sent by ``user`` (who may report: the route checked)."""
        assert self._auth is not None
        account = await self._auth.store.get_user(user)
        if account is None or not account.agency:
            return error(
                403,
                "forbidden",
                f"{user} has no agency, so a report would have no source: an administrator "
                f"gives one with `riskmon users set-agency {user} AGENCY`",
            )
        problem = core.time_problem(report.observed_at, now)
        if problem is not None:
            return error(400, "bad_request", problem)
        district = self._city.locate(report.lat, report.lon)
        if district is None:
            return error(
                400,
                "bad_request",
                f"({report.lat}, {report.lon}) is outside {self._city.name}: pick the place on "
                "the map",
            )
        digest = core.request_hash(report)
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            earlier = await store.get_report(conn, user, report.report_id)
        if earlier is not None:
            return await self._again(earlier, digest, now)
        photos = await self._photos(report)
        if isinstance(photos, Answer):
            return photos
        fact = core.build_fact(report, user, account.agency)
        new = store.NewReport(
            user=user,
            report_id=report.report_id,
            request_hash=digest,
            source=fact.source,
            fact_id=fact.id,
            kind=report.kind,
            subject=report.structure_id or report.facility_id or "",
            district=district,
            fact=fact.model_dump_json(),
            note=report.note,
            created_at=now,
        )
        stored_photos = [
            store.NewPhoto(p.content_type, p.width, p.height, p.sha256, p.location_kept, p.data)
            for p in photos
        ]
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            row = await store.insert_report(conn, new, stored_photos)
            if row is None:  # the same report, sent twice at once: the other one stored it
                earlier = await store.get_report(conn, user, report.report_id)
        if row is None:
            assert earlier is not None
            return await self._again(earlier, digest, now)
        answer = await self._publish(row, now, duplicate=False)
        if answer.status < 300:
            assert self._auth is not None
            detail: dict[str, object] = {
                "report_id": report.report_id,
                "kind": report.kind,
                "subject": new.subject,
                "district": district,
                "photos": len(photos),
                "location_kept": report.keep_location and bool(photos),
            }
            if report.grade is not None:
                detail["grade"] = report.grade
            if report.action is not None:
                detail["action"] = report.action
            await self._auth.record(
                now, user, "field.report", target=fact.id, address=address, detail=detail
            )
        return answer

    async def _again(self, earlier: store.ReportRow, digest: bytes, now: datetime) -> Answer:
        """A report id seen before: the same answer (published again if it never was), or 409
        when this is a different report under the same id."""
        if earlier.request_hash != digest:
            return error(
                409,
                "bad_request",
                f"report_id {earlier.report_id} was used for another report; make a new id",
            )
        if earlier.status == "published":
            return _answer(200, earlier, duplicate=True)
        return await self._publish(earlier, now, duplicate=True)

    async def _publish(self, row: store.ReportRow, now: datetime, *, duplicate: bool) -> Answer:
        try:
            producer = await self._get_producer()
            await asyncio.wait_for(
                producer.send_and_wait(
                    self._settings.topics.safety,
                    row.fact.encode(),
                    key=f"{row.source}:{row.fact_id}".encode(),
                ),
                PUBLISH_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            log.warning(logfmt("field_report_not_published", fact=row.fact_id, error=repr(exc)))
            return error(
                503,
                "unavailable",
                "the report is stored but the message broker did not take it; send it again",
            )
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            await store.mark_published(conn, row.id, now)
            published = await store.get_report(conn, row.user, row.report_id)
        assert published is not None
        log.info(logfmt("field_report", fact=row.fact_id, user=row.user, again=duplicate))
        return _answer(200 if duplicate else 201, published, duplicate=duplicate)

    async def _photos(self, report: FieldReport) -> list[CleanPhoto] | Answer:
        raw: list[bytes] = []
        for n, photo in enumerate(report.photos, start=1):
            try:
                data = base64.b64decode(photo.data, validate=True)
            except (binascii.Error, ValueError):
                return error(400, "bad_request", f"photo {n}: not base64 (standard alphabet)")
            if len(data) > MAX_PHOTO_BYTES:
                return error(
                    413,
                    "too_large",
                    f"photo {n} has {len(data):,} bytes; at most {MAX_PHOTO_BYTES:,} each",
                )
            if sniff(data) is None:
                return error(
                    415,
                    "unsupported_media_type",
                    f"photo {n} is not a JPEG, PNG or WebP image (judged by its bytes)",
                )
            raw.append(data)
        cleaned: list[CleanPhoto] = []
        async with self._photo_slots:
            for n, data in enumerate(raw, start=1):
                result = await asyncio.to_thread(
                    clean_photo, data, keep_location=report.keep_location
                )
                if isinstance(result, str):
                    return error(400, "bad_request", f"photo {n}: {result}")
                cleaned.append(result)
        return cleaned

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._settings.require_pg_dsn(),
                    min_size=0,
                    max_size=POOL_MAX,
                    timeout=QUERY_TIMEOUT_S,
                    command_timeout=QUERY_TIMEOUT_S,
                    server_settings={"statement_timeout": str(int(QUERY_TIMEOUT_S * 1000))},
                )
            return self._pool

    async def _get_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.require_bootstrap(),
                    acks="all",
                    **self._settings.kafka_client_options(),
                )
                try:
                    await producer.start()
                except BaseException:  # a producer that failed to start is closed, re-raised
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer


def _answer(status: int, row: store.ReportRow, *, duplicate: bool) -> Answer:
    answer = FieldReportAnswer.model_validate(
        {
            "report_id": row.report_id,
            "fact_id": row.fact_id,
            "source": row.source,
            "status": row.status,
            "duplicate": duplicate,
            "district": row.district,
            "fact": _fact_json(row.fact),
            "photos": row.photos,
            "created_at": row.created_at,
        }
    )
    return Answer(status, answer.model_dump_json().encode(), JSON)


def _fact_json(text: str) -> object:
    return json.loads(text)
