"""``riskmon status [--json]``: is every stage running and caught up? One look, printed as a table
(or JSON), with an exit status for scripts and probes (see
:func:`streams.ops.status.exit_status`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.ops.status import Check, Limits, Observed, assess, exit_status
from streams.ops.status_probe import observe
from streams.settings import Settings

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def run_status(settings: Settings, limits: Limits, *, as_json: bool, sample_s: float) -> int:
    """Look twice, ``sample_s`` apart (0: once), so a stage that stands still while records wait
    is told from one that is merely behind."""

    async def look() -> tuple[Observed, Observed | None]:
        first = await observe(settings, datetime.now(UTC))
        if sample_s <= 0:
            return first, None
        await asyncio.sleep(sample_s)
        return await observe(settings, datetime.now(UTC)), first

    observed, earlier = asyncio.run(look())
    checks = assess(observed, limits, earlier)
    status = exit_status(checks)
    if as_json:
        print(json.dumps(to_json(observed, checks, status), indent=2, default=str))
    else:
        render(observed, checks, Console())
    return status


def to_json(observed: Observed, checks: list[Check], status: int) -> dict[str, Any]:
    """Checks first (what to act on), then what they were computed from."""
    return {
        "status": status,
        "checks": [asdict(c) for c in checks],
        "observed": asdict(observed)
        | {
            stage: [asdict(p) | {"behind": p.behind} for p in getattr(observed, stage)]
            for stage in ("ingest", "scoring", "alerting", "sink")
        },
    }


def render(observed: Observed, checks: list[Check], console: Console) -> None:
    table = Table(
        title=f"riskmon status at {observed.at:%Y-%m-%d %H:%M:%S %Z}", title_justify="left"
    )
    table.add_column("check")
    table.add_column("state")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, f"[{STYLE[check.level]}]{check.level}[/]", check.detail)
    console.print(table)
    facts = []
    if observed.epoch is not None:
        began = f"{observed.epoch_began:%Y-%m-%d %H:%M}" if observed.epoch_began else "?"
        facts.append(f"stream epoch {observed.epoch} since {began} ({observed.epoch_reason})")
    if observed.newest_score is not None:
        age = (observed.at - observed.newest_score).total_seconds()
        facts.append(f"newest stored score: {age:.0f} s ago")
    if observed.open_alerts:
        facts.append("open alerts: " + _counts(observed.open_alerts))
    if observed.dead_letters_1h:
        facts.append("dead letters in the last hour: " + _counts(observed.dead_letters_1h))
    for fact in facts:
        console.print(fact)


def _counts(counts: dict[str, int] | Any) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
