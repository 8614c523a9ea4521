"""``riskmon publish`` against a real broker: a mixed file of incidents, readings and facts and a
CAP file land on their topics with the simulator's keys; publishing the same files again sends
the same keys and values (the worker counts each (source, id) once); bad lines stop the send."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.cli.publish import add_parser, run_publish
from streams.settings import Settings, Topics
from tests.unit.streams.cap.spec_examples import gimpo_alert
from tests.unit.streams.cli.test_publish_cli import FACT, INCIDENT, READING

pytestmark = pytest.mark.integration


def settings_for(bootstrap: str) -> tuple[Settings, str]:
    tag = uuid.uuid4().hex[:8]
    topics = Topics(**{k: f"t{tag}.{v}" for k, v in Topics().model_dump().items()})
    return Settings(kafka_bootstrap=bootstrap, topics=topics), f"t{tag}.riskmon.cap"


async def make_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in names])
    finally:
        await admin.close()


async def read_all(bootstrap: str, topic: str, expect: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[tuple[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(found) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [(r.key or b"", r.value or b"") for rs in batch.values() for r in rs]
        await asyncio.sleep(0.5)  # nothing more should come
        batch = await consumer.getmany(timeout_ms=500)
        found += [(r.key or b"", r.value or b"") for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return sorted(found)


def args_of(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="riskmon")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["publish", *argv, "--quiet"])


async def test_publish_sends_every_record_to_its_topic_with_its_key(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings, cap_topic = settings_for(kafka_bootstrap)
    topics = settings.topics
    await make_topics(kafka_bootstrap, [*topics.inputs(), cap_topic])
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(r) for r in (INCIDENT, READING, FACT)) + "\n")
    cap = tmp_path / "kma.xml"
    cap_bytes = gimpo_alert().encode()
    cap.write_bytes(cap_bytes)
    argv = (str(events), str(cap), "--cap-topic", cap_topic)
    for _ in range(2):  # the second run re-sends the same keys and values
        out = io.StringIO()
        status = await asyncio.to_thread(run_publish, args_of(*argv), settings, out=out)
        assert status == 0, out.getvalue()
        assert out.getvalue().startswith("4 records: 4 sent")
    incidents = await read_all(kafka_bootstrap, topics.incidents, 2)
    assert [key for key, _ in incidents] == [b"F-1", b"F-1"]
    assert incidents[0] == incidents[1]
    assert json.loads(incidents[0][1])["source"] == "gimpo-fire"
    readings = await read_all(kafka_bootstrap, topics.readings, 2)
    assert [key for key, _ in readings] == [b"rain-janggi"] * 2
    facts = await read_all(kafka_bootstrap, topics.safety, 2)
    assert [key for key, _ in facts] == [b"cctv-0412"] * 2
    caps = await read_all(kafka_bootstrap, cap_topic, 2)
    assert caps == [(b"kma@korea.kr,KMA-2026-0001", cap_bytes)] * 2  # the bytes as they were


async def test_bad_lines_send_nothing_unless_skip_bad(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings, _ = settings_for(kafka_bootstrap)
    topics = settings.topics
    await make_topics(kafka_bootstrap, list(topics.inputs()))
    events = tmp_path / "events.jsonl"
    bad = {**INCIDENT, "id": "F-2", "severity": 0}
    events.write_text("\n".join(json.dumps(r) for r in (INCIDENT, bad)) + "\n")
    out = io.StringIO()
    assert await asyncio.to_thread(run_publish, args_of(str(events)), settings, out=out) == 1
    assert await read_all(kafka_bootstrap, topics.incidents, 0) == []
    out = io.StringIO()
    skip = args_of(str(events), "--skip-bad")
    assert await asyncio.to_thread(run_publish, skip, settings, out=out) == 1
    summary = f"2 records: 1 sent ({topics.incidents} 1), 1 bad"
    assert out.getvalue().splitlines()[-1] == summary
    assert [k for k, _ in await read_all(kafka_bootstrap, topics.incidents, 1)] == [b"F-1"]
