"""``riskmon replay``: the shell around :mod:`streams.replay` (database, progress bar, report)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from . import store
from .cityconfig import CityConfigError, load_city_config
from .replay import LIVE, ReplayPlan, default_model_version, run_replay
from .settings import Settings


async def _replay(
    settings: Settings, plan: ReplayPlan, config_path: Path | None, quiet: bool
) -> int:
    config = load_city_config(config_path)
    conn = await store.connect(settings.require_pg_dsn())
    console = Console(stderr=True)
    try:
        await store.migrate(conn)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=False,
        ) as bar:
            task = bar.add_task(f"replay {plan.series}", total=None)
            report = await run_replay(
                conn,
                config.city.model_districts(),
                config.params,
                plan,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        await conn.close()
    print(json.dumps(report.to_dict()))
    if report.skipped_instants:
        console.print(
            f"{report.skipped_instants} live updates had no recorded event position "
            "(written before schema v2) and were not replayed"
        )
    return 0


def run_replay_cli(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    model_version: str | None,
    series: str | None,
    config_path: Path | None,
    every_s: float | None,
    quiet: bool = False,
) -> int:
    """Exit status: 0 done, 2 bad arguments or configuration."""
    if start >= end:
        print(f"riskmon replay: --from ({start}) must be before --to ({end})", file=sys.stderr)
        return 2
    try:
        params = load_city_config(config_path or settings.city_config).params
    except CityConfigError as exc:
        print(f"riskmon replay: {exc}", file=sys.stderr)
        return 2
    version = model_version or default_model_version(params)
    name = series or f"replay:{version}"
    if name == LIVE:
        print(
            "riskmon replay: the live series is the worker's; choose another --series",
            file=sys.stderr,
        )
        return 2
    plan = ReplayPlan(
        series=name,
        model_version=version,
        start=start,
        end=end,
        every=timedelta(seconds=every_s) if every_s else None,
    )
    return asyncio.run(_replay(settings, plan, config_path or settings.city_config, quiet))
