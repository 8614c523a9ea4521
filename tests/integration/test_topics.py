"""Starting against what is already there: topics riskmon did not create (a partition count it
cannot work with is refused with one line naming the topic and the fix; the gateway creates only
its own topics) and a port another process holds."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.cli.errors import EXIT_CONFIG
from streams.ops.embedded import free_port, stop_process
from streams.ops.topics import create_topics
from tests.integration.auth import TEST_SECRET, add_user, bearer, ws_headers

from .harness import ROOT, eventually, isolated_settings, run_riskmon, settings_env

pytestmark = pytest.mark.integration


async def make_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_located_topic_with_the_wrong_partition_count_is_refused(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, partitions=4)
    # what a broker with auto.create.topics.enable=true and num.partitions=1 would have made
    await make_topic(kafka_bootstrap, settings.topics.located, 1)
    done = await asyncio.to_thread(run_riskmon, settings, "topics")
    assert done.returncode == EXIT_CONFIG, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"riskmon topics: topic {settings.topics.located} has 1 partition(s)")
    assert "needs 4" in line
    assert "auto.create.topics.enable=false" in line


async def test_an_alert_topic_must_have_one_partition(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    await make_topic(kafka_bootstrap, settings.topics.alert_input, 3)
    with pytest.raises(ValueError, match=f"{settings.topics.alert_input} has 3 partition"):
        await create_topics(settings)


async def test_topics_with_the_right_counts_are_accepted_and_others_created(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, partitions=2)
    await make_topic(kafka_bootstrap, settings.topics.located, 2)
    await make_topic(kafka_bootstrap, settings.topics.incidents, 7)  # any count will do
    created = await create_topics(settings)
    assert set(created) == set(settings.topics.all()) - {
        settings.topics.located,
        settings.topics.incidents,
    }


async def test_the_gateway_creates_only_its_own_topics(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    created = await create_topics(settings, only=settings.topics.of_gateway())
    assert set(created) == {
        settings.topics.scores,
        settings.topics.alerts,
        settings.topics.alert_acks,
        settings.topics.ack_results,
        settings.topics.cap_out,  # public warnings operators approve (one partition)
    }
    names = await topic_names(kafka_bootstrap)
    assert settings.topics.located not in names  # left for the set-up step to notice


async def test_a_taken_port_ends_the_gateway_with_one_line(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = await asyncio.to_thread(run_riskmon, settings, "gateway", "--port", str(port))
    assert done.returncode == EXIT_CONFIG, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("riskmon gateway: ")
    assert "--port" in last
    assert "PostgreSQL" not in last


async def test_a_gateway_started_while_kafka_is_down_serves_and_says_so(
    pg_dsn: str, tmp_path: Path
) -> None:
    closed = free_port()  # nothing listens there
    settings = isolated_settings(f"127.0.0.1:{closed}", pg_dsn, tmp_path)
    port = free_port()
    env = {
        **settings_env(settings),
        "RISKMON_GATEWAY_PORT": str(port),
        "RISKMON_AUTH_SECRET": TEST_SECRET,
    }
    await add_user(pg_dsn, "vic", "viewer")
    log_path = tmp_path / "gateway.log"
    gateway = await asyncio.to_thread(start_gateway, env, log_path)
    try:

        async def answers() -> bool:
            assert gateway.poll() is None, log_path.read_text()
            try:
                status, _ = await asyncio.to_thread(http_get, port, "/healthz")
            except OSError:
                return False
            return status == 503

        await eventually(answers, within=45, interval=0.5)
        status, _ = await asyncio.to_thread(http_get, port, "/api/openapi.json")
        assert status == 401  # the API needs a credential, even with Kafka down
        viewer = ws_headers(bearer(settings, "vic", "viewer"))
        status, body = await asyncio.to_thread(http_get, port, "/api/openapi.json", viewer)
        assert status == 200
        assert json.loads(body)["openapi"] == "3.1.0"
        status, body = await asyncio.to_thread(http_get, port, "/api/asyncapi.json", viewer)
        assert status == 200
        document = json.loads(body)
        assert document["asyncapi"] == "3.0.0"
        assert {c["address"] for c in document["channels"].values()} >= {
            settings.topics.incidents,
            settings.topics.cap,
        }
        assert "kafka unreachable at start" in log_path.read_text()
    finally:
        stop_process(gateway, timeout=15)


def start_gateway(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "gateway"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
