"""The CAP-out routes' work: draft the next message of an alert's chain, approve and publish it.

Composition is :mod:`streams.cap.outbox`'s (pure); this shell reads the alert and its chain from
PostgreSQL, stores an approval before publishing it (``acks=all``, awaited) to
``riskmon.cap-out`` keyed by identifier, marks it published once the broker confirmed, and
audits it (``cap.publish``). A broker that does not confirm leaves the approval stored and
unconfirmed; approving again re-sends those same bytes. Approvals of one alert are serialised by
a database lock, and an approval names the draft it approves, so two operators cannot publish
two messages from one draft.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from dashboard_ws.answers import JSON, Answer, error
from dashboard_ws.auth.service import AuthService
from dashboard_ws.logfmt import logfmt
from indices import MODEL_VERSION
from streams.cap import write_cap
from streams.cap.errors import CapError
from streams.cap.model import CapAlert
from streams.cap.outbox import (
    ChainClosed,
    DraftEdits,
    Published,
    checked,
    compose,
    is_all_clear,
    sustained_for,
)
from streams.city.config import CityConfig
from streams.contract.alerts import Alert
from streams.contract.capout import (
    CapApproval,
    CapChain,
    CapDraft,
    CapOpenChains,
    CapPublication,
    CapPublications,
    CapTexts,
)
from streams.persistence import capout as store
from streams.settings import Settings

log = logging.getLogger("riskmon.gateway")

QUERY_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 15.0
MAX_ALERT_ID = 200


class CapOutService:
    """Answers ``/api/cap/...``; opens its database pool and Kafka producer on first use."""

    def __init__(self, settings: Settings, config: CityConfig, auth: AuthService | None) -> None:
        self._settings = settings
        self._config = config
        self._auth = auth
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # --- routes -------------------------------------------------------------------------------
    async def draft(self, query: str) -> Answer:
        alert_id = _alert_param(query)
        if alert_id is None:
            return error(400, "bad_request", f"give ?alert=ID (at most {MAX_ALERT_ID} characters)")
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            alert = await store.latest_alert(conn, alert_id)
            previous = await store.chain(conn, alert_id)
        if alert is None:
            return error(404, "not_found", f"no alert {alert_id}")
        now = datetime.now(UTC)
        reason = self._ineligible(alert, previous, now)
        try:
            message = self._compose(alert, previous, now, DraftEdits(), status="Draft")
        except ChainClosed as exc:
            return error(409, "conflict", str(exc))
        ko, en = message.infos
        draft = CapDraft(
            alert_id=alert.id,
            alert_state=alert.state,
            sustained_s=sustained_for(alert.fired_at, now),
            eligible=reason is None,
            reason=reason,
            identifier=message.identifier,
            msg_type=message.msg_type,
            all_clear=is_all_clear(message),
            references=[
                f"{r.sender},{r.identifier},{r.sent.isoformat()}" for r in message.references
            ],
            headline=CapTexts(ko=ko.headline, en=en.headline),
            description=CapTexts(ko=ko.description, en=en.description),
            instruction=CapTexts(ko=ko.instruction, en=en.instruction),
            expires=ko.expires or now,
            xml=write_cap(message).decode(),
            published=previous,
        )
        return Answer(200, draft.model_dump_json().encode(), JSON)

    async def published(self, query: str) -> Answer:
        alert_id = _alert_param(query)
        if alert_id is None:
            return error(400, "bad_request", f"give ?alert=ID (at most {MAX_ALERT_ID} characters)")
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            chain = await store.chain(conn, alert_id)
        answer = CapPublications(alert_id=alert_id, messages=chain)
        return Answer(200, answer.model_dump_json().encode(), JSON)

    async def open_chains(self) -> Answer:
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            found = await store.open_chains(conn)
        chains = [
            CapChain(
                alert_id=last.alert_id,
                district=alert.district if alert else "",
                domain=alert.domain if alert else "",
                alert_state=alert.state if alert else "unknown",
                last=last,
            )
            for last, alert in found
        ]
        return Answer(200, CapOpenChains(chains=chains).model_dump_json().encode(), JSON)

    async def approve(self, user: str, body: bytes, address: str | None) -> Answer:
        try:
            approval = CapApproval.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "approval"
            return error(400, "bad_request", f"{where}: {first['msg']}"[:300])
        now = datetime.now(UTC).replace(microsecond=0)
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn, conn.transaction():
            await store.chain_lock(conn, approval.alert)
            alert = await store.latest_alert(conn, approval.alert)
            if alert is None:
                return error(404, "not_found", f"no alert {approval.alert}")
            previous = await store.chain(conn, approval.alert)
            waiting = [p for p in previous if not p.published]
            if waiting:
                message = waiting[-1]
                if message.identifier != approval.identifier:
                    return error(
                        409,
                        "conflict",
                        f"{message.identifier} was approved but not confirmed by the broker "
                        "yet: approve that one again to re-send it",
                    )
                resend = True
            else:
                resend = False
                answer = await self._approved(alert, previous, approval, user, now, conn)
                if isinstance(answer, Answer):
                    return answer
                message = answer
        if self._auth is not None and not resend:
            await self._auth.record(
                now,
                user,
                "cap.publish",
                target=message.identifier,
                address=address,
                detail={"alert": alert.id, "msg_type": message.msg_type,
                        "all_clear": message.all_clear},
            )  # fmt: skip
        return await self._publish(message, resend=resend)

    # --- steps --------------------------------------------------------------------------------
    async def _approved(
        self,
        alert: Alert,
        previous: list[CapPublication],
        approval: CapApproval,
        user: str,
        now: datetime,
        conn: asyncpg.Connection,
    ) -> CapPublication | Answer:
        reason = self._ineligible(alert, previous, now)
        if reason is not None:
            return error(409, "conflict", reason)
        edits = DraftEdits(
            headline=_texts(approval.headline),
            description=_texts(approval.description),
            instruction=_texts(approval.instruction),
            expires=approval.expires,
        )
        try:
            message = self._compose(alert, previous, now, edits, status="Actual")
        except ChainClosed as exc:
            return error(409, "conflict", str(exc))
        except ValueError as exc:
            return error(400, "bad_request", str(exc)[:300])
        if message.identifier != approval.identifier:
            return error(
                409,
                "conflict",
                f"the draft {approval.identifier} is stale: the chain moved on to "
                f"{message.identifier}; review the new draft",
            )
        try:
            data, _ = checked(message)
        except CapError as exc:  # riskmon's own message must read back: a bug, say so
            log.error(logfmt("cap_out_invalid", identifier=message.identifier, error=str(exc)))
            return error(500, "internal", f"the message failed riskmon's own CAP check: {exc}")
        publication = CapPublication(
            identifier=message.identifier,
            alert_id=alert.id,
            sender=message.sender,
            msg_type=message.msg_type,
            all_clear=is_all_clear(message),
            sent=message.sent,
            approved_by=user,
            approved_at=now,
            published=False,
            xml=data.decode(),
        )
        await store.record(conn, publication)
        return publication

    async def _publish(self, message: CapPublication, *, resend: bool) -> Answer:
        try:
            producer = await self._get_producer()
            await asyncio.wait_for(
                producer.send_and_wait(
                    self._settings.topics.cap_out,
                    message.xml.encode(),
                    key=message.identifier.encode(),
                ),
                SEND_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning(logfmt("cap_out_not_published", identifier=message.identifier,
                               error=repr(exc)))  # fmt: skip
            return error(
                503,
                "unavailable",
                f"{message.identifier} is approved and stored, but the message broker did not "
                "take it; approve it again to re-send",
            )
        pool = await self._get_pool()
        async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
            await store.mark_published(conn, message.identifier)
        done = message.model_copy(update={"published": True})
        log.info(
            logfmt(
                "cap_out_published",
                identifier=done.identifier,
                alert=done.alert_id,
                msg_type=done.msg_type,
                all_clear=done.all_clear,
                by=done.approved_by,
                resend=resend,
            )
        )
        return Answer(200 if resend else 201, done.model_dump_json().encode(), JSON)

    def _ineligible(
        self, alert: Alert, previous: list[CapPublication], now: datetime
    ) -> str | None:
        """Why the next message of ``alert``'s chain may not be approved now (None: it may)."""
        if any(p.all_clear for p in previous):
            return "the all-clear of this alert was published: its chain is closed"
        if alert.state == "resolved":
            if previous:
                return None  # the all-clear
            return "the alert resolved before any warning was published: nothing to clear"
        if alert.state == "pending":
            return "the alert has not fired"
        needed = self._settings.cap_draft_after_s
        held = sustained_for(alert.fired_at, now)
        if held < needed:
            return (
                f"the alert has fired for {held:.0f} s; a public warning needs a sustained alert "
                f"({needed:.0f} s, RISKMON_CAP_DRAFT_AFTER_S)"
            )
        return None

    def _compose(
        self,
        alert: Alert,
        previous: list[CapPublication],
        now: datetime,
        edits: DraftEdits,
        *,
        status: str,
    ) -> CapAlert:
        return compose(
            alert,
            self._config.city,
            [Published(p.identifier, p.sender, p.sent, p.all_clear) for p in previous],
            now=now,
            params=self._config.params,
            model_version=MODEL_VERSION,
            edits=edits,
            status=status,
            sender=self._settings.cap_sender,
            sender_name=self._settings.cap_sender_name,
        )

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._settings.require_pg_dsn(),
                    min_size=0,
                    max_size=2,
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


def _alert_param(query: str) -> str | None:
    values = parse_qs(query, keep_blank_values=False, max_num_fields=5).get("alert", [])
    if len(values) != 1 or not 0 < len(values[0]) <= MAX_ALERT_ID:
        return None
    return values[0]


def _texts(texts: CapTexts) -> dict[str, str]:
    return {lang: text for lang, text in (("ko", texts.ko), ("en", texts.en)) if text is not None}
