"""The gateway's I/O shell: a websockets server for HTTP and websocket clients, a Kafka consumer.

Routes (plain HTTP is answered from ``process_request``, before any websocket handshake)::

    GET  /              the dashboard page (dashboard_ws/static/index.html); /static/<name> assets
    GET  /field         the field page for inspectors (static/field.html; docs/field.md)
    GET  /public        the citizens' safety map, no login (static/public.html; docs/public.md)
    GET  /open/districts.geojson  open data, no login: delayed public grades (docs/public.md)
    GET  /healthz       200 {"status":"ok","districts":N,"clients":M}; 503 while Kafka is not read
    GET  /livez         200 while the process serves (a liveness probe independent of Kafka)
    GET  /readyz        200 once Kafka is read and the backlog caught up (a readiness probe)
    POST /auth/login    JSON {"username","password"} -> session cookie + bearer token
    POST /auth/logout   ends the session; its open sockets are closed (4001)
    GET  /auth/me       who the request's credentials prove
    GET  /ws            websocket (viewer): a SnapshotMessage, then scores (coalesced) and alerts; a
                        client's ``ack`` requests (operator) are answered to it
    GET  /api/...       the history API (viewer; events exact for analyst; dead letters admin)
    GET  /api/audit     the audit trail (admin)
    GET  /api/field/structures, POST /api/field/reports   field reports (inspector; docs/field.md)
    GET  /api/cap/draft, /api/cap/published, POST /api/cap/approve   public warnings (operator)
    GET  /api/cap/active  the CAP alerts in effect over the city, GeoJSON (viewer)
    GET  /metrics       Prometheus text (admin; or RISKMON_METRICS_PORT of `riskmon gateway`)

Access control (docs/security.md): every request but ``/healthz`` must name the gateway in its
``Host``; the websocket handshake and every POST must come from an allowed ``Origin`` (or, for
programs, carry a bearer token); every route but the pages, their assets, ``/healthz``, the login
and the deliberately public ``/public`` and ``/open/`` (``Action.PUBLIC_READ``) needs a session
cookie or a bearer token (401) with the role the route needs (403). Decisions are
:mod:`dashboard_ws.security`'s and :mod:`dashboard_ws.auth`'s; limits are
:mod:`dashboard_ws.limits`'.

Run it with :func:`run_gateway` (until cancelled), or start and stop it with :class:`Gateway`, which
tells the bound port (``gateway_port=0`` picks a free one)::

    async with Gateway(settings) as gateway:
        url = f"ws://127.0.0.1:{gateway.port}/ws"
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import ClassVar
from urllib.parse import urlsplit

from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from dashboard_ws.acks import AckPublisher, PendingAcks, decode_client_message, to_ack
from dashboard_ws.answers import Answer, error, forbidden, unauthorized
from dashboard_ws.api.service import HistoryApi
from dashboard_ws.auth import routes as auth_routes
from dashboard_ws.auth.principal import Principal, credentials_of
from dashboard_ws.auth.service import AuthService
from dashboard_ws.auth.store import AccountStore, PgAccountStore
from dashboard_ws.capin.feed import CapFeed
from dashboard_ws.capout import routes as cap_routes
from dashboard_ws.capout.service import CapOutService
from dashboard_ws.consumer import ScoreFeed, min_stale_after_s
from dashboard_ws.fanout import Fanout
from dashboard_ws.field import routes as field_routes
from dashboard_ws.field.service import FieldService
from dashboard_ws.frames import Message, compression
from dashboard_ws.http_body import BodyConnection
from dashboard_ws.hub import ClientId, Hub, QueueFull
from dashboard_ws.limits import (
    CLOSE_QUEUE_OVERFLOW,
    CLOSE_SESSION_ENDED,
    CLOSE_TOO_MANY_MESSAGES,
    CLOSE_TOO_SLOW,
    ConnectionLimits,
    TokenBucket,
)
from dashboard_ws.logfmt import logfmt
from dashboard_ws.metrics import ShellStats, gateway_registry
from dashboard_ws.public import service as public_routes
from dashboard_ws.security.origins import OriginPolicy, check_host, check_origin
from dashboard_ws.security.roles import Action
from dashboard_ws.web import StaticFiles, response, to_response
from indices.taxonomy import DOMAINS, GROUPS
from streams.city.config import load_city_config
from streams.contract import (
    AckRequest,
    AckResult,
    AckResultMessage,
    HeartbeatMessage,
    RequestErrorMessage,
)
from streams.contract.base import read_internal
from streams.persistence.db import DATABASE_ERRORS, is_transient
from streams.settings import SettingMissing, Settings

__all__ = ["Gateway", "run_gateway"]

log = logging.getLogger(__name__)

# A client whose socket buffer holds more than this waits in send(); meanwhile the hub coalesces
# its queue. Small, so a slow client costs little memory (websockets' default is 32 KiB).
WRITE_LIMIT = 16 * 1024
# Keepalive: a client that does not answer a ping within PING_TIMEOUT_S is dropped.
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
# Clients send only small requests (an acknowledgement and its note).
MAX_INCOMING_BYTES = 4096
# Incoming frames buffered per connection before reading pauses (websockets' default is 16).
MAX_QUEUE = 4
WS_PATH = "/ws"
# /healthz answers 503 when the broker has not answered a fetch for this long.
STALE_AFTER_S = 15.0
SESSION_CLEANUP_S = 600.0  # how often ended sessions are deleted from the database


class _Connection(BodyConnection):
    """A connection; ``principal`` is who it authenticated as (set before the handshake)."""

    principal: Principal | None = None
    # POST routes whose bodies may exceed the login's 4 KiB (field reports carry photos)
    body_limits: ClassVar[dict[bytes, int]] = {
        field_routes.REPORTS.encode(): field_routes.MAX_BODY,
        cap_routes.APPROVE.encode(): cap_routes.MAX_BODY,
    }


@dataclass
class _Client:
    ws: ServerConnection
    principal: Principal
    bucket: TokenBucket


class Gateway:
    """The websocket gateway in the running event loop.

    Call :meth:`start` (returns the bound port) and :meth:`stop`, or use ``async with``. One
    ``Gateway`` serves once: make a new one to start again. ``/healthz`` answers 503 until the
    consumer has started, and again when no fetch response came for ``stale_after_s`` seconds
    (raised to :func:`~dashboard_ws.consumer.min_stale_after_s` if below).

    ``accounts`` is where users and sessions live: PostgreSQL (``RISKMON_PG_DSN``) unless given.
    ``public_clock`` is the time the public routes publish for (tests move it past the delay).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stale_after_s: float = STALE_AFTER_S,
        accounts: AccountStore | None = None,
        public_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings = settings
        self.hub = Hub(max_answers=settings.ws_queue_max, coalesce_s=settings.ws_coalesce_ms / 1000)
        self.shell = ShellStats(stale_after_s=max(stale_after_s, min_stale_after_s(settings)))
        if accounts is None and settings.pg_dsn is not None:
            accounts = PgAccountStore(settings.pg_dsn)
        self._accounts = accounts
        self.auth: AuthService | None = (
            AuthService(settings, accounts) if accounts is not None else None
        )
        # Browsers see https when the gateway serves TLS itself or a proxy does it for it.
        self.tls = settings.tls_cert is not None or settings.behind_tls_proxy
        self.limits = ConnectionLimits(settings.max_connections, settings.max_connections_per_user)
        self._clients: dict[ClientId, _Client] = {}
        # The hub's snapshot text framed once for the clients being sent it (see _send).
        self._snapshot: Message | None = None
        self._snapshot_sends = 0
        self.fanout = Fanout(
            self.hub,
            self.shell,
            write_limit=WRITE_LIMIT,
            send_timeout_s=settings.ws_send_timeout_s,
            heartbeat_s=settings.ws_heartbeat_s,
            heartbeat=lambda at: HeartbeatMessage(at=at).model_dump_json(),
            on_too_slow=self._too_slow,
        )
        self._feed = ScoreFeed(settings, self.hub, self.shell, self._wake, self._on_ack_result)
        self._acks = AckPublisher(settings)
        self._pending: PendingAcks[ClientId] = PendingAcks(wait_s=settings.ack_wait_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()  # sockets being closed (kept referenced)
        self._answers = 0
        config = load_city_config(settings.city)
        self.field = FieldService(settings, config.city, self.auth)
        self.capout = CapOutService(settings, config, self.auth)
        self.cap_feed = CapFeed(settings, config.city)
        self.public = public_routes.PublicService(settings, config, clock=public_clock)
        series = ["composite", "safety", *DOMAINS, *(f"group:{g}" for g in GROUPS)]
        self.api = HistoryApi(settings, config.city.codes, series, city=config)
        self._registry = gateway_registry(self.hub, self.shell, self.api.stats)
        self._server: Server | None = None
        self._static = StaticFiles()
        self._img_sources = _tile_sources(settings.base_map_url)  # the base map's tiles
        self._policy = OriginPolicy(hosts=frozenset(), origins=frozenset())
        self.port = 0

    async def start(self) -> int:
        """Start the Kafka consumer and listen on ``gateway_host:gateway_port``; return the port.

        Raises SettingMissing without a Kafka bootstrap or an accounts store (RISKMON_PG_DSN).
        """
        if self._server is not None:
            raise RuntimeError("this Gateway was started already; make a new one")
        self._settings.require_bootstrap()
        if self.auth is None:
            raise SettingMissing(
                "RISKMON_PG_DSN is not set: the gateway keeps users and sessions in PostgreSQL "
                "(riskmon demo starts its own)"
            )
        self._server = await serve(
            self._serve_client,
            self._settings.gateway_host,
            self._settings.gateway_port,
            process_request=self._route,
            create_connection=_Connection,
            compression=None,  # what the gateway offers is in extensions (dashboard_ws.frames)
            extensions=compression(self._settings.ws_compression),
            max_size=MAX_INCOMING_BYTES,
            max_queue=MAX_QUEUE,
            write_limit=WRITE_LIMIT,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            ssl=self._ssl_context(),
            server_header=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._policy = OriginPolicy.of(
            listen_host=self._settings.gateway_host,
            port=self.port,
            allowed_hosts=self._settings.allowed_hosts,
            allowed_origins=self._settings.allowed_origins,
        )
        self._tasks = [
            asyncio.create_task(self._feed.run(), name="riskmon-gateway-consumer"),
            asyncio.create_task(self.fanout.run(), name="riskmon-gateway-fanout"),
            asyncio.create_task(self.cap_feed.run(), name="riskmon-gateway-cap"),
            asyncio.create_task(self._expire_acks(), name="riskmon-gateway-acks"),
            asyncio.create_task(self._watch_sessions(), name="riskmon-gateway-sessions"),
        ]
        log.info(
            logfmt(
                "gateway_listening",
                host=self._settings.gateway_host,
                port=self.port,
                tls=self.tls,
                topic=self._settings.topics.scores,
            )
        )
        return self.port

    def _ssl_context(self) -> ssl.SSLContext | None:
        cert, key = self._settings.tls_cert, self._settings.tls_key
        if cert is None or key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        return context

    async def stop(self) -> None:
        """Close every connection (code 1001), stop the consumer, and wait for both."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._acks.stop()
        await self.api.close()
        await self.field.close()
        await self.capout.close()
        await self.public.close()
        if self._accounts is not None:
            await self._accounts.close()
        log.info(logfmt("gateway_stopped", port=self.port))

    @property
    def registry(self) -> CollectorRegistry:
        """The gateway's Prometheus metrics (``riskmon gateway`` may serve them on their own
        port, ``RISKMON_METRICS_PORT``)."""
        return self._registry

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- websocket clients ------------------------------------------------------------------------

    async def _on_client_message(self, cid: ClientId, message: str | bytes) -> None:
        """Act on one message of a client; every ``ack`` is answered to that client, first with
        ``ack_result`` ``queued`` (or ``request_error``), later with the worker's decision."""
        client = self._clients.get(cid)
        if client is None:
            return
        if not client.bucket.take(time.monotonic()):
            self._refused("message_rate")
            await client.ws.close(CLOSE_TOO_MANY_MESSAGES, "too many messages; slow down")
            return
        request = decode_client_message(message)
        if isinstance(request, str):
            log.warning(logfmt("bad_client_message", client=cid, reason=request))
            self._tell(cid, RequestErrorMessage(reason=f"not a request: {request}", retry=False))
            return
        principal = client.principal
        if not principal.may(Action.ACKNOWLEDGE):
            self._refused("forbidden")
            log.warning(logfmt("ack_forbidden", user=principal.user, role=principal.role.value))
            self._refuse_ack(
                cid,
                request,
                f"{principal.user} is {principal.role.value}: acknowledging alerts needs the "
                "operator role or above",
                retry=False,
            )
            return
        now = time.monotonic()
        self._time_out(now)
        if not self._pending.admit(cid):
            self._refuse_ack(
                cid,
                request,
                f"{self._pending.per_client} acknowledgements of this connection still wait for "
                "the worker's decision; wait for their ack_result",
                retry=True,
            )
            return
        ack_id = uuid.uuid4().hex
        at = datetime.now(UTC)
        ack = to_ack(request, principal.user, at, ack_id=ack_id)
        self._pending.add(ack_id, cid, request, now)  # before: the decision may come first
        try:
            await self._acks.publish(ack)
        except KafkaError as exc:
            self._pending.forget(ack_id)
            log.warning(logfmt("ack_not_published", alert=ack.alert_id, error=repr(exc)))
            self._refuse_ack(
                cid,
                request,
                "the message broker did not take the acknowledgement; try again",
                retry=True,
            )
            return
        log.info(logfmt("alert_ack", alert=ack.alert_id, who=ack.who, ack_id=ack_id))
        if ack_id in self._pending:  # not decided yet: say it is on its way
            queued = AckResultMessage(
                request_id=request.request_id, alert_id=request.alert_id, status="queued"
            )
            self._count_answer("queued")
            self._tell(cid, queued, key=f"ack:{ack_id}")
        assert self.auth is not None
        await self.auth.record(
            at,
            principal.user,
            "alert.ack",
            target=ack.alert_id,
            address=principal.address,
            detail={"district": ack.district, "ack_id": ack_id, "note": ack.note},
        )

    def _refuse_ack(self, cid: ClientId, request: AckRequest, reason: str, *, retry: bool) -> None:
        """Answer an acknowledgement that was not passed on with ``request_error``."""
        self._count_answer("request_error")
        message = RequestErrorMessage(
            reason=reason,
            alert_id=request.alert_id,
            request_id=request.request_id,
            retry=retry,
        )
        self._tell(cid, message)

    async def _expire_acks(self) -> None:
        """Answer ``timed_out`` to every acknowledgement whose decision has not come in time."""
        while True:
            due = self._pending.next_expiry()
            # With nothing waiting, an acknowledgement added during this sleep is due after it.
            wait = self._pending.wait_s if due is None else due - time.monotonic()
            await asyncio.sleep(max(wait, 0.0))
            self._time_out(time.monotonic())

    async def _watch_sessions(self) -> None:
        """Every ``session_check_s``: close the sockets whose session or token ended (logout,
        expiry, a disabled account, a role change); forget ended sessions now and then."""
        assert self.auth is not None
        cleaned = time.monotonic()
        while True:
            await asyncio.sleep(self._settings.session_check_s)
            clients = list(self._clients.items())
            now = datetime.now(UTC)
            try:
                ended = await self.auth.still_valid([c.principal for _, c in clients], now)
                if time.monotonic() - cleaned > SESSION_CLEANUP_S:
                    cleaned = time.monotonic()
                    await self.auth.store.delete_expired_sessions(
                        now, self._settings.session_idle_s
                    )
            except Exception as exc:  # the database is down: sockets stay until it answers
                log.warning(logfmt("session_check_failed", error=repr(exc)))
                continue
            for index, reason in ended.items():
                cid, client = clients[index]
                self._end_session(cid, client, reason)

    def _end_session(self, cid: ClientId, client: _Client, reason: str) -> None:
        self._refused("session_ended")
        log.info(logfmt("session_ended", client=cid, user=client.principal.user, reason=reason))
        self._close_later(client.ws, CLOSE_SESSION_ENDED, reason)

    def _close_later(self, ws: ServerConnection, code: int, reason: str) -> None:
        """Close ``ws`` from code that cannot await (the task is kept until it is done)."""
        task = asyncio.get_running_loop().create_task(ws.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _time_out(self, now: float) -> None:
        for cid, ack_id, message in self._pending.expire(now):
            log.warning(logfmt("ack_timed_out", alert=message.alert_id, ack_id=ack_id, client=cid))
            self._count_answer("timed_out")
            self._tell(cid, message, key=f"ack:{ack_id}")

    def _count_answer(self, status: str) -> None:
        answers = self.shell.ack_answers
        answers[status] = answers.get(status, 0) + 1

    def _refused(self, reason: str) -> None:
        self.shell.refused[reason] = self.shell.refused.get(reason, 0) + 1

    def _on_ack_result(self, raw: bytes | None) -> tuple[ClientId, ...]:
        """The worker decided on an acknowledgement: tell the client that sent it, if it is ours."""
        try:
            result = read_internal(AckResult, raw or b"")
        except ValidationError as exc:
            log.warning(logfmt("bad_ack_result", error=exc.errors()[0]["msg"]))
            return ()
        decided = self._pending.decide(result)
        if decided is None:
            return ()  # another gateway's client, one that left, or a repeat
        cid, message = decided
        log.info(logfmt("ack_decided", alert=result.alert_id, outcome=result.outcome, client=cid))
        self._count_answer(result.outcome)
        return self._queue(cid, message, key=f"ack:{result.ack_id}")

    def _tell(self, cid: ClientId, message: BaseModel, key: str | None = None) -> None:
        self._wake(self._queue(cid, message, key))

    def _queue(
        self, cid: ClientId, message: BaseModel, key: str | None = None
    ) -> tuple[ClientId, ...]:
        """Queue an answer for one client; returns it when its writer must be woken. A client
        with too many answers waiting is closed (4013)."""
        if not self.hub.has_client(cid):
            return ()  # gone meanwhile
        self._answers += 1
        try:
            woken = self.hub.tell(cid, key or f"answer:{self._answers}", message.model_dump_json())
        except QueueFull:
            client = self._clients.get(cid)
            if client is not None and client.ws.state is State.OPEN:
                self._refused("queue_overflow")
                log.warning(logfmt("client_queue_full", client=cid, user=client.principal.user))
                self._close_later(client.ws, CLOSE_QUEUE_OVERFLOW, "too many answers unread")
            return ()
        return (cid,) if woken else ()

    def _wake(self, clients: Iterable[ClientId]) -> None:
        self.fanout.wake(clients)

    async def _serve_client(self, ws: ServerConnection) -> None:
        principal = ws.principal if isinstance(ws, _Connection) else None
        if principal is None:  # _route lets no unauthenticated socket through
            await ws.close(CLOSE_SESSION_ENDED, "not authenticated")
            return
        self.limits.open(principal.user)
        try:
            if self.limits.total > self.limits.max_total:  # handshakes raced past the check
                self._refused("connection_limit")
                await ws.close(1013, "this gateway serves its maximum of connections")
                return
            await self._serve_authenticated(ws, principal)
        finally:
            self.limits.close(principal.user)

    async def _serve_authenticated(self, ws: ServerConnection, principal: Principal) -> None:
        cid = self.hub.add_client()
        settings = self._settings
        client = _Client(
            ws=ws,
            principal=principal,
            bucket=TokenBucket(
                settings.ws_message_rate, settings.ws_message_burst, time.monotonic()
            ),
        )
        self._clients[cid] = client
        peer = _peer(ws)
        log.info(
            logfmt(
                "client_connected",
                client=cid,
                peer=peer,
                user=principal.user,
                clients=self.hub.client_count,
            )
        )
        try:
            # What the client sends before its snapshot is written waits in websockets' queue.
            if await self._send(cid, client, self.hub.take_snapshot(cid)):
                self.shell.snapshots_sent += 1
                self.hub.go_live(cid)
                self.fanout.add(cid, ws)  # from now on the fanout task writes to it
                await self._read_incoming(cid, client)
        except ConnectionClosed:
            pass
        finally:
            self._forget(cid, peer)

    def _forget(self, cid: ClientId, peer: str) -> None:
        """Stop serving the client (idempotent): a client given up on is forgotten at once,
        even while its socket still waits for the closing handshake."""
        self.fanout.remove(cid)
        client = self._clients.pop(cid, None)
        if client is None:
            return
        self._pending.drop_client(cid)
        self.hub.remove_client(cid)
        log.info(
            logfmt(
                "client_disconnected",
                client=cid,
                peer=peer,
                code=client.ws.close_code,
                clients=self.hub.client_count,
            )
        )

    async def _send(self, cid: ClientId, client: _Client, text: str) -> bool:
        """Send ``text`` (the snapshot; the rest goes through :class:`Fanout`); False when the
        client did not take it within ``ws_send_timeout_s`` and was closed (4014), or went.

        The hub keeps one snapshot text until the next update, so the clients being sent it
        at the same time (a reconnecting control room) share its frame, compressed once; the
        frame is let go when no client is being sent it (a large city's is tens of MB)."""
        limit = self._settings.ws_send_timeout_s
        ws = client.ws
        message = self._snapshot
        if message is None or message.text is not text:
            message = self._snapshot = Message(text)
        self._snapshot_sends += 1
        try:
            async with asyncio.timeout(limit):
                frame = message.frame_for(ws.protocol, ws.send_in_progress is not None)
                if frame is None:
                    await ws.send(text)
                else:
                    ws.transport.write(frame)
                    await ws.drain()  # websockets' own backpressure, as in its send()
        except TimeoutError:
            self._too_slow(cid, ws)
            return False
        except OSError:  # the connection went while its snapshot was written
            return False
        finally:
            self._snapshot_sends -= 1
            if not self._snapshot_sends:
                self._snapshot = None
        return True

    def _too_slow(self, cid: ClientId, ws: ServerConnection) -> None:
        """The client did not take what it was sent within ``ws_send_timeout_s``: close it
        (4014). Not awaited: a client that does not read may not finish the closing handshake
        either (websockets drops it after its close timeout)."""
        limit = self._settings.ws_send_timeout_s
        self._refused("too_slow")
        client = self._clients.get(cid)
        user = client.principal.user if client is not None else "?"
        log.warning(logfmt("client_too_slow", client=cid, user=user))
        self._close_later(ws, CLOSE_TOO_SLOW, f"too slow: waited over {limit:g} s")
        self._forget(cid, _peer(ws))

    async def _read_incoming(self, cid: ClientId, client: _Client) -> None:
        """Read what the client sends and act on each message (answers go through its queue).
        Reading also processes pings and the close frame."""
        try:
            async for message in client.ws:
                await self._on_client_message(cid, message)
        except ConnectionClosed:
            pass

    # --- plain HTTP -----------------------------------------------------------------------------

    async def _route(self, ws: ServerConnection, request: Request) -> Response | None:
        try:
            return await self._route_checked(ws, request)
        except DATABASE_ERRORS as exc:
            if not is_transient(exc):
                raise  # a bug in riskmon's SQL: websockets logs it and answers 500
            log.warning(logfmt("accounts_unavailable", path=request.path, error=repr(exc)))
            return self._answer(
                error(503, "unavailable", "the accounts database does not answer; retry later")
            )

    async def _route_checked(self, ws: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if request.method == "GET" and path in ("/healthz", "/livez", "/readyz"):
            return self._probe(path)  # for load balancers and probes: no Host check, no secret
        host = request.headers.get("Host")
        scheme = "https" if self.tls else "http"
        verdict = check_host(host, self._policy, scheme=scheme)
        if not verdict.allowed:
            self._refused("bad_host")
            log.warning(logfmt("bad_host", path=path, peer=_peer(ws), reason=verdict.reason))
            return self._answer(error(403, "forbidden", verdict.reason))
        if request.method == "POST":
            return self._answer(await self._post(ws, request, path))
        if request.method != "GET":
            return self._answer(
                error(405, "bad_request", "GET or POST only", ("Allow", "GET, POST"))
            )
        if path in ("/", "/index.html"):
            return self._asset("index.html")
        if path == field_routes.PAGE:
            return self._asset("field.html")
        if path == public_routes.PAGE:  # public: no login (Action.PUBLIC_READ, docs/public.md)
            return self._asset("public.html")
        if path.startswith(public_routes.OPEN_PREFIX):
            answer = await self.public.respond(path, request.headers, _address(ws))
            if answer.status == 429:
                self._refused("public_rate_limit")
            return self._answer(answer)
        if path.startswith("/static/"):
            return self._asset(path.removeprefix("/static/"))
        if path == WS_PATH:
            refusal = await self._admit_websocket(ws, request)
            return None if refusal is None else self._answer(refusal)
        if path == "/auth/me" or path == "/metrics" or path.startswith("/api/"):
            principal = await self._authenticate(ws, request)
            if principal is None:
                self._refused("unauthenticated")
                return self._answer(unauthorized())
            return await self._authenticated_get(principal, path, query)
        return self._answer(error(404, "not_found", "try /, /ws, /auth/me or /api/"))

    async def _authenticated_get(self, principal: Principal, path: str, query: str) -> Response:
        assert self.auth is not None
        if path == "/auth/me":
            return self._answer(auth_routes.me(principal))
        if path == "/metrics":
            if not principal.may(Action.METRICS):
                self._refused("forbidden")
                return self._answer(forbidden(principal, Action.METRICS))
            body = generate_latest(self._registry)
            return response(http.HTTPStatus.OK, body, CONTENT_TYPE_LATEST, tls=self.tls)
        if path.startswith("/api/field/"):
            return self._answer(await field_routes.get(self.field, principal, path, query))
        if path == cap_routes.ACTIVE:
            answer = cap_routes.active(self.cap_feed, principal)
            if answer.status == 403:
                self._refused("forbidden")
            return self._answer(answer)
        if path.startswith(cap_routes.PREFIX):
            answer = await cap_routes.get(self.capout, principal, path, query)
            if answer.status == 403:
                self._refused("forbidden")
            return self._answer(answer)
        if path == "/api/audit":
            return self._answer(await auth_routes.audit(self.auth, principal, query))
        answer = await self.api.respond(path, query, principal)
        if answer.status == 403:
            self._refused("forbidden")
        return self._answer(answer)

    async def _post(self, ws: ServerConnection, request: Request, path: str) -> Answer:
        """``POST /auth/login`` and ``/auth/logout``: same origin only (CSRF), small bodies."""
        assert self.auth is not None
        if path not in ("/auth/login", "/auth/logout", field_routes.REPORTS, cap_routes.APPROVE):
            known = f"/auth/login, /auth/logout, {field_routes.REPORTS} and {cap_routes.APPROVE}"
            return error(405, "bad_request", f"POST only to {known}")
        credentials = credentials_of(request.headers.raw_items(), tls=self.tls)
        verdict = check_origin(
            request.headers.get("Host"),
            request.headers.get("Origin"),
            self._policy,
            scheme="https" if self.tls else "http",
            # A login without Origin is a program's (browsers always send one on POST); a logout
            # without Origin must carry a bearer token, never only the cookie a browser attaches.
            bearer=path == "/auth/login" or credentials.bearer is not None,
        )
        if not verdict.allowed:
            self._refused("bad_origin")
            return error(403, "forbidden", verdict.reason)
        now = datetime.now(UTC)
        if path == "/auth/login":
            answer, ok = await auth_routes.login(
                self.auth,
                content_type=request.headers.get("Content-Type"),
                body=ws.body if isinstance(ws, BodyConnection) else None,
                body_problem=ws.body_problem if isinstance(ws, BodyConnection) else None,
                address=_address(ws),
                now=now,
            )
            outcome = "ok" if ok else {429: "limited", 401: "failed"}.get(answer.status)
            if outcome is not None:
                self.shell.logins[outcome] = self.shell.logins.get(outcome, 0) + 1
            return answer
        principal = await self._authenticate(ws, request)
        if principal is None:
            self._refused("unauthenticated")
            return unauthorized()
        if path == cap_routes.APPROVE:
            return await cap_routes.post(
                self.capout,
                principal,
                content_type=request.headers.get("Content-Type"),
                body=ws.body if isinstance(ws, BodyConnection) else None,
                body_problem=ws.body_problem if isinstance(ws, BodyConnection) else None,
                address=_address(ws),
            )
        if path == field_routes.REPORTS:
            return await field_routes.post(
                self.field,
                principal,
                content_type=request.headers.get("Content-Type"),
                body=ws.body if isinstance(ws, BodyConnection) else None,
                body_problem=ws.body_problem if isinstance(ws, BodyConnection) else None,
                address=_address(ws),
            )
        answer = await auth_routes.logout(self.auth, principal, now)
        for cid, client in list(self._clients.items()):
            same = principal.session_hash is not None and (
                client.principal.session_hash == principal.session_hash
            )
            if same:
                self._end_session(cid, client, "logged out")
        return answer

    async def _authenticate(self, ws: ServerConnection, request: Request) -> Principal | None:
        assert self.auth is not None
        credentials = credentials_of(request.headers.raw_items(), tls=self.tls)
        if not credentials.present:
            return None
        return await self.auth.authenticate(credentials, _address(ws), datetime.now(UTC))

    async def _admit_websocket(self, ws: ServerConnection, request: Request) -> Answer | None:
        """None when the handshake may go on (the principal is left on ``ws``), else the
        refusal: 403 (Host or Origin), 401 (no valid credentials), 503/429 (limits)."""
        credentials = credentials_of(request.headers.raw_items(), tls=self.tls)
        verdict = check_origin(
            request.headers.get("Host"),
            request.headers.get("Origin"),
            self._policy,
            scheme="https" if self.tls else "http",
            bearer=credentials.bearer is not None,
        )
        if not verdict.allowed:
            self._refused("bad_origin")
            log.warning(logfmt("bad_origin", peer=_peer(ws), reason=verdict.reason))
            return error(403, "forbidden", verdict.reason)
        principal = await self._authenticate(ws, request)
        if principal is None:
            self._refused("unauthenticated")
            return unauthorized()
        if not principal.may(Action.LIVE_SCORES):
            self._refused("forbidden")
            return forbidden(principal, Action.LIVE_SCORES)
        refusal = self.limits.refusal(principal.user)
        if refusal is not None:
            status, reason = refusal
            self._refused("connection_limit" if status == 503 else "user_connection_limit")
            return error(status, "rate_limited" if status == 429 else "unavailable", reason)
        if isinstance(ws, _Connection):
            ws.principal = principal  # read by _serve_client
        return None

    def _asset(self, name: str) -> Response:
        found = self._static.get(name)
        if found is None:
            return self._answer(error(404, "not_found", "no such file"))
        body, content_type = found
        return response(
            http.HTTPStatus.OK, body, content_type, tls=self.tls, img_sources=self._img_sources
        )

    def _answer(self, answer: Answer) -> Response:
        return to_response(answer, tls=self.tls, img_sources=self._img_sources)

    def _probe(self, path: str) -> Response:
        """``/livez``: the process serves (200, whatever Kafka does: restarting the gateway
        would not bring a broker back). ``/readyz``: Kafka is read and the backlog of scores
        and alerts has been read once (503 before: a fresh gateway would show stale districts).
        ``/healthz``: Kafka is read (as before)."""
        if path == "/livez":
            body = json.dumps({"status": "alive", "clients": self.hub.client_count}).encode()
            return response(http.HTTPStatus.OK, body, "application/json", tls=self.tls)
        if path == "/readyz":
            kafka = self.shell.kafka_status(time.monotonic())
            ready = kafka == "ok" and self.shell.caught_up
            body = json.dumps(
                {
                    "status": "ready" if ready else kafka if kafka != "ok" else "catching_up",
                    "districts": self.hub.district_count,
                }
            ).encode()
            status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
            return response(status, body, "application/json", tls=self.tls)
        return self._health()

    def _health(self) -> Response:
        kafka = self.shell.kafka_status(time.monotonic())
        body = {
            "status": kafka,
            "districts": self.hub.district_count,
            "clients": self.hub.client_count,
        }
        status = http.HTTPStatus.OK if kafka == "ok" else http.HTTPStatus.SERVICE_UNAVAILABLE
        return response(status, json.dumps(body).encode(), "application/json", tls=self.tls)


async def run_gateway(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled; ``ready`` is set once the server listens (the consumer may lag).

    Raises SettingMissing when ``settings.kafka_bootstrap`` or ``pg_dsn`` is unset, OSError when
    the port is taken.
    """
    gateway = Gateway(settings)
    try:
        await gateway.start()
        if ready is not None:
            ready.set()
        await asyncio.Future()  # until cancelled
    finally:
        await gateway.stop()


def _tile_sources(url: str | None) -> tuple[str, ...]:
    """The CSP image source of a base map's tiles: its origin, with Leaflet's ``{s}``
    subdomains as a wildcard.

    >>> _tile_sources("https://{s}.tiles.example/{z}/{x}/{y}.png"), _tile_sources(None)
    (('https://*.tiles.example',), ())
    >>> _tile_sources("http://10.1.2.3:8081/wms")
    ('http://10.1.2.3:8081',)
    """
    if not url:
        return ()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ()
    host = parts.netloc.replace("{s}", "*")
    if "{" in host or "}" in host or "@" in host:
        return ()
    return (f"{parts.scheme}://{host}",)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)


def _address(ws: ServerConnection) -> str:
    """The client's address without its port (what login limits count by)."""
    address = ws.remote_address
    return str(address[0]) if isinstance(address, tuple) else str(address)
