"""``riskmon worker``: run the Faust worker (ingest, scoring, ticks, checkpoints)."""

from __future__ import annotations

import gc
import logging

import faust

from streams.city.config import CityConfig
from streams.metrics import WorkerMetrics, serve_metrics
from streams.persistence.checkpoints import PgCheckpointStore
from streams.settings import Settings
from streams.worker.agents import register
from streams.worker.app import create_app

log = logging.getLogger("riskmon.worker")


def run_worker(settings: Settings, config: CityConfig) -> None:
    """Run until SIGINT/SIGTERM; exits the process. Run the set-up step
    (:func:`streams.ops.startup.prepare`) first."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    dsn = settings.require_pg_dsn()
    checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.located)
    alert_checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.alert_input)
    identity_checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.identity)
    cap_checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.cap)
    metrics = WorkerMetrics()
    register(
        app,
        settings,
        config,
        checkpoints,
        alert_checkpoints,
        identity_checkpoints,
        metrics,
        cap_checkpoints,
    )
    serve_metrics(settings.metrics_host, settings.metrics_port, metrics.registry)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,  # keep the structured lines of streams.logs
    )
    worker.spinner = None  # a terminal spinner would write escape codes into the log
    # Everything built so far (modules, Faust, pydantic's validators, the city's polygons: about
    # 100,000 objects the collector tracks) lives as long as the process. Out of the collector's
    # sight, a full collection looks at ~45,000 objects instead of ~146,000 (~20 instead of ~75 ms
    # each; a pipeline-bench worker makes 8-12 in its ~15 s: bench/README.md).
    gc.collect()
    gc.freeze()
    worker.execute_from_commandline()
