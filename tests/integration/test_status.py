"""`riskmon status` against a running worker and sink, then with the worker killed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from streams.contract import Incident
from streams.persistence.sink import run_sink
from streams.settings import Settings
from tests.factories import fires

from .harness import WorkerProcess, eventually, isolated_settings, produce, run_riskmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def incidents(start: int, count: int) -> list[Incident]:
    return fires([f"st-{n}" for n in range(start, start + count)], severity=2)


async def status(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    done = await asyncio.to_thread(run_riskmon, settings, "status", "--json", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def levels(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["level"] for c in report["checks"]}


async def test_status_is_ok_when_caught_up_and_names_the_stalled_stage(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    worker.start()
    try:
        await produce(settings, settings.topics.incidents, incidents(0, 20))

        async def all_ok() -> bool:
            code, _ = await status(settings, "--sample", "1")
            return code == 0

        await eventually(all_ok, within=120, interval=1, watch=[worker])
        code, report = await status(settings, "--sample", "1")
        assert code == 0, report["checks"]
        assert set(levels(report)) == {
            "kafka",
            "postgresql",
            "topics",
            "schema",
            "ingest",
            "scoring",
            "alerting",
            "sink",
        }
        observed = report["observed"]
        assert sum(p["end"] for p in observed["ingest"]) == 20
        assert len(observed["scoring"]) == settings.partitions
        assert sum(p["behind"] for p in observed["scoring"]) == 0
        assert sum(p["at"] or 0 for p in observed["scoring"]) == 20  # every located record
        assert observed["epoch"] == 1

        # The worker dies and agencies keep publishing: the ingest stage stands still.
        worker.kill()
        await produce(settings, settings.topics.incidents, incidents(20, 15))
        code, report = await status(settings, "--sample", "2")
        assert code == 1, report["checks"]
        ingest = next(c for c in report["checks"] if c["name"] == "ingest")
        assert ingest["level"] == "warn"
        assert ingest["detail"].startswith("stalled: no progress in 2 s")
        assert "is the worker running?" in ingest["detail"]
        assert sum(p["behind"] for p in report["observed"]["ingest"]) == 15
        assert levels(report)["sink"] == "ok"  # the sink is idle, not stalled

        # Missing topics are a failure to fix (exit 2), named in the detail.
        other = settings.model_copy(
            update={"topics": settings.topics.model_copy(update={"alerts": "t.nowhere.alerts"})}
        )
        code, report = await status(other, "--sample", "0")
        assert code == 2
        topics = next(c for c in report["checks"] if c["name"] == "topics")
        assert topics["detail"].startswith("missing: t.nowhere.alerts")
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.wait_for(sink, 30)
