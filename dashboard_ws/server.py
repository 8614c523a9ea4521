"""The gateway's I/O shell: a websockets server for HTTP and websocket clients, a Kafka consumer.

Routes (plain HTTP is answered from ``process_request``, before any websocket handshake)::

    GET /         the dashboard page, dashboard_ws/static/index.html
    GET /healthz  200 {"status":"ok","districts":N,"clients":M}; 503 while Kafka is not read
    GET /metrics  Prometheus text
    GET /ws       websocket: a SnapshotMessage, then score and alert messages; a client's ``ack``
                  requests are answered to it (ack_result / request_error)
    GET /api/...  the history API (JSON; :mod:`dashboard_ws.api.params` lists the routes)

Run it with :func:`run_gateway` (until cancelled), or start and stop it with :class:`Gateway`, which
tells the bound port (``gateway_port=0`` picks a free one)::

    async with Gateway(settings) as gateway:
        url = f"ws://127.0.0.1:{gateway.port}/ws"

All decisions (which update to keep, what a client receives next, coalescing) are the hub's
(:mod:`dashboard_ws.hub`); this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from importlib import resources
from types import TracebackType

from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from dashboard_ws.acks import AckPublisher, PendingAcks, decode_client_message, to_ack
from dashboard_ws.api.service import HistoryApi
from dashboard_ws.consumer import ScoreFeed, min_stale_after_s
from dashboard_ws.hub import ClientId, Hub
from dashboard_ws.logfmt import logfmt
from dashboard_ws.metrics import ShellStats, gateway_registry
from indices.taxonomy import DOMAINS, GROUPS
from streams.city.config import load_city_config
from streams.contract import AckResult, AckResultMessage, RequestErrorMessage
from streams.settings import Settings

__all__ = ["Gateway", "run_gateway"]

log = logging.getLogger(__name__)

# A client whose socket buffer holds more than this waits in send(); meanwhile the hub coalesces
# its queue. Small, so a slow client costs little memory (websockets' default is 32 KiB).
WRITE_LIMIT = 16 * 1024
# Keepalive: a client that does not answer a ping within PING_TIMEOUT_S is dropped.
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
# Compression costs CPU per frame per client, since every client's deflate stream is its own.
COMPRESSION = None
# Clients have nothing to say; what they send is read and dropped, so keep it small.
MAX_INCOMING_BYTES = 4096
WS_PATH = "/ws"
# /healthz answers 503 when the broker has not answered a fetch for this long.
STALE_AFTER_S = 15.0


class Gateway:
    """The websocket gateway in the running event loop.

    Call :meth:`start` (returns the bound port) and :meth:`stop`, or use ``async with``. One
    ``Gateway`` serves once: make a new one to start again. ``/healthz`` answers 503 until the
    consumer has started, and again when no fetch response came for ``stale_after_s`` seconds
    (raised to :func:`~dashboard_ws.consumer.min_stale_after_s` if below).
    """

    def __init__(self, settings: Settings, *, stale_after_s: float = STALE_AFTER_S) -> None:
        self._settings = settings
        self.hub = Hub()
        self.shell = ShellStats(stale_after_s=max(stale_after_s, min_stale_after_s(settings)))

        self._wakeups: dict[ClientId, asyncio.Event] = {}
        self._feed = ScoreFeed(settings, self.hub, self.shell, self._wake, self._on_ack_result)
        self._feed_task: asyncio.Task[None] | None = None
        self._acks = AckPublisher(settings)
        self._pending: PendingAcks[ClientId] = PendingAcks(wait_s=settings.ack_wait_s)
        self._expiry_task: asyncio.Task[None] | None = None
        self._answers = 0
        city = load_city_config(settings.city).city
        series = ["composite", "safety", *DOMAINS, *(f"group:{g}" for g in GROUPS)]
        self.api = HistoryApi(settings, city.codes, series)
        self._registry = gateway_registry(self.hub, self.shell, self.api.stats)
        self._server: Server | None = None
        self._page = resources.files("dashboard_ws").joinpath("static/index.html").read_bytes()
        self.port = 0

    async def start(self) -> int:
        """Start the Kafka consumer and listen on ``gateway_host:gateway_port``; return the port."""
        if self._server is not None:
            raise RuntimeError("this Gateway was started already; make a new one")
        self._settings.require_bootstrap()
        self._server = await serve(
            self._serve_client,
            self._settings.gateway_host,
            self._settings.gateway_port,
            process_request=self._route,
            compression=COMPRESSION,
            max_size=MAX_INCOMING_BYTES,
            write_limit=WRITE_LIMIT,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._feed_task = asyncio.create_task(self._feed.run(), name="riskmon-gateway-consumer")
        self._expiry_task = asyncio.create_task(self._expire_acks(), name="riskmon-gateway-acks")
        log.info(
            logfmt(
                "gateway_listening",
                host=self._settings.gateway_host,
                port=self.port,
                topic=self._settings.topics.scores,
            )
        )
        return self.port

    async def stop(self) -> None:
        """Close every connection (code 1001), stop the consumer, and wait for both."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in (self._feed_task, self._expiry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._feed_task = self._expiry_task = None
        await self._acks.stop()
        await self.api.close()
        log.info(logfmt("gateway_stopped", port=self.port))

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
        request = decode_client_message(message)
        if isinstance(request, str):
            log.warning(logfmt("bad_client_message", client=cid, reason=request))
            self._tell(cid, RequestErrorMessage(reason=f"not a request: {request}", retry=False))
            return
        now = time.monotonic()
        self._time_out(now)
        if not self._pending.admit(cid):
            self._count_answer("request_error")
            self._tell(
                cid,
                RequestErrorMessage(
                    reason=f"{self._pending.per_client} acknowledgements of this connection "
                    "still wait for the worker's decision; wait for their ack_result",
                    alert_id=request.alert_id,
                    request_id=request.request_id,
                    retry=True,
                ),
            )
            return
        ack_id = uuid.uuid4().hex
        ack = to_ack(request, datetime.now(UTC), ack_id=ack_id)
        self._pending.add(ack_id, cid, request, now)  # before: the decision may come first
        try:
            await self._acks.publish(ack)
        except KafkaError as exc:
            self._pending.forget(ack_id)
            log.warning(logfmt("ack_not_published", alert=ack.alert_id, error=repr(exc)))
            self._count_answer("request_error")
            self._tell(
                cid,
                RequestErrorMessage(
                    reason="the message broker did not take the acknowledgement; try again",
                    alert_id=request.alert_id,
                    request_id=request.request_id,
                    retry=True,
                ),
            )
            return
        log.info(logfmt("alert_ack", alert=ack.alert_id, who=ack.who, ack_id=ack_id))
        if ack_id in self._pending:  # not decided yet: say it is on its way
            queued = AckResultMessage(
                request_id=request.request_id, alert_id=request.alert_id, status="queued"
            )
            self._count_answer("queued")
            self._tell(cid, queued, key=f"ack:{ack_id}")

    async def _expire_acks(self) -> None:
        """Answer ``timed_out`` to every acknowledgement whose decision has not come in time."""
        while True:
            due = self._pending.next_expiry()
            # With nothing waiting, an acknowledgement added during this sleep is due after it.
            wait = self._pending.wait_s if due is None else due - time.monotonic()
            await asyncio.sleep(max(wait, 0.0))
            self._time_out(time.monotonic())

    def _time_out(self, now: float) -> None:
        for cid, ack_id, message in self._pending.expire(now):
            log.warning(logfmt("ack_timed_out", alert=message.alert_id, ack_id=ack_id, client=cid))
            self._count_answer("timed_out")
            self._tell(cid, message, key=f"ack:{ack_id}")

    def _count_answer(self, status: str) -> None:
        answers = self.shell.ack_answers
        answers[status] = answers.get(status, 0) + 1

    def _on_ack_result(self, raw: bytes | None) -> tuple[ClientId, ...]:
        """The worker decided on an acknowledgement: tell the client that sent it, if it is ours."""
        try:
            result = AckResult.model_validate_json(raw or b"")
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
        """Queue an answer for one client; returns it when its writer must be woken."""
        if not self.hub.has_client(cid):
            return ()  # gone meanwhile
        self._answers += 1
        if self.hub.tell(cid, key or f"answer:{self._answers}", message.model_dump_json()):
            return (cid,)
        return ()

    def _wake(self, clients: Iterable[ClientId]) -> None:
        for cid in clients:
            event = self._wakeups.get(cid)
            if event is not None:
                event.set()

    async def _serve_client(self, ws: ServerConnection) -> None:
        cid = self.hub.add_client()
        wake = asyncio.Event()
        self._wakeups[cid] = wake
        peer = _peer(ws)
        log.info(logfmt("client_connected", client=cid, peer=peer, clients=self.hub.client_count))
        reader = asyncio.create_task(_read_incoming(ws, wake, self._on_client_message, cid))
        try:
            await ws.send(self.hub.take_snapshot(cid))
            self.shell.snapshots_sent += 1
            self.hub.go_live(cid)
            while ws.state is State.OPEN:
                while (out := self.hub.pop_next(cid)) is not None:
                    await ws.send(out.text)
                    self.shell.scores_sent += 1
                await wake.wait()
                wake.clear()
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            del self._wakeups[cid]
            self._pending.drop_client(cid)
            self.hub.remove_client(cid)
            log.info(
                logfmt(
                    "client_disconnected",
                    client=cid,
                    peer=peer,
                    code=ws.close_code,
                    clients=self.hub.client_count,
                )
            )

    # --- plain HTTP -----------------------------------------------------------------------------

    async def _route(self, ws: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if request.method != "GET":
            response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"GET only\n")
            response.headers["Allow"] = "GET"
            return response
        if path == WS_PATH:
            return None  # go on with the websocket handshake
        if path in ("/", "/index.html"):
            return _response(http.HTTPStatus.OK, self._page, "text/html; charset=utf-8")
        if path == "/healthz":
            return self._health()
        if path.startswith("/api/"):
            answer = await self.api.respond(path, query)
            response = _response(http.HTTPStatus(answer.status), answer.body, answer.content_type)
            for name, value in answer.headers:
                response.headers[name] = value
            return response
        if path == "/metrics":
            return _response(
                http.HTTPStatus.OK, generate_latest(self._registry), CONTENT_TYPE_LATEST
            )
        return _response(http.HTTPStatus.NOT_FOUND, b"not found; try /, /ws or /api/\n")

    def _health(self) -> Response:
        kafka = self.shell.kafka_status(time.monotonic())
        body = {
            "status": kafka,
            "districts": self.hub.district_count,
            "clients": self.hub.client_count,
        }
        status = http.HTTPStatus.OK if kafka == "ok" else http.HTTPStatus.SERVICE_UNAVAILABLE
        return _response(status, json.dumps(body).encode(), "application/json")


async def run_gateway(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled; ``ready`` is set once the server listens (the consumer may lag).

    Raises ValueError when ``settings.kafka_bootstrap`` is unset, OSError when the port is taken.
    """
    gateway = Gateway(settings)
    try:
        await gateway.start()
        if ready is not None:
            ready.set()
        await asyncio.Future()  # until cancelled
    finally:
        await gateway.stop()


async def _read_incoming(
    ws: ServerConnection,
    wake: asyncio.Event,
    on_message: Callable[[ClientId, str | bytes], Awaitable[None]],
    cid: ClientId,
) -> None:
    """Read what the client sends and hand each message to ``on_message`` (which answers through
    the client's queue). Reading also processes pings and the close frame."""
    try:
        async for message in ws:
            await on_message(cid, message)
    except ConnectionClosed:
        pass
    finally:
        wake.set()  # the writer sees the closed state and returns


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)


def _response(
    status: http.HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)
