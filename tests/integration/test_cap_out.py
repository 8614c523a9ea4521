"""Public warnings out on the real stack (worker, sink, gateway, Kafka, PostgreSQL): a sustained
alert drafts a CAP message an operator approves; it lands on riskmon.cap-out as CAP 1.2 that our
own ingester reads and the official XSD accepts; the next approval is an Update naming the first;
stale drafts and viewers are refused; every approval is audited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lxml import etree

from dashboard_ws.server import Gateway
from streams.cap import parse_cap
from streams.contract import Incident
from streams.persistence.sink import run_sink
from tests.cities import instant_alerts_city
from tests.unit.streams.cap.test_build import XSD

from .auth import user_headers
from .harness import TopicReader, WorkerProcess, eventually, isolated_settings, produce
from .test_access_control import arequest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI = "4157056000"


async def test_an_operator_approves_a_cap_warning_and_its_update(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap,
        pg_dsn,
        tmp_path,
        city=instant_alerts_city(tmp_path),
        cap_draft_after_s=0,
        cap_sender="safety@gimpo.go.kr",
        cap_sender_name="김포시 통합안전플랫폼",
    )
    operator = await user_headers(settings, "kim", "operator")
    viewer = await user_headers(settings, "vic", "viewer")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        async with Gateway(settings) as gateway:
            base = f"http://127.0.0.1:{gateway.port}"
            burst = [
                Incident(
                    id=f"capout-{n}",
                    source="gimpo-fire",
                    type="fire",
                    severity=5,
                    occurred_at=datetime.now(UTC),
                    code=JANGGI,
                )
                for n in range(4)
            ]
            firing: list[str] = []

            async def fired() -> bool:
                if not worker.alive:
                    return False
                conn = await asyncpg.connect(pg_dsn)
                try:
                    rows = await conn.fetch(
                        "SELECT id FROM alerts WHERE state = 'firing' AND district = $1", JANGGI
                    )
                except asyncpg.UndefinedTableError:  # the sink has not migrated yet
                    return False
                finally:
                    await conn.close()
                firing[:] = [r["id"] for r in rows]
                return bool(firing)

            await produce(settings, settings.topics.incidents, burst)
            await eventually(fired, within=90, interval=0.5, watch=[worker])
            alert_id = firing[0]

            status, _, _ = await arequest(base, f"/api/cap/draft?alert={alert_id}", headers=viewer)
            assert status == 403
            status, _, draft = await arequest(
                base, f"/api/cap/draft?alert={alert_id}", headers=operator
            )
            assert status == 200, draft
            assert draft["eligible"] is True
            assert draft["msg_type"] == "Alert"
            assert "<status>Draft</status>" in draft["xml"]
            assert draft["headline"]["ko"]

            approval: dict[str, Any] = {
                "alert": alert_id,
                "identifier": draft["identifier"],
                "instruction": {"ko": "창문을 닫고 실내에 머무르십시오", "en": "Stay indoors"},
            }
            status, _, first = await arequest(
                base, "/api/cap/approve", method="POST", body=approval, headers=operator
            )
            assert status == 201, first
            assert first["published"] is True
            assert first["approved_by"] == "kim"
            # the same draft approved again (a second operator, a double click): refused
            status, _, stale = await arequest(
                base, "/api/cap/approve", method="POST", body=approval, headers=operator
            )
            assert status == 409, stale
            status, _, _ = await arequest(
                base, "/api/cap/approve", method="POST", body=approval, headers=viewer
            )
            assert status == 403

            status, _, second_draft = await arequest(
                base, f"/api/cap/draft?alert={alert_id}", headers=operator
            )
            assert second_draft["msg_type"] == "Update"
            assert second_draft["references"][0].startswith(
                f"safety@gimpo.go.kr,{first['identifier']},"
            )
            expires = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
            status, _, second = await arequest(
                base,
                "/api/cap/approve",
                method="POST",
                body={
                    "alert": alert_id,
                    "identifier": second_draft["identifier"],
                    "headline": {"en": "Fire risk remains high in Janggi-dong"},
                    "expires": expires.isoformat(),
                },
                headers=operator,
            )
            assert status == 201, second

            async with TopicReader(settings, settings.topics.cap_out) as reader:

                async def both() -> bool:
                    await reader.poll()
                    return len(reader.values) >= 2

                await eventually(both, within=20)
            messages = [parse_cap(value).alert for value in reader.values]
            assert [m.identifier for m in messages] == [first["identifier"], second["identifier"]]
            assert [(m.status, m.msg_type) for m in messages] == [
                ("Actual", "Alert"),
                ("Actual", "Update"),
            ]
            assert messages[0].sender == "safety@gimpo.go.kr"
            assert messages[0].infos[0].instruction == "창문을 닫고 실내에 머무르십시오"
            assert [r.identifier for r in messages[1].references] == [first["identifier"]]
            assert messages[1].infos[1].headline == "Fire risk remains high in Janggi-dong"
            assert messages[1].infos[0].expires == expires
            if XSD is not None:
                for value in reader.values:
                    assert XSD.validate(etree.fromstring(value)), XSD.error_log

            status, _, chain = await arequest(
                base, f"/api/cap/published?alert={alert_id}", headers=operator
            )
            assert [m["identifier"] for m in chain["messages"]] == [
                first["identifier"],
                second["identifier"],
            ]
            status, _, open_chains = await arequest(base, "/api/cap/open", headers=operator)
            assert [c["alert_id"] for c in open_chains["chains"]] == [alert_id]

            conn = await asyncpg.connect(pg_dsn)
            try:
                audited = await conn.fetch(
                    "SELECT actor, target FROM audit WHERE action = 'cap.publish' ORDER BY id"
                )
            finally:
                await conn.close()
            assert [(r["actor"], r["target"]) for r in audited][-2:] == [
                ("kim", first["identifier"]),
                ("kim", second["identifier"]),
            ]
    finally:
        stop_sink.set()
        await sink
        worker.stop()
