"""Prometheus metrics of the worker (served on ``settings.metrics_port``)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int) -> None:
    """Serve this process's metrics on ``host:port`` (nothing when ``port`` is 0)."""
    if port:
        start_http_server(port, addr=host)
        log.info("metrics url=http://%s:%s/metrics", host, port)


INGESTED = Counter("riskmon_ingested_total", "Inputs validated and located", ["kind"])
DEAD_LETTERS = Counter(
    "riskmon_dead_letters_total",
    "Inputs dead-lettered (the sink counts those PostgreSQL refused: not_storable)",
    ["error"],
)
NOT_OWNED = Counter(
    "riskmon_not_owned_records_total",
    "Records of a partition revoked while they waited in a batch; left to the new owner",
    ["topic"],
)
EVENTS = Counter(
    "riskmon_scoring_events_total",
    "Located events by scoring outcome (applied, duplicate, conflict, redelivered)",
    ["outcome"],
)
SCORE_UPDATES = Counter("riskmon_score_updates_total", "Score updates published", ["reason"])
CHECKPOINTS = Counter("riskmon_checkpoints_total", "Partition checkpoints saved")
CHECKPOINT_FAILURES = Counter(
    "riskmon_checkpoint_failures_total",
    "Checkpoint saves that failed (retried on the next interval)",
)
BATCH_SECONDS = Histogram(
    "riskmon_score_batch_seconds",
    "Time to score one partition batch",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
)
DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)
ARRIVAL_DELAY = Histogram(
    "riskmon_arrival_delay_seconds",
    "From when an incident occurred or a reading was observed to when the worker read it "
    "(how late agencies' feeds deliver; clock skew counts as 0)",
    ["kind"],
    buckets=DELAY_BUCKETS,
)
SCORE_DELAY = Histogram(
    "riskmon_score_delay_seconds",
    "From when the worker read an input to when the score update that includes it was sent "
    "(a restarted worker's replay shows here as long delays)",
    buckets=DELAY_BUCKETS,
)
ALERTS = Counter("riskmon_alert_changes_total", "Alert messages published", ["change"])
ACK_RESULTS = Counter(
    "riskmon_ack_results_total",
    "Acknowledgements decided, by outcome and rejection code",
    ["outcome", "code"],
)
SINK_ROWS = Counter("riskmon_sink_rows_total", "Rows written to PostgreSQL", ["table"])
SINK_RETRIES = Counter("riskmon_sink_retries_total", "PostgreSQL write attempts that failed")
SINK_LAG = Gauge("riskmon_sink_lag_records", "Records not yet written to PostgreSQL", ["topic"])
RETENTION_ROWS = Counter(
    "riskmon_retention_rows_total", "Rows deleted or downsampled by retention", ["table", "action"]
)
