"""The Faust transport override: riskmon's fetch wait, and checkpointed partitions resuming at
the app's own offsets (no broker: the aiokafka consumer is built but never started)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

import pytest
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import RiskmonApp, create_app
from streams.worker.ownership import Ownership

FAUST_FETCH_WAIT_MS = 1500  # hard-coded by faust.transport.drivers.aiokafka


@pytest.fixture
async def app() -> RiskmonApp:
    return create_app(Settings(kafka_bootstrap="127.0.0.1:9", fetch_max_wait_ms=7))


async def test_worker_consumer_uses_the_configured_fetch_wait(app: RiskmonApp) -> None:
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 7 != FAUST_FETCH_WAIT_MS
    finally:
        consumer._closed = True  # never started: nothing to close but aiokafka's warning


async def test_seek_to_committed_restores_first_and_returns_the_apps_offsets(
    app: RiskmonApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust sets its read offsets (records below are dropped) from what this returns, so every
    checkpointed partition must be in it, restored before the committed offsets are read."""
    located, other = TP("located", 3), TP("incidents", 0)
    calls: list[str] = []
    seeks: dict[Any, int] = {}
    asked: list[Set[Any]] = []

    async def resume_positions(granted: Set[Any]) -> Mapping[Any, int]:
        calls.append("restore")
        asked.append(set(granted))
        return {located: 52} if located in granted else {}

    async def committed() -> Mapping[Any, int]:
        calls.append("committed")
        return {located: 60, other: 11}

    async def seek_many(positions: Mapping[Any, int]) -> None:
        calls.append("seek")
        seeks.update(positions)

    consumer: Any = app.consumer
    monkeypatch.setattr(app, "resume_positions", resume_positions)
    consumer.ownership = Ownership(frozenset({located, other}))
    monkeypatch.setattr(consumer._thread, "seek_to_committed", committed)
    monkeypatch.setattr(consumer._thread, "seek_many", seek_many)

    positions = await consumer.seek_to_committed()

    assert calls == ["restore", "committed", "seek"]
    assert seeks == {located: 52}
    assert positions == {located: 52, other: 11}

    # Revoked (the next assignment not in yet): Faust's assignment() still lists the partition
    # and Faust seeks with the flow stopped; the app must not restore it again.
    monkeypatch.setattr(consumer, "assignment", lambda: {located, other})
    consumer.ownership = consumer.ownership.revoke({located})
    calls.clear()
    seeks.clear()
    positions = await consumer.seek_to_committed()
    assert asked[-1] == {other}
    assert seeks == {}
    assert positions == {located: 60, other: 11}


async def test_faust_monitor_is_not_a_sensor_but_stays_reachable(app: RiskmonApp) -> None:
    """Faust's Monitor keeps per-record statistics for web views riskmon does not run: the
    worker leaves it out of the sensors called per record, and the consumer still finds it."""
    list(app.on_init_dependencies())
    assert app.monitor not in set(app.sensors)
    app.monitor.track_tp_end_offset(TP("located", 0), 5)  # what Faust's consumer calls
    list(app.on_init_dependencies())  # Faust may ask again: still out, no error
    assert app.monitor not in set(app.sensors)
