"""The shape every stream scenario shares: servers up, a worker and a sink running, a mixed stream
sent while a fault is injected, then the wait for the system to catch up and the checks.

A scenario builds a :class:`Run`, starts what it needs, sends with :meth:`Run.send`, and ends with
:meth:`Run.finish`, which waits (bounded, polled) for every record to be located or
dead-lettered, for the scores to settle and for the history to hold everything, then tallies.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import Result, progress
from streams.city.config import CityConfig, load_city_config
from streams.ops.startup import prepare
from streams.settings import Settings

from .oracle import Expected, History, Observer, Tally, history, history_complete, tally
from .rig import Child, Rig, RssPeak, supervise, wait_until
from .stream import Publisher, Record, Sent

CATCH_UP_S = 300.0  # how long the system may take to process what was sent, after the faults
HISTORY_S = 120.0


@dataclass
class Run:
    """One scenario run on ``rig`` with ``settings``."""

    name: str
    rig: Rig
    settings: Settings
    config: CityConfig = field(default_factory=lambda: load_city_config(None))
    started: float = field(default_factory=time.monotonic)
    sent: list[Sent] = field(default_factory=list)
    expected: Expected | None = None
    observer: Observer | None = None
    rss: RssPeak | None = None
    recoveries: list[float | None] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    catch_up_s: float = CATCH_UP_S
    supervising: asyncio.Event = field(default_factory=asyncio.Event)
    _supervisor: asyncio.Task[None] | None = None

    @property
    def workers(self) -> list[Child]:
        return [c for c in self.rig.children if c.command == "worker"]

    async def setup(self) -> None:
        """The set-up step (migrations, topics, epoch), then the topic observer and RSS sampler."""
        await prepare(self.settings)
        self.expected = Expected(self.config)
        self.observer = Observer(self.settings)
        await self.observer.start()
        self.rss = RssPeak(self._pids)
        self.rss.__enter__()
        # An orchestrator's restart policy: a child that exits by itself is started again (and
        # the exit is reported), so a crash loop shows in the figures instead of a hang.
        self._supervisor = asyncio.create_task(supervise(self.rig.children, self.supervising))

    def _pids(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for child in self.rig.children:
            if child.alive and child.pid is not None:
                out.setdefault(child.command, []).append(child.pid)
        return out

    async def send(self, publisher: Publisher, records: list[Record]) -> list[Sent]:
        sent = await publisher.send(records)
        self.sent.extend(sent)
        assert self.expected is not None
        self.expected.add(sent, datetime.now(UTC))
        return sent

    async def wait_scores_flow(self, after: float, within: float = 180.0) -> float | None:
        """Seconds from ``after`` (monotonic) to the first score update published after it."""
        assert self.observer is not None
        observer = self.observer
        if await wait_until(lambda: observer.first_update_after(after) is not None, within):
            arrived = observer.first_update_after(after)
            return None if arrived is None else round(arrived - after, 2)
        return None

    async def finish(self, *, epoch: int | None = None, check_history: bool = True) -> Tally:
        """Wait for the system to catch up with everything sent, then tally."""
        assert self.expected is not None
        assert self.observer is not None
        expected, observer = self.expected, self.observer
        t0 = time.monotonic()
        caught = await wait_until(lambda: observer.caught_up(expected), self.catch_up_s, 0.5)
        self.notes["catch_up_s"] = round(time.monotonic() - t0, 1)
        if not caught:
            progress(f"{self.name}: not caught up within {self.catch_up_s:.0f} s")
        await observer.settle()
        stored: History | None = None
        if check_history:

            async def complete() -> bool:
                nonlocal stored
                stored = await history(
                    self.settings.require_pg_dsn(), epoch, self.settings.topics.deadletter
                )
                return history_complete(stored, expected, observer)

            done = await wait_until(complete, HISTORY_S if caught else 20.0, 1.0)
            if not done:
                progress(f"{self.name}: history incomplete after waiting")
            self.notes["history_wait_s"] = round(time.monotonic() - t0, 1)
        result = tally(expected, observer, stored, len(self.sent), check_history=check_history)
        if not caught:
            result.failures.insert(0, f"not caught up within {self.catch_up_s:.0f} s")
        return result

    async def close(self) -> None:
        self.supervising.set()
        if self._supervisor is not None:
            await self._supervisor
        if self.rss is not None:
            self.rss.__exit__(None, None, None)
        if self.observer is not None:
            await self.observer.stop()

    def result(self, figures: Tally, **extra: object) -> Result:
        """The scenario's JSON object: figures, recovery, peak RSS, pass/fail and why."""
        rss = self.rss
        recovered = [r for r in self.recoveries if r is not None]
        out: Result = {
            **figures.figures(),
            "recovery_s": {
                "each": self.recoveries,
                "max": max(recovered) if recovered else None,
                "not_recovered": sum(r is None for r in self.recoveries),
            },
            "worker_peak_rss_mib": rss.peak_mib("worker") if rss else None,
            "sink_peak_rss_mib": rss.peak_mib("sink") if rss else None,
            "gateway_peak_rss_mib": rss.peak_mib("gateway") if rss else None,
            "duration_s": round(time.monotonic() - self.started, 1),
            "passed": not figures.failures,
            "reason": "; ".join(figures.failures)[:4000] if figures.failures else "ok",
            **self.notes,
            **figures.details,
            "restarts_by_supervisor": {c.name: c.exits for c in self.rig.children if c.exits},
            **extra,
        }
        return out


def workdir_for(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path
