"""``riskmon worker``: run the Faust worker (ingest, scoring, ticks, checkpoints)."""

from __future__ import annotations

import asyncio
import logging

import faust

from .agents import register
from .app import create_app
from .checkpoint import PgCheckpointStore
from .cityconfig import load_city_config
from .metrics import serve_metrics
from .settings import Settings
from .startup import prepare

log = logging.getLogger("riskmon.worker")


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; exits the process."""
    asyncio.run(prepare(settings))
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    config = load_city_config(settings.city_config)
    app = create_app(settings)
    dsn = settings.require_pg_dsn()
    checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.located)
    alert_checkpoints = PgCheckpointStore(dsn, settings.app_id, settings.topics.alert_input)
    register(app, settings, config, checkpoints, alert_checkpoints)
    serve_metrics(settings.metrics_host, settings.metrics_port)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,  # keep the structured lines of streams.logs
    )
    worker.spinner = None  # a terminal spinner would write escape codes into the log
    worker.execute_from_commandline()
