"""Prometheus metrics of one gateway, read from the hub's and the shell's counters at scrape time.

Nothing here increments anything: the hub counts what it accepts, drops and coalesces
(:class:`~dashboard_ws.hub.HubStats`), the shell counts what it sends (:class:`ShellStats`), and
:class:`GatewayCollector` turns both into metric families when ``/metrics`` is scraped. Each gateway
has its own registry (:func:`gateway_registry`), so several gateways can run in one process (tests).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from dashboard_ws.hub import Hub

__all__ = ["ApiStats", "GatewayCollector", "ShellStats", "gateway_registry"]


@dataclass(slots=True)
class ApiStats:
    """The history API's answers by HTTP status, and the time spent answering them.

    >>> stats = ApiStats()
    >>> stats.record(200, 0.02); stats.record(400, 0.001); stats.record(200, 0.03)
    >>> stats.responses, round(stats.seconds, 3)
    ({200: 2, 400: 1}, 0.051)
    """

    responses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, status: int, seconds: float) -> None:
        self.responses[status] = self.responses.get(status, 0) + 1
        self.seconds += seconds


@dataclass(slots=True)
class ShellStats:
    """What only the I/O shell knows; the shell updates these fields, metrics and health read them.

    >>> stats = ShellStats(stale_after_s=15.0)
    >>> stats.kafka_status(now=100.0)
    'kafka_consumer_down'
    >>> stats.consumer_running, stats.last_fetch_at = True, 90.0
    >>> stats.kafka_status(now=100.0), stats.kafka_status(now=106.0)
    ('ok', 'kafka_no_fetch')
    """

    stale_after_s: float
    """With no fetch response for this long the consumer counts as down (broker unreachable)."""
    snapshots_sent: int = 0
    scores_sent: int = 0
    """``scores`` messages (each carries one or more districts' updates)."""
    score_updates_sent: int = 0
    """District updates carried by the ``scores`` messages."""
    others_sent: int = 0
    """Alert messages and answers to one client."""
    heartbeats_sent: int = 0
    write_passes: int = 0
    socket_writes: int = 0
    """Writes to client sockets: each carries every message a client was due at one pass."""
    """Passes of the writer over the clients with something due (:mod:`dashboard_ws.fanout`)."""
    clients_blocked: int = 0
    """Clients skipped at the last pass because their socket buffer was over the limit."""
    ack_answers: dict[str, int] = field(default_factory=dict)
    """Answers to clients' acknowledgements by status (``queued``, ``applied``, ``rejected``,
    ``timed_out``, ``request_error``)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Requests and connections refused, by reason (``unauthenticated``, ``forbidden``,
    ``bad_host``, ``bad_origin``, ``connection_limit``, ``user_connection_limit``,
    ``message_rate``, ``queue_overflow``, ``too_slow``, ``session_ended``)."""
    logins: dict[str, int] = field(default_factory=dict)
    """Login attempts by outcome (``ok``, ``failed``, ``limited``)."""
    consumer_running: bool = False
    caught_up: bool = False
    """Once the consumer's position reached the end of every partition it reads (sticky): the
    gateway holds the latest state and is ready (``/readyz``)."""
    last_fetch_at: float = 0.0
    """``time.monotonic()`` of the newest fetch response, or of the consumer's start."""

    def kafka_status(self, now: float) -> str:
        """``ok``, ``kafka_consumer_down`` (not started) or ``kafka_no_fetch`` (broker silent)."""
        if not self.consumer_running:
            return "kafka_consumer_down"
        if now - self.last_fetch_at > self.stale_after_s:
            return "kafka_no_fetch"
        return "ok"


class GatewayCollector:
    """A prometheus_client collector over a :class:`Hub` and a :class:`ShellStats`."""

    def __init__(self, hub: Hub, shell: ShellStats, api: ApiStats | None = None) -> None:
        self._hub = hub
        self._shell = shell
        self._api = api or ApiStats()

    def collect(self) -> Iterator[Metric]:
        hub, shell = self._hub, self._shell
        yield GaugeMetricFamily(
            "riskmon_gateway_clients", "Websocket clients connected.", value=hub.client_count
        )
        yield GaugeMetricFamily(
            "riskmon_gateway_districts", "Districts with a score held.", value=hub.district_count
        )
        yield GaugeMetricFamily(
            "riskmon_gateway_consumer_up",
            "1 while the Kafka consumer of the scores topic runs and gets fetch responses.",
            value=1 if shell.kafka_status(time.monotonic()) == "ok" else 0,
        )
        sent = CounterMetricFamily(
            "riskmon_gateway_messages_sent", "Websocket messages sent, by type.", labels=["type"]
        )
        sent.add_metric(["snapshot"], shell.snapshots_sent)
        sent.add_metric(["scores"], shell.scores_sent)
        sent.add_metric(["other"], shell.others_sent)
        sent.add_metric(["heartbeat"], shell.heartbeats_sent)
        yield sent
        yield CounterMetricFamily(
            "riskmon_gateway_score_updates_sent",
            "District updates carried by scores messages (a client gets one per changed "
            "district per scores message).",
            value=shell.score_updates_sent,
        )
        yield CounterMetricFamily(
            "riskmon_gateway_write_passes",
            "Passes of the one writer task over the clients with a message due.",
            value=shell.write_passes,
        )
        yield CounterMetricFamily(
            "riskmon_gateway_socket_writes",
            "Writes to client sockets; one carries every message a client was due at a pass "
            "(a scores message and the alerts queued behind it), so fewer than messages sent.",
            value=shell.socket_writes,
        )
        yield GaugeMetricFamily(
            "riskmon_gateway_clients_blocked",
            "Clients not written to at the last pass: their socket buffer is full (they keep "
            "coalescing; closed with 4014 after RISKMON_WS_SEND_TIMEOUT_S).",
            value=shell.clients_blocked,
        )
        yield CounterMetricFamily(
            "riskmon_gateway_scores_built",
            "Scores messages encoded; the other scores messages sent were the same text shared "
            "between clients.",
            value=hub.stats.frames_built,
        )
        acks = CounterMetricFamily(
            "riskmon_gateway_ack_answers",
            "Answers to clients' acknowledgements, by status (queued, applied, rejected, "
            "timed_out: no decision from the worker in time, request_error: not passed on).",
            labels=["status"],
        )
        for answer in ("queued", "applied", "rejected", "timed_out", "request_error"):
            acks.add_metric([answer], shell.ack_answers.get(answer, 0))
        yield acks
        consumed = CounterMetricFamily(
            "riskmon_gateway_updates_consumed",
            "Records read from the scores and alerts topics, by outcome (accepted, stale seq, "
            "invalid, future: a seq implausibly far ahead).",
            labels=["outcome"],
        )
        consumed.add_metric(["accepted"], hub.stats.accepted)
        consumed.add_metric(["stale"], hub.stats.stale)
        consumed.add_metric(["invalid"], hub.stats.invalid)
        consumed.add_metric(["future"], hub.stats.future)
        yield consumed
        refused = CounterMetricFamily(
            "riskmon_gateway_refused",
            "Requests and connections refused, by reason (unauthenticated, forbidden, bad_host, "
            "bad_origin, connection limits, message_rate, queue_overflow, too_slow, "
            "session_ended).",
            labels=["reason"],
        )
        for reason, count in sorted(shell.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        logins = CounterMetricFamily(
            "riskmon_gateway_logins",
            "Login attempts by outcome (ok, failed, limited).",
            labels=["outcome"],
        )
        for outcome in ("ok", "failed", "limited"):
            logins.add_metric([outcome], shell.logins.get(outcome, 0))
        yield logins
        yield CounterMetricFamily(
            "riskmon_gateway_coalesced_drops",
            "Updates of a district (or alert) that replaced one still waiting for a client.",
            value=hub.stats.coalesced,
        )
        answered = CounterMetricFamily(
            "riskmon_gateway_api_responses",
            "History API answers, by HTTP status.",
            labels=["status"],
        )
        for status, count in sorted(self._api.responses.items()):
            answered.add_metric([str(status)], count)
        yield answered
        yield CounterMetricFamily(
            "riskmon_gateway_api_seconds",
            "Time spent answering history API requests (divide by the answers for a mean).",
            value=self._api.seconds,
        )


def gateway_registry(hub: Hub, shell: ShellStats, api: ApiStats | None = None) -> CollectorRegistry:
    """A fresh registry holding only this gateway's metrics; render it with ``generate_latest``."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(GatewayCollector(hub, shell, api))
    return registry
