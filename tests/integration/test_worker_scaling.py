"""Two workers in one consumer group: partitions move between them and back, and the scores stay
exact — a second worker joining mid-stream, then the first one killed with SIGKILL.

``deploy/`` runs two worker replicas; this is what makes that safe. A worker that loses a
partition saves its checkpoint and forgets the partition; it must never score it again (a
second, stale scorer would publish decays that overwrite the new owner's scores on every
dashboard, and alerts from a stale alert engine).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings
from .oracle import LatestScores, assert_equal_to_offline, by_district, generate, send_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The scorer's lines only (restored from a checkpoint, or resumed from the state it kept); the
# identity and CAP stages log "identity/cap partition restored".
RESTORED = re.compile(
    r"(?<!identity )(?<!cap )partition "
    r"(?:restored|resumed from the state kept at release) partition=(\d+)"
)


def owned(worker: WorkerProcess) -> set[int]:
    """Located partitions the worker holds now, from its log (restored minus released)."""
    held: set[int] = set()
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if match := RESTORED.search(line):
            held.add(int(match[1]))
        elif match := re.search(r"partition released partition=(\d+)", line):
            held.discard(int(match[1]))
    return held


def holds_alerts(worker: WorkerProcess) -> bool:
    """Whether the worker holds the city's alert state now, from its log."""
    held = False
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if "alert state restored" in line:
            held = True
        elif "alert state released" in line:
            held = False
    return held


async def test_a_second_worker_joins_then_the_first_dies_and_scores_stay_exact(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, checkpoint_interval_s=2.0)
    stream = generate(23, datetime.now(UTC))
    first, second, third = stream[:200], stream[200:420], stream[420:]
    one = WorkerProcess(settings, tmp_path / "one.log")
    two = WorkerProcess(settings, tmp_path / "two.log")

    async def send(chunk: list[tuple[str, BaseModel]]) -> None:
        await send_stream(settings, chunk)

    one.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)
            latest, caught_up = scores.latest, scores.caught_up

            async def check_exact(sent: list[tuple[str, BaseModel]]) -> None:
                # Ticks go on after the events (every second here): a stale scorer elsewhere
                # would publish one of them; watch a few rounds, then compare.
                await asyncio.sleep(3)
                await scores.drain()
                events_of = by_district(sent)
                for code, update in latest.items():
                    assert_equal_to_offline(update, events_of[code])

            await eventually(lambda: caught_up([]), within=90, watch=[one])
            await send(first)
            await eventually(lambda: caught_up(first), within=60, watch=[one])
            assert owned(one) == {0, 1, 2, 3}

            # A second worker joins while events keep coming: the group splits the partitions.
            two.start()
            for start in range(0, len(second), 20):
                await send(second[start : start + 20])
                await asyncio.sleep(0.3)
            await eventually(
                lambda: owned(one) and owned(two) and not owned(one) & owned(two),
                within=90,
                watch=[one, two],
            )
            assert owned(one) | owned(two) == {0, 1, 2, 3}
            assert holds_alerts(one) != holds_alerts(two), "one alert engine for the city"
            await eventually(lambda: caught_up(first + second), within=90, watch=[one, two])
            await scores.settle([one, two])
            await check_exact(first + second)

            # The first worker dies; the second takes its partitions from their checkpoints.
            lost = owned(one)
            one.kill()
            for start in range(0, len(third), 25):
                await send(third[start : start + 25])
            await eventually(lambda: owned(two) == {0, 1, 2, 3}, within=120, watch=[two])
            await eventually(lambda: holds_alerts(two), within=30, watch=[two])
            await eventually(lambda: caught_up(stream), within=120, watch=[two])
            await scores.settle([two])
            await check_exact(stream)
            assert lost, "the first worker held partitions when it was killed"
    finally:
        one.stop()
        two.stop()
