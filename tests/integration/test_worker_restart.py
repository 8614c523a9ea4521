"""A worker killed with SIGKILL mid-stream and restarted ends with exactly the offline scores."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from streams.contract import (
    DistrictScores,
    ScoreUpdate,
)
from streams.persistence.sink import run_sink
from streams.pipeline.offline import score_lines
from streams.replay.recompute import ReplayPlan, run_replay
from streams.settings import Settings

from .harness import TopicReader, WorkerProcess, checkpointed, eventually, isolated_settings
from .oracle import (
    CITY,
    CONFIG,
    PARAMS,
    LatestScores,
    assert_equal_to_offline,
    assert_same_scores,
    by_district,
    generate,
    send_stream,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def committed(settings: Settings, topics: tuple[str, ...] = ()) -> int:
    """Sum of the worker group's committed offsets on ``topics`` (default riskmon.located)."""
    # Manual assignment with the group's id reads its offsets without joining the group.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(),
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in topics or (settings.topics.located,)
            for p in range(settings.partitions)
        ]
        consumer.assign(tps)
        offsets = [await consumer.committed(tp) for tp in tps]
    finally:
        await consumer.stop()
    return sum(offset for offset in offsets if offset)


async def test_sigkill_mid_stream_then_restart_matches_offline_scores(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    # Checkpoints rarer than Faust's offset commits (1 s), so Faust's committed offset runs ahead
    # of the checkpoint: a restart that trusted it would lose the records in between.
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, checkpoint_interval_s=8.0)
    stream = generate(11, datetime.now(UTC))
    phase_a, phase_b, phase_c = stream[:300], stream[300:400], stream[400:]
    worker = WorkerProcess(settings, tmp_path / "worker.log")

    async def send(chunk: list[tuple[str, BaseModel]]) -> None:
        await send_stream(settings, chunk)

    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)
            latest, published = scores.latest, scores.published

            async def all_districts() -> bool:
                await scores.drain()
                return len(latest) == 14

            await eventually(all_districts, within=90, watch=[worker])
            # Phase A is processed and checkpointed; phase B is processed and committed by
            # Faust but not checkpointed when the worker is killed.
            await send(phase_a)
            await eventually(
                lambda: _equals(checkpointed(pg_dsn, settings), len(phase_a)),
                within=30,
                watch=[worker],
            )
            # Send phase B in small chunks until Faust has committed records past the newest
            # checkpoint (a checkpoint may land meanwhile on a loaded machine), then SIGKILL.
            sent = len(phase_a)
            for chunk_start in range(0, len(phase_b), 25):
                chunk = phase_b[chunk_start : chunk_start + 25]
                await send(chunk)
                sent += len(chunk)
                await eventually(
                    lambda n=sent: _equals(committed(settings), n),
                    within=30,
                    interval=0.1,
                    watch=[worker],
                )
                if await checkpointed(pg_dsn, settings) < sent:
                    break
            rest = phase_b[chunk_start + 25 :] + phase_c
            worker.kill()
            saved = await checkpointed(pg_dsn, settings)
            assert saved < sent, "no records between checkpoint and kill: the test lost its point"
            worker.start()
            for start in range(0, len(rest), 50):
                await send(rest[start : start + 50])

            events_of = by_district(stream)
            await eventually(
                lambda: scores.caught_up(stream), within=120, interval=0.5, watch=[worker]
            )
            await scores.settle()

        assert worker.alive, worker.log_tail()
        assert "from=checkpoint" in worker.log_path.read_text()
        for code, update in latest.items():
            assert_equal_to_offline(update, events_of[code])
        # ... and equal to `riskmon score` on the same events at the same times.
        events_file = tmp_path / "events.jsonl"
        events_file.write_text("\n".join(m.model_dump_json() for _, m in stream))
        for code, update in latest.items():
            offline = score_lines(events_file.read_bytes().splitlines(), CONFIG, update.as_of)
            assert_same_scores(update, next(d for d in offline.districts if d.district == code))
        janggi = latest["4157056000"]
        printed = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "streams.cli",
                "score",
                "--events",
                str(events_file),
                "--at",
                janggi.as_of.isoformat(),
                "--json",
                "--config",  # the worker's city: the exact boundaries, not the default one
                str(settings.city),
            ],
            capture_output=True,
            check=True,
            timeout=120,
        )
        document = json.loads(printed.stdout)
        cli = next(d for d in document["districts"] if d["district"] == "4157056000")
        assert_same_scores(janggi, DistrictScores.model_validate(cli))

        # Replay from the stored events reproduces every published update, including those the
        # restarted worker republished from its older checkpoint.
        keys = [(u.district, u.seq) for u in published]

        async def stored() -> bool:
            conn = await asyncpg.connect(pg_dsn)
            try:
                rows = await conn.fetch("SELECT district, seq FROM score_updates")
            finally:
                await conn.close()
            return set(keys) <= {(r["district"], r["seq"]) for r in rows}

        await eventually(stored, within=60)
        conn = await asyncpg.connect(pg_dsn)
        try:
            plan = ReplayPlan(
                series="replay:restart",
                model_version=published[0].model_version,
                start=min(u.as_of for u in published),
                end=max(u.as_of for u in published) + timedelta(seconds=1),
                every=None,
            )
            await run_replay(conn, CITY.model_districts(), PARAMS, plan)
            rows = await conn.fetch(
                "SELECT payload FROM score_updates WHERE series = 'replay:restart'"
            )
        finally:
            await conn.close()
        replayed = {
            (u.district, u.seq): u for u in (ScoreUpdate.model_validate_json(r[0]) for r in rows)
        }
        assert {u.reason for u in published} >= {"recovered", "events"}
        for update in published:
            again = replayed[update.district, update.seq]
            assert (again.composite, again.domains, again.groups, again.safety) == (
                update.composite,
                update.domains,
                update.groups,
                update.safety,
            ), (update.district, update.seq, update.reason)
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.wait_for(sink, 30)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_sigkill_while_inputs_are_in_flight_then_restart_matches_offline_scores(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    """The worker dies while a stream is still arriving: inputs read but not committed are
    ingested again after the restart (duplicates on riskmon.located), and nothing counts twice."""
    # Offsets committed rarely, so inputs read but not committed exist at the kill by
    # construction (with 1 s commits a fast worker could have committed every input sent).
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, commit_interval_s=6.0)
    stream = generate(31, datetime.now(UTC))
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    sent = 0

    async def send_slowly() -> None:
        nonlocal sent
        for start in range(0, len(stream), 10):
            await send_stream(settings, stream[start : start + 10])
            sent = start + len(stream[start : start + 10])
            await asyncio.sleep(0.05)

    worker.start()
    try:
        async with TopicReader(settings, settings.topics.scores) as reader:
            scores = LatestScores(reader)
            await eventually(lambda: scores.caught_up([]), within=90, watch=[worker])
            sender = asyncio.create_task(send_slowly())

            async def scoring() -> bool:
                await scores.drain()
                return sum(u.reason == "events" for u in scores.published) >= 10

            await eventually(scoring, within=60, interval=0.05, watch=[worker])
            worker.kill()
            sent_at_kill = sent
            assert not sender.done(), "the stream ended before the kill: nothing was in flight"
            uncommitted = sent_at_kill - await committed(settings, settings.topics.inputs())
            assert uncommitted > 0, "every input read was committed: the test lost its point"
            worker.start()
            await sender
            await eventually(
                lambda: scores.caught_up(stream), within=120, interval=0.5, watch=[worker]
            )
            await scores.settle([worker])
        assert worker.alive, worker.log_tail()
        async with TopicReader(settings, settings.topics.located) as located:
            while await located.poll(1.0):
                pass
        # Every input is valid, so more located records than inputs means that inputs read before
        # the kill, and not committed, were ingested a second time (25-30 of 719 in trial runs).
        assert len(located.values) > len(stream), "no input was redelivered: nothing in flight"
        events_of = by_district(stream)
        for code, update in scores.latest.items():
            assert_equal_to_offline(update, events_of[code])
    finally:
        worker.stop()
