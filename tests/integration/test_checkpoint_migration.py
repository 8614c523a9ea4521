"""A model change meets the checkpoints: the worker refuses them (and keeps them), the explicit
migration rebuilds them from the stored history (archiving the old ones), and the restarted
worker ends with exactly the offline scores of every event, before and after the change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from streams.persistence.sink import run_sink

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, run_riskmon
from .oracle import LatestScores, assert_equal_to_offline, by_district, generate, send_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def fetchval(pg_dsn: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(pg_dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_a_changed_model_is_refused_then_rebuilt_from_history_exactly(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    stream = generate(23, datetime.now(UTC))
    before, after = stream[:250], stream[250:]
    worker = WorkerProcess(settings, tmp_path / "worker.log")

    async def checkpointed() -> int:
        covered = await fetchval(
            pg_dsn,
            "SELECT coalesce(sum(next_offset), 0) FROM scorer_checkpoints WHERE topic = $1",
            settings.topics.located,
        )
        return int(str(covered))  # sum() of bigint is numeric

    async def history_settled() -> None:
        """Until the sink has stored what it will (its count holds still for 3 s)."""
        last, still = -1, 0
        while still < 6:
            count = await fetchval(pg_dsn, "SELECT count(*) FROM events")
            still = still + 1 if count == last else 0
            last = count  # type: ignore[assignment]
            await asyncio.sleep(0.5)

    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)
            await send_stream(settings, before)
            await eventually(lambda: scores.caught_up(before), within=120, watch=[worker])
            await eventually(
                lambda: _at_least(checkpointed(), len(before)), within=60, watch=[worker]
            )
            await history_settled()
            worker.stop()

            # A deployment with another model: the saved checkpoints do not fit it.
            conn = await asyncpg.connect(pg_dsn)
            try:
                await conn.execute(
                    """UPDATE scorer_checkpoints SET state = jsonb_set(state,
                       '{model_fingerprint}', '"an older model"') WHERE topic = $1""",
                    settings.topics.located,
                )
                kept = await conn.fetchval(
                    "SELECT md5(string_agg(state::text, '' ORDER BY partition))"
                    " FROM scorer_checkpoints WHERE topic = $1",
                    settings.topics.located,
                )
            finally:
                await conn.close()

            refused = WorkerProcess(settings, tmp_path / "refused.log")
            refused.start()
            await eventually(lambda: _done(refused), within=90)
            log = refused.log_path.read_text()
            assert "checkpoint refused" in log
            assert "riskmon db rebuild-checkpoints" in log
            after_refusal = await fetchval(
                pg_dsn,
                "SELECT md5(string_agg(state::text, '' ORDER BY partition))"
                " FROM scorer_checkpoints WHERE topic = $1",
                settings.topics.located,
            )
            assert after_refusal == kept, "a refused checkpoint must be left as it was"

            # The explicit migration: every partition rebuilt from the stored history.
            done = await asyncio.to_thread(run_riskmon, settings, "db", "rebuild-checkpoints")
            assert done.returncode == 0, done.stderr
            assert f"rebuilt {settings.partitions} checkpoints" in done.stdout
            archived = await fetchval(pg_dsn, "SELECT count(*) FROM checkpoint_archive")
            assert archived == settings.partitions

            worker.start()
            await send_stream(settings, after)
            await eventually(lambda: scores.caught_up(stream), within=120, watch=[worker])
            await scores.settle([worker])
            events_of = by_district(stream)
            for code, update in scores.latest.items():
                assert_equal_to_offline(update, events_of[code])
            assert "from=checkpoint" in worker.log_path.read_text()
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.wait_for(sink, 30)


async def _at_least(value: object, wanted: int) -> bool:
    assert asyncio.iscoroutine(value)
    return int(await value) >= wanted


async def _done(process: WorkerProcess) -> bool:
    return not process.alive
