"""CAP end to end on real servers: an agency's CAP alert over 장기동, published with
``riskmon publish``, raises that district's flood index with the alert named as the driver; its
Cancel withdraws the effect; a hostile message is dead-lettered without any file access."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard_ws.server import Gateway
from streams.contract import DeadLetter, ScoreUpdate
from streams.ops.embedded import free_port
from tests.unit.streams.cap.spec_examples import gimpo_alert

from .auth import user_headers
from .harness import (
    TopicReader,
    WorkerProcess,
    eventually,
    isolated_settings,
    produce,
    run_riskmon,
)
from .test_access_control import arequest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI = "4157056000"
KMA = "kma@korea.kr"


def kst(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


async def test_a_cap_alert_moves_janggi_and_its_cancel_withdraws_it(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path, metrics_port=free_port())
    now = datetime.now(UTC).replace(microsecond=0)
    sent = now - timedelta(minutes=1)
    alert = gimpo_alert("E2E-1", sent=kst(sent), expires=kst(now + timedelta(hours=3)))
    cancel = gimpo_alert(
        "E2E-2",
        msg_type="Cancel",
        sent=kst(now),
        references=f"{KMA},E2E-1,{kst(sent)}",
        expires=None,
    )
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<alert>&x;</alert>"
    )
    unmapped = (
        gimpo_alert(
            "E2E-3", sent=kst(sent), expires=kst(now + timedelta(hours=3)), event="행사 안내"
        )
        .replace("<value>호우</value>", "<value>행사</value>")
        .replace("<category>Met</category>", "<category>Other</category>")
    )
    files = {
        "alert.xml": alert,
        "cancel.xml": cancel,
        "hostile.xml": hostile,
        "overlay.xml": unmapped,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    driver = f"{KMA}:E2E-1@{JANGGI}"

    viewer = await user_headers(settings, "vic", "viewer")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with (
            Gateway(settings) as gateway,
            TopicReader(settings, settings.topics.scores) as scores,
        ):
            base = f"http://127.0.0.1:{gateway.port}"

            async def active() -> dict[str, dict[str, object]]:
                status, _, body = await arequest(base, "/api/cap/active", headers=viewer)
                assert status == 200, body
                return {f["properties"]["identifier"]: f["properties"] for f in body["features"]}

            def janggi() -> list[ScoreUpdate]:
                updates = map(ScoreUpdate.model_validate_json, scores.values)
                return [u for u in updates if u.district == JANGGI]

            async def raised() -> bool:
                await scores.poll()
                return any(any(d.event_id == driver for d in u.drivers) for u in janggi())

            # the hostile file fails `--check` locally; published anyway it is dead-lettered
            checked = await asyncio.to_thread(
                run_riskmon, settings, "publish", "--check", str(tmp_path / "hostile.xml")
            )
            assert checked.returncode == 1, checked
            assert "DOCTYPE" in checked.stdout
            published = await asyncio.to_thread(
                run_riskmon, settings, "publish", "--quiet", str(tmp_path / "alert.xml")
            )
            assert published.returncode == 0, published.stderr
            await eventually(raised, within=60, watch=[worker])
            published = await asyncio.to_thread(
                run_riskmon, settings, "publish", "--quiet", str(tmp_path / "overlay.xml")
            )
            assert published.returncode == 0, published.stderr

            async def both_shown() -> bool:
                return set(await active()) == {"E2E-1", "E2E-3"}

            await eventually(both_shown, within=20)
            shown = await active()
            assert shown["E2E-1"]["mapped"] is True
            assert shown["E2E-3"]["mapped"] is False  # an overlay: no index effect
            assert JANGGI in shown["E2E-1"]["districts"]
            up = next(u for u in janggi() if any(d.event_id == driver for d in u.drivers))
            flood = up.domains["flood_weather"]
            assert flood.intensity > 0
            assert next(d for d in up.drivers if d.event_id == driver).domain == "flood_weather"

            published = await asyncio.to_thread(
                run_riskmon, settings, "publish", "--quiet", str(tmp_path / "cancel.xml")
            )
            assert published.returncode == 0, published.stderr

            async def withdrawn() -> bool:
                await scores.poll()
                return any(
                    any(d.event_id == driver and d.type == "withdrawal" for d in u.drivers)
                    for u in janggi()
                )

            await eventually(withdrawn, within=30, watch=[worker])
            down = next(
                u
                for u in janggi()
                if any(d.event_id == driver and d.type == "withdrawal" for d in u.drivers)
            )
            assert down.domains["flood_weather"].intensity == 0.0
            assert down.domains["flood_weather"].risk < flood.risk

            async def cancelled_gone() -> bool:
                return set(await active()) == {"E2E-3"}

            await eventually(cancelled_gone, within=20)
            # the overlay never moved an index: no update names it
            await scores.poll()
            assert not any(
                "E2E-3" in d.event_id
                for u in map(ScoreUpdate.model_validate_json, scores.values)
                for d in u.drivers
            )

        await produce(settings, settings.topics.cap, [hostile.encode()], key=b"x")
        async with TopicReader(settings, settings.topics.deadletter) as letters:

            async def refused() -> bool:
                await letters.poll()
                return any(b"cap_refused" in v for v in letters.values)

            await eventually(refused, within=30, watch=[worker])
            letter = next(
                DeadLetter.model_validate_json(v) for v in letters.values if b"cap_refused" in v
            )
            assert letter.topic == settings.topics.cap
            assert "DOCTYPE" in letter.reason
        assert worker.alive, worker.log_tail()
    finally:
        worker.stop()
