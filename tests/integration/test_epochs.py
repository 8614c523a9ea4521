"""A broker that lost its logs, with PostgreSQL kept: the worker must rebuild from the new log.

The worker checkpoints its state with the next offset to read. A new (empty) log reuses offsets
from 0, so a worker that resumed from the old checkpoint would wait at an offset the new log has
not reached and skip every event before it. ``riskmon topics`` (the deploy files' set-up step)
creates the lost topics, notices it and begins a new stream epoch; the worker then scores the new
log from its start, and the sink stores it under the new epoch.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.contract import Alert, Incident, ScoreUpdate
from streams.ops.embedded import EmbeddedBroker
from streams.persistence import writes
from streams.persistence.sink import run_sink
from streams.settings import Settings
from tests import factories
from tests.factories import alert

from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, produce, run_riskmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI = "4157056000"


def fires(tag: str, n: int) -> list[Incident]:
    return factories.fires([f"{tag}-{i}" for i in range(n)])


def riskmon(settings: Settings, *args: str) -> str:
    done = run_riskmon(settings, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def janggi_update(
    settings: Settings, prefix: str, *, within: float, worker: WorkerProcess, events: int
) -> ScoreUpdate:
    """The first update of 장기동 that counts ``events`` incidents and whose drivers (the
    incidents of the batch that moved it) name one of the fires ``prefix``-N.

    The fires go to several input partitions, so the worker may score them in more than one
    batch, in any order: the update that names a given fire can count fewer of them.
    """
    found: list[ScoreUpdate] = []
    async with TopicReader(settings, settings.topics.scores) as reader:

        async def named() -> bool:
            for raw in await reader.poll(0.3):
                update = ScoreUpdate.model_validate_json(raw)
                if (
                    update.district == JANGGI
                    and update.events == events
                    and any(d.event_id.startswith(f"gimpo-fire:{prefix}-") for d in update.drivers)
                ):
                    found.append(update)
            return bool(found)

        await eventually(named, within=within, watch=[worker])
    return found[0]


async def test_a_rebuilt_broker_starts_a_new_epoch_and_the_worker_scores_its_log(
    tmp_path: Path, pg_dsn: str
) -> None:
    broker = EmbeddedBroker.start(tmp_path / "tansu-1")
    settings = isolated_settings(broker.bootstrap, pg_dsn, tmp_path / "data")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        first = riskmon(settings, "topics")
        assert settings.topics.located in first.splitlines()
        assert "stream epoch: 1" in first  # a new database: nothing to tell apart yet

        worker.start()
        await produce(settings, settings.topics.incidents, fires("old", 5))
        update = await janggi_update(settings, "old", within=90, worker=worker, events=5)
        conn = await asyncpg.connect(pg_dsn)
        try:
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 5 FROM events WHERE epoch = 1"),
                within=30,
            )
            await eventually(
                lambda: conn.fetchval("SELECT count(*) > 0 FROM scorer_checkpoints"), within=30
            )
        finally:
            await conn.close()
        worker.stop()
        stop_sink.set()
        await sink

        # The broker is rebuilt: same address space, empty logs. PostgreSQL is kept.
        broker.stop()
        broker = EmbeddedBroker.start(tmp_path / "tansu-2")
        settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        again = riskmon(settings, "topics")
        assert settings.topics.located in again.splitlines()
        assert "stream epoch: 2" in again
        conn = await asyncpg.connect(pg_dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM scorer_checkpoints") == 0
            reason = await conn.fetchval("SELECT reason FROM stream_epochs WHERE epoch = 2")
            assert settings.topics.located in reason
        finally:
            await conn.close()

        worker = WorkerProcess(settings, tmp_path / "worker-2.log")
        worker.start()
        stop_sink = asyncio.Event()
        sink = asyncio.create_task(run_sink(settings, stop_sink))
        # Fewer events than the old log held: a worker resuming at the old offsets would never
        # reach them.
        await produce(settings, settings.topics.incidents, fires("new", 2))
        # The new log only: the old incidents went with their log. A worker that kept them
        # would count 7 and never publish this update.
        update = await janggi_update(settings, "new", within=90, worker=worker, events=2)
        assert {d.event_id for d in update.drivers} <= {"gimpo-fire:new-0", "gimpo-fire:new-1"}
        conn = await asyncpg.connect(pg_dsn)
        try:
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 2 FROM events WHERE epoch = 2"),
                within=30,
            )
            assert await conn.fetchval("SELECT count(*) FROM events WHERE epoch = 1") == 5
        finally:
            await conn.close()

        # Running the set-up step again changes nothing.
        assert "stream epoch: 2" in riskmon(settings, "topics")
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.gather(sink, return_exceptions=True)
        broker.stop()


async def test_new_epoch_by_hand_drops_checkpoints_once_there_is_state(pg_dsn: str) -> None:
    settings = Settings(pg_dsn=pg_dsn, kafka_bootstrap="127.0.0.1:1")  # never dialled
    assert riskmon(settings, "db", "new-epoch").strip() == "stream epoch: 1"  # nothing to drop
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(
            """INSERT INTO scorer_checkpoints (app_id, topic, partition, next_offset, state,
                                               saved_at)
               VALUES ('riskmon', 'riskmon.located', 0, 42, '{}', now())"""
        )
        await writes.write_alerts(
            conn,
            [
                alert("open-1", 3, "acknowledged", change="acknowledged").model_copy(
                    update={"acknowledged_by": "operator-1"}
                ),
                alert("done-1", 4, "resolved", change="resolved"),
            ],
        )
        out = riskmon(settings, "db", "new-epoch", "--reason", "kafka cluster rebuilt")
        assert out.strip() == "stream epoch: 2"
        assert await conn.fetchval("SELECT count(*) FROM scorer_checkpoints") == 0
        # the open alert's state went with the checkpoints: it is closed, not left open forever
        expired = Alert.model_validate_json(
            await conn.fetchval("SELECT payload FROM alerts WHERE id = 'open-1'")
        )
        assert (expired.state, expired.change, expired.seq) == ("resolved", "expired", 4)
        assert expired.acknowledged_by == "operator-1"  # its history is kept
        assert expired.resolved_at is not None
        changes = await conn.fetch(
            "SELECT change FROM alert_changes WHERE id = 'open-1' ORDER BY seq"
        )
        assert [r["change"] for r in changes] == ["acknowledged", "expired"]
        done = await conn.fetchval("SELECT payload FROM alerts WHERE id = 'done-1'")
        assert Alert.model_validate_json(done).change == "resolved"  # untouched
        assert (
            await conn.fetchval("SELECT reason FROM stream_epochs WHERE epoch = 2")
            == "kafka cluster rebuilt"
        )
    finally:
        await conn.close()


async def test_status_tells_when_topics_were_recreated_under_the_checkpoints(
    tmp_path: Path, pg_dsn: str
) -> None:
    """Topics made again by someone else (kafka-topics.sh, an operator): riskmon's set-up step
    did not run, so no epoch began. `riskmon status` finds checkpoints beyond the new logs' ends
    and says to begin a new epoch; after `riskmon db new-epoch` the scoring check passes."""
    broker = EmbeddedBroker.start(tmp_path / "tansu-1")
    settings = isolated_settings(broker.bootstrap, pg_dsn, tmp_path / "data")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        riskmon(settings, "topics")
        worker.start()
        await produce(settings, settings.topics.incidents, fires("old", 6))
        await janggi_update(settings, "old", within=90, worker=worker, events=6)
        conn = await asyncpg.connect(pg_dsn)
        try:
            await eventually(
                lambda: conn.fetchval(
                    "SELECT coalesce(sum(next_offset), 0) = 6 FROM scorer_checkpoints"
                    " WHERE topic = $1",
                    settings.topics.located,
                ),
                within=30,
            )
        finally:
            await conn.close()
        worker.stop()

        broker.stop()
        broker = EmbeddedBroker.start(tmp_path / "tansu-2")
        settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        await create_topics_by_hand(settings)

        done = run_riskmon(settings, "status", "--json", "--sample", "0")
        assert done.returncode == 2, done.stdout + done.stderr
        checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
        assert checks["scoring"]["level"] == "fail"
        assert "beyond the log end" in checks["scoring"]["detail"]
        assert "riskmon db new-epoch" in checks["scoring"]["detail"]

        riskmon(settings, "db", "new-epoch", "--reason", "topics recreated by hand")
        done = run_riskmon(settings, "status", "--json", "--sample", "0")
        checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
        assert checks["scoring"]["level"] == "ok", checks["scoring"]
        assert json.loads(done.stdout)["observed"]["epoch_reason"] == "topics recreated by hand"
    finally:
        worker.stop()
        broker.stop()


async def create_topics_by_hand(settings: Settings) -> None:
    """Every riskmon topic with the right partition counts, made with a plain admin client."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.require_bootstrap())
    await admin.start()
    try:
        single = set(settings.topics.single_partition())
        await admin.create_topics(
            [
                NewTopic(name, 1 if name in single else settings.partitions, 1)
                for name in settings.topics.all()
            ]
        )
    finally:
        await admin.close()
