"""Helpers for integration tests: a worker child process, producers and readers of real topics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel

from streams.contract import WS_SERVER_MESSAGE
from streams.ops.embedded import stop_process
from streams.settings import Settings, Topics
from tests.cities import gimpo_city_toml
from tests.integration.auth import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def isolated_settings(
    kafka_bootstrap: str, pg_dsn: str, data_dir: Path, **overrides: object
) -> Settings:
    """Settings with topic names and consumer group unique to one test, and Gimpo's exact
    boundaries (the shared official files, with the river gauges' stages) unless ``city`` is
    given."""
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        **{name: f"t{tag}.{default}" for name, default in Topics().model_dump().items()}
    )
    values: dict[str, object] = {
        "kafka_bootstrap": kafka_bootstrap,
        "pg_dsn": pg_dsn,
        "topics": topics,
        "app_id": f"riskmon-{tag}",
        "tick_interval_s": 1.0,
        "checkpoint_interval_s": 0.5,
        "gateway_port": 0,
        "data_dir": data_dir,
        "auth_secret": TEST_SECRET,  # tests sign bearer tokens (tests/integration/auth.py)
    }
    if "city" not in overrides and "city_config" not in overrides:
        folder = data_dir / "exact-gimpo"
        folder.mkdir(parents=True, exist_ok=True)
        values["city"] = gimpo_city_toml(folder)
    values.update(overrides)
    return Settings.model_validate(values)


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RISKMON_KAFKA_BOOTSTRAP": settings.require_bootstrap(),
            "RISKMON_PG_DSN": settings.require_pg_dsn(),
            "RISKMON_APP_ID": settings.app_id,
            "RISKMON_PARTITIONS": str(settings.partitions),
            "RISKMON_TICK_INTERVAL_S": str(settings.tick_interval_s),
            "RISKMON_TICK_MIN_CHANGE": str(settings.tick_min_change),
            "RISKMON_CHECKPOINT_INTERVAL_S": str(settings.checkpoint_interval_s),
            "RISKMON_CHECKPOINT_MISMATCH": settings.checkpoint_mismatch,
            "RISKMON_DATA_DIR": str(settings.data_dir),
            "RISKMON_SESSION_TIMEOUT_S": str(settings.session_timeout_s),
            "RISKMON_METRICS_PORT": str(settings.metrics_port),
        }
    )
    env.pop("RISKMON_CITY_CONFIG", None)
    if settings.city:
        env["RISKMON_CITY"] = str(settings.city)
    else:
        env.pop("RISKMON_CITY", None)
    for name, topic in settings.topics.model_dump().items():
        env[f"RISKMON_TOPICS__{name.upper()}"] = topic
    return env


def run_riskmon(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``riskmon ARGS`` as a child process configured by ``settings``, run to its end (at most
    two minutes), with its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


class WorkerProcess:
    """``riskmon worker`` as a child process (stdout/stderr to a log file)."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                cwd=ROOT,
                env=settings_env(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final checkpoint."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=30)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


async def produce(
    settings: Settings, topic: str, messages: Sequence[BaseModel | bytes], key: bytes | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_bootstrap(), acks="all")
    await producer.start()
    try:
        for message in messages:
            value = message if isinstance(message, bytes) else message.model_dump_json().encode()
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


class TopicReader:
    """Reads every partition of a topic from the beginning (no consumer group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.require_bootstrap(),
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            group_id=None,
        )
        self.values: list[bytes] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, seconds: float = 0.5) -> list[bytes]:
        records = await self.consumer.getmany(timeout_ms=int(seconds * 1000))
        new = [r.value for rs in records.values() for r in rs if r.value is not None]
        self.values.extend(new)
        return new


async def eventually(
    check: object, within: float, interval: float = 0.2, watch: Sequence[WorkerProcess] = ()
) -> None:
    """Await until ``check()`` (sync or async) returns truthy, or fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        for process in watch:
            assert process.alive, f"worker died:\n{process.log_tail()}"
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


async def all_districts_served(
    url: str, worker: WorkerProcess, headers: dict[str, str], districts: int = 14
) -> None:
    """Wait until the gateway at ``url`` serves a snapshot of every district (the worker
    publishes them once it owns its partitions); ``headers`` carry a credential."""

    async def full() -> bool:
        async with websockets.connect(url, additional_headers=headers) as ws:
            first = WS_SERVER_MESSAGE.validate_json(await ws.recv())
            return first.type == "snapshot" and len(first.districts) == districts

    await eventually(full, within=90, interval=1.0, watch=[worker])


async def checkpointed(pg_dsn: str, settings: Settings) -> int:
    """Sum of the scoring checkpoints' next offsets (records of riskmon.located they cover)."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        total = await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM scorer_checkpoints"
            " WHERE app_id = $1 AND topic = $2",
            settings.app_id,
            settings.topics.located,
        )
    finally:
        await conn.close()
    return int(total)


async def create_topic(kafka_bootstrap: str, name: str, partitions: int) -> None:
    """Create topic ``name`` with ``partitions`` partitions (asserting the broker accepted it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        assert [error for _, error, *_ in response.topic_errors] == [0]
    finally:
        await admin.close()
