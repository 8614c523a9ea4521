"""``riskmon worker``: run the Faust worker (ingest, scoring, ticks, checkpoints)."""

from __future__ import annotations

import asyncio
import logging

import faust

from . import store
from .admin import create_topics
from .agents import register
from .app import create_app
from .checkpoint import PgCheckpointStore
from .cityconfig import load_city_config
from .metrics import serve_metrics
from .settings import Settings

log = logging.getLogger("riskmon.worker")


async def migrate_db(settings: Settings) -> list[int]:
    """Apply pending database migrations; returns the versions applied."""
    conn = await store.connect(settings.require_pg_dsn())
    try:
        return await store.migrate(conn)
    finally:
        await conn.close()


async def prepare(settings: Settings) -> None:
    """Migrate the database and create topics before the worker joins its group.

    When the located-events topic had to be created while the database already holds scoring
    state, the broker lost its log (the embedded broker keeps nothing across restarts): a new
    stream epoch starts and the old checkpoints, which name offsets of the lost log, are dropped.
    """
    await migrate_db(settings)
    created = await create_topics(settings)
    if settings.topics.located in created:
        conn = await store.connect(settings.require_pg_dsn())
        try:
            await store.begin_epoch(conn, f"topic {settings.topics.located} was created")
        finally:
            await conn.close()


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
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
