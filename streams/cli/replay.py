"""``riskmon replay``: the shell around :mod:`streams.replay.recompute` (database, progress bar,
report)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from streams.city.config import CityConfigError, load_city_config
from streams.contract import ScoreUpdate
from streams.contract.base import read_internal
from streams.persistence import db
from streams.pipeline.alerting import AlertingContext
from streams.replay.compare import Comparison, compare
from streams.replay.recompute import LIVE, ReplayPlan, default_model_version, run_replay
from streams.settings import Settings


async def _series(conn: Any, series: str, plan: ReplayPlan) -> list[ScoreUpdate]:
    rows = await conn.fetch(
        """SELECT payload FROM score_updates WHERE series = $1 AND as_of >= $2 AND as_of < $3""",
        series,
        plan.start,
        plan.end,
    )
    return [read_internal(ScoreUpdate, r["payload"]) for r in rows]


def _print_comparison(console: Console, rows: list[Comparison]) -> None:
    table = Table(title="alerts: live vs replay (same offline alerting for both)")
    for column in ("district", "domain", "rule", "live first", "replay first", "lead s", "fired"):
        table.add_column(column)
    for c in rows:
        table.add_row(
            c.district,
            c.domain,
            c.rule,
            c.live_first.isoformat(timespec="seconds") if c.live_first else "-",
            c.replay_first.isoformat(timespec="seconds") if c.replay_first else "-",
            "-" if c.lead_s is None else f"{c.lead_s:+.0f}",
            f"{c.live_firings} / {c.replay_firings}",
        )
    console.print(table if rows else "alerts: neither series fired in the range")


async def _replay(
    settings: Settings,
    plan: ReplayPlan,
    config_path: Path | None,
    quiet: bool,
    compare_alerts: bool,
) -> int:
    config = load_city_config(config_path)
    conn = await db.connect(settings.require_pg_dsn())
    console = Console(stderr=True)
    comparison: list[Comparison] | None = None
    try:
        await db.migrate(conn)
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
        if compare_alerts:
            live, replayed = await _series(conn, LIVE, plan), await _series(conn, plan.series, plan)
            comparison = compare(live, replayed, AlertingContext.for_city(config))
    finally:
        await conn.close()
    document = report.to_dict()
    if comparison is not None:
        _print_comparison(console, comparison)
        document["alerts"] = [c.to_dict() for c in comparison]
    print(json.dumps(document))
    if report.skipped_instants:
        console.print(
            f"{report.skipped_instants} live updates had no recorded event position "
            "(written before schema v2) and were not replayed"
        )
    if report.updates == 0:
        # Live full updates are kept RISKMON_RETENTION_RAW_HISTORY_DAYS (30); a range older than
        # that, or before the stream began, has no instants to replay at.
        hint = "" if plan.every else "; pass --every SECONDS to evaluate at regular instants"
        console.print(
            f"riskmon replay: nothing replayed: no live score updates in "
            f"[{plan.start.isoformat()}, {plan.end.isoformat()}) (they are kept "
            f"{settings.retention_raw_history_days:g} days){hint}"
        )
        return 1
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
    compare_alerts: bool = False,
) -> int:
    """Exit status: 0 done, 2 bad arguments or configuration."""
    if start >= end:
        print(f"riskmon replay: --from ({start}) must be before --to ({end})", file=sys.stderr)
        return 2
    try:
        params = load_city_config(config_path or settings.city).params
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
    return asyncio.run(_replay(settings, plan, config_path or settings.city, quiet, compare_alerts))
