"""Issue 21's must-show on the real stack (worker, sink, gateway, Kafka, PostgreSQL, Chromium): an
inspector on a phone-sized page reports grade D for a structure while offline; the report waits
in the page's outbox; back online it is sent once; the district's safety index drops on the
control-room map of an operator, with the report named as the driver. Exactly one fact reaches
the safety topic.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Geolocation, Page, ViewportSize, expect

from dashboard_ws.server import Gateway
from streams.contract import SAFETY_FACT, FacilityFact
from streams.persistence import accounts, db
from streams.persistence.sink import run_sink
from tests.browser.test_dashboard_browser import (
    PASSWORD,
    SCREENSHOTS_TO,
    every_district_graded,
    signed_in,
)
from tests.browser.test_login_browser import chromium
from tests.integration.harness import TopicReader, WorkerProcess, isolated_settings, produce

ROOT = Path(__file__).resolve().parents[2]
FIELD_BUNDLE = ROOT / "dashboard_ws" / "static" / "dist" / "field.js"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not FIELD_BUNDLE.is_file(), reason=f"no field bundle at {FIELD_BUNDLE}"),
]
JANGGI_DONG = "4157056000"
JANGGI: Geolocation = {"latitude": 37.6385, "longitude": 126.6791}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 30_000
STRUCTURE = "GP-BRIDGE-7"
NUMBER = re.compile(r"\d+\.\d+")


async def add_inspector(pg_dsn: str) -> None:
    from dashboard_ws.security.passwords import PasswordHasher

    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        hashed = PasswordHasher().hash(PASSWORD)
        now = datetime.now(UTC)
        assert await accounts.add_user(conn, "park", "inspector", hashed, now, "gimpo-safety")
        assert await accounts.add_user(conn, "kim", "operator", hashed, now)
    finally:
        await conn.close()


def stations(n: int) -> list[FacilityFact]:
    """Fire stations and police boxes in 장기동: its safety index starts well above 0 (with no
    facility at all it is 0, and no report could lower it)."""
    return [
        FacilityFact(
            id=f"base-{k}",
            source="gimpo-city",
            facility_id=f"ST-{k}",
            facility="fire_station" if k % 2 else "police_box",
            action="added",
            effective_at=datetime.now(UTC),
            lat=JANGGI["latitude"],
            lon=JANGGI["longitude"],
        )
        for k in range(n)
    ]


async def settled_safety(page: Page, quiet_s: float = 1.5, within_s: float = 60.0) -> float:
    """The panel's safety index once it has held still for ``quiet_s`` (the stations are
    produced at once but may be scored over several batches, each moving the index)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    last = await safety_of(page)
    while loop.time() < deadline:
        await asyncio.sleep(quiet_s)
        now = await safety_of(page)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the safety index did not settle within {within_s} s")


async def safety_of(page: Page) -> float:
    """The safety index in the open district panel (the number after its label)."""
    text = await page.evaluate(
        """() => {
            const dt = [...document.querySelectorAll('#district-panel dl.facts dt')]
              .find(d => /안전도|Safety index/.test(d.textContent));
            return dt ? dt.nextElementSibling.textContent : '';
        }"""
    )
    found = NUMBER.search(text)
    assert found, f"no safety index in the panel: {text!r}"
    return float(found.group())


async def test_an_offline_grade_d_is_sent_once_and_lowers_the_districts_safety(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    await add_inspector(pg_dsn)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        async with Gateway(settings) as gateway, chromium() as browser:
            url = f"http://127.0.0.1:{gateway.port}/"
            control = await browser.new_context(viewport={"width": 1280, "height": 800})
            phone = await browser.new_context(
                viewport=PHONE,
                is_mobile=True,
                has_touch=True,
                locale="ko-KR",
                geolocation=JANGGI,
                permissions=["geolocation"],
            )
            try:
                kim = await signed_in(control, url, "kim")
                await every_district_graded(kim)
                await kim.locator(f'path[data-district="{JANGGI_DONG}"]').click()
                panel = kim.locator("#district-panel")
                await expect(panel).to_be_visible()
                await produce(settings, settings.topics.safety, stations(12))
                await expect(panel).to_contain_text("gimpo-city:base-", timeout=WAIT_MS)
                before = await settled_safety(kim)
                assert before > 0

                park = await phone.new_page()
                park.set_default_timeout(WAIT_MS)
                await park.goto(url + "field")
                await expect(park.locator("html")).to_have_attribute("lang", "ko")
                await park.locator("#username").fill("park")
                await park.locator("#password").fill(PASSWORD)
                await park.locator('#login button[type="submit"]').click()
                await expect(park.locator("#report-form")).to_be_visible()
                await park.locator("#locate").click()
                await expect(park.locator("#field-app")).to_have_attribute(
                    "data-place", re.compile(r"^37\.6385")
                )

                await phone.set_offline(True)
                await expect(park.locator("#net")).to_have_attribute("data-online", "false")
                await park.locator("#structure-id").fill(STRUCTURE)
                await park.locator('button.grade[data-grade="D"]').click()
                await park.locator("#note").fill("교각 균열")
                await park.locator("#submit").click()
                entry = park.locator("#queue li[data-report-id]")
                await expect(entry).to_have_count(1)
                await expect(entry).to_have_attribute("data-state", re.compile("queued|retry"))
                shots = Path(SCREENSHOTS_TO) if SCREENSHOTS_TO else tmp_path
                await park.screenshot(path=str(shots / "field-offline.png"))
                report_id = await entry.get_attribute("data-report-id")
                assert report_id

                await phone.set_offline(False)
                await expect(entry).to_have_attribute("data-state", "sent")
                fact_id = f"park:{report_id}"
                await expect(entry).to_contain_text(f"gimpo-safety:{fact_id}")
                await park.screenshot(path=str(shots / "field-sent.png"))

                # the control room: the report is the district's driver, safety lower
                await expect(panel).to_contain_text(f"gimpo-safety:{fact_id}", timeout=WAIT_MS)
                after = await safety_of(kim)
                assert after < before, (before, after)
            except BaseException as exc:
                exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
                raise
            finally:
                await control.close()
                await phone.close()
        async with TopicReader(settings, settings.topics.safety) as reader:
            await reader.poll(2.0)
            await reader.poll(1.0)
        facts = [SAFETY_FACT.validate_json(v) for v in reader.values]
        assert [f.id for f in facts if f.source == "gimpo-safety"] == [fact_id], facts
    finally:
        stop_sink.set()
        await sink
        worker.stop()
