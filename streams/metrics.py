"""Prometheus metrics of the worker and the history sink (served on ``settings.metrics_port``).

:class:`WorkerMetrics` holds its own registry and the metric objects: the process entry point
(``riskmon worker``, ``riskmon sink``) makes one and passes it down; :func:`serve_metrics` serves
it. Tests make their own and read the values from its registry:

>>> metrics = WorkerMetrics()
>>> metrics.checkpoints.inc()
>>> metrics.registry.get_sample_value("riskmon_checkpoints_total")
1.0
>>> WorkerMetrics().registry.get_sample_value("riskmon_checkpoints_total")
0.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

log = logging.getLogger(__name__)

DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


class WorkerMetrics:
    """The metrics of one worker or sink, in a registry of their own.

    ``process``: also collect ``process_*``, ``python_gc_*`` and ``python_info`` (what the global
    registry served before); off for registries only read by tests.
    """

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        if process:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(collector)
        self.ingested = Counter(
            "riskmon_ingested_total", "Inputs validated and located", ["kind"], registry=r
        )
        self.dead_letters = Counter(
            "riskmon_dead_letters_total",
            "Inputs dead-lettered (the sink counts those PostgreSQL refused: not_storable)",
            ["error"],
            registry=r,
        )
        self.output_retries = Counter(
            "riskmon_output_retries_total",
            "Published records the broker did not confirm, sent again (the batch waits for them)",
            ["what"],
            registry=r,
        )
        self.outputs_lost = Counter(
            "riskmon_outputs_lost_total",
            "Records the broker refused for ever (too large, and no dead letter could replace "
            "them); should stay 0",
            ["what"],
            registry=r,
        )
        self.state_entries = Gauge(
            "riskmon_state_entries",
            "Entries of the scoring state held by this worker, by kind (incidents, sensors, "
            "facts); each district's are capped by RISKMON_STATE_MAX_*",
            ["kind"],
            registry=r,
        )
        self.cap = Counter(
            "riskmon_cap_messages_total",
            "CAP messages and what they did (read, started, incidents, ended_cancelled, "
            "ended_superseded, ended_expired, withdrawals, overlay, outside_city, status_*, "
            "schema, cap_refused, redelivered, gap)",
            ["outcome"],
            registry=r,
        )
        self.identities = Counter(
            "riskmon_identity_decisions_total",
            "Incidents and safety facts by identity decision (first: a new (source, id); again: "
            "re-sent to the same district; moved: re-sent placed elsewhere, dead-lettered; "
            "over_capacity, redelivered, gap)",
            ["decision"],
            registry=r,
        )
        self.not_owned = Counter(
            "riskmon_not_owned_records_total",
            "Records of a partition revoked while they waited in a batch; left to the new owner",
            ["topic"],
            registry=r,
        )
        self.events = Counter(
            "riskmon_scoring_events_total",
            "Located events by scoring outcome (applied, duplicate, conflict, redelivered)",
            ["outcome"],
            registry=r,
        )
        self.score_updates = Counter(
            "riskmon_score_updates_total", "Score updates published", ["reason"], registry=r
        )
        self.checkpoints = Counter(
            "riskmon_checkpoints_total", "Partition checkpoints saved", registry=r
        )
        self.checkpoint_failures = Counter(
            "riskmon_checkpoint_failures_total",
            "Checkpoint saves that failed (retried on the next interval)",
            registry=r,
        )
        self.handoff = Counter(
            "riskmon_worker_handoff_records_total",
            "Records the stage before handed to a stage in this process: applied, already read "
            "from the topic (read_first), or left to the topic (its state is elsewhere or "
            "behind); and records read from the topic after a hand-off applied them, skipped "
            "undecoded (read_again)",
            ["stage", "outcome"],
            registry=r,
        )
        self.handoff_failures = Counter(
            "riskmon_worker_handoff_failures_total",
            "Hand-offs a stage's lane failed to apply (logged; their records are read from the "
            "topic instead)",
            ["stage"],
            registry=r,
        )
        self.batch_records = Histogram(
            "riskmon_worker_batch_records",
            "Records an agent took in one batch (small under light load, up to RISKMON_BATCH_MAX "
            "when it is behind)",
            ["agent"],
            buckets=(1, 5, 20, 50, 100, 200, 500, 1000, 2000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "riskmon_score_batch_seconds",
            "Time to score one partition batch",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.arrival_delay = Histogram(
            "riskmon_arrival_delay_seconds",
            "From when an incident occurred or a reading was observed to when the worker read it "
            "(how late agencies' feeds deliver; clock skew counts as 0)",
            ["kind"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.score_delay = Histogram(
            "riskmon_score_delay_seconds",
            "From when the worker read an input to when the score update that includes it was "
            "sent (a restarted worker's replay shows here as long delays)",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.alerts = Counter(
            "riskmon_alert_changes_total", "Alert messages published", ["change"], registry=r
        )
        self.ack_results = Counter(
            "riskmon_ack_results_total",
            "Acknowledgements decided, by outcome and rejection code",
            ["outcome", "code"],
            registry=r,
        )
        self.sink_rows = Counter(
            "riskmon_sink_rows_total", "Rows written to PostgreSQL", ["table"], registry=r
        )
        self.sink_retries = Counter(
            "riskmon_sink_retries_total", "PostgreSQL write attempts that failed", registry=r
        )
        self.sink_lag = Gauge(
            "riskmon_sink_lag_records",
            "Records not yet written to PostgreSQL",
            ["topic"],
            registry=r,
        )
        self.retention_rows = Counter(
            "riskmon_retention_rows_total",
            "Rows deleted or downsampled by retention",
            ["table", "action"],
            registry=r,
        )

    def handoff_counter(self, stage: str) -> Callable[[str, int], None]:
        """``count(outcome, n)`` for ``stage``'s hand-off records (see ``handoff``)."""

        def count(outcome: str, n: int) -> None:
            self.handoff.labels(stage, outcome).inc(n)

        return count


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> None:
    """Serve ``registry`` on ``host:port`` (nothing when ``port`` is 0)."""
    if port:
        start_http_server(port, addr=host, registry=registry)
        log.info("metrics url=http://%s:%s/metrics", host, port)
