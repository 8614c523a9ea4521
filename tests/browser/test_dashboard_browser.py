"""The control room in a real browser on the real stack (worker, sink, gateway, Kafka,
PostgreSQL): the map of every district with its grade, an incident naming itself as the driver of
its district within 5 s, a burst's alert acknowledged with a note by one operator and seen
acknowledged by another, time travel to an earlier state and back, Korean and English, and no
serious or critical accessibility violation (axe-core).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, expect
from websockets.extensions.permessage_deflate import PerMessageDeflate

from dashboard_ws.server import Gateway
from streams.contract import Incident
from streams.persistence.sink import run_sink
from tests.browser.test_login_browser import chromium
from tests.cities import instant_alerts_city
from tests.integration.auth import add_user
from tests.integration.harness import WorkerProcess, isolated_settings, produce

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dashboard_ws" / "static" / "dist" / "app.js"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    # The map front end (issue 16) is bundled by the Makefile into static/dist/; until it
    # lands this test has nothing to drive (it is written against the test hooks).
    pytest.mark.skipif(not BUNDLE.is_file(), reason=f"no map bundle at {BUNDLE} (issue 16)"),
]
AXE = ROOT / "dashboard_ws" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
JANGGI_DONG = "4157056000"
DISTRICTS = 14
WAIT_MS = 30_000
FIRST_SCORES_MS = 90_000
SEOUL = ZoneInfo("Asia/Seoul")
# Screenshots go to the test's folder; `make screenshots` sets RISKMON_TEST_SCREENSHOTS to
# docs/screenshots to renew the documentation's.
SCREENSHOTS_TO = os.environ.get("RISKMON_TEST_SCREENSHOTS")


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), animations="disabled")


def fire(n: int, severity: int = 5) -> Incident:
    return Incident(
        id=f"map-{n}",
        source="gimpo-fire",
        type="fire",
        severity=severity,
        occurred_at=datetime.now(UTC),
        lat=37.6385,
        lon=126.6791,
    )


async def signed_in(context: BrowserContext, url: str, user: str) -> Page:
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(url)
    await page.locator("#username").fill(user)
    await page.locator("#password").fill(PASSWORD)
    await page.locator('#login button[type="submit"]').click()
    await expect(page.locator("#dashboard")).to_be_visible()
    return page


async def grade_of(page: Page, code: str) -> str:
    grade = await page.locator(f'path[data-district="{code}"]').get_attribute("data-grade")
    return grade or ""


async def every_district_graded(page: Page) -> None:
    shapes = page.locator("path[data-district]")
    await expect(shapes).to_have_count(DISTRICTS, timeout=FIRST_SCORES_MS)
    await page.wait_for_function(
        """n => [...document.querySelectorAll('path[data-district]')]
                 .filter(p => /^[1-5]$/.test(p.dataset.grade || '')).length === n""",
        arg=DISTRICTS,
        timeout=FIRST_SCORES_MS,
    )


async def test_the_control_room_map_alerts_time_travel_languages_and_accessibility(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city=instant_alerts_city(tmp_path)
    )
    for name in ("kim", "lee"):
        await add_user(pg_dsn, name, "operator", PASSWORD)
    shots = Path(SCREENSHOTS_TO) if SCREENSHOTS_TO else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    try:
        async with Gateway(settings) as gateway, chromium() as browser:
            url = f"http://127.0.0.1:{gateway.port}/"
            kim_context = await browser.new_context(  # an English PC in a Korean city
                viewport={"width": 1440, "height": 900}, locale="en-US"
            )
            lee_context = await browser.new_context(viewport={"width": 1280, "height": 800})
            kim = await signed_in(kim_context, url, "kim")
            lee = await signed_in(lee_context, url, "lee")
            kim.on("console", on_console)
            try:
                await expect(kim.locator("html")).to_have_attribute("lang", "ko")
                await every_district_graded(kim)
                await every_district_graded(lee)
                calm_at = datetime.now(UTC)
                calm_grade = await grade_of(kim, JANGGI_DONG)
                await asyncio.sleep(2.5)  # the sink stores the calm state before the storm

                # an incident names itself as the driver of its district, within 5 s
                await kim.locator(f'path[data-district="{JANGGI_DONG}"]').click()
                panel = kim.locator("#district-panel")
                await expect(panel).to_be_visible()
                sent = time.monotonic()
                await produce(settings, settings.topics.incidents, [fire(0)])
                await expect(panel).to_contain_text("gimpo-fire:map-0", timeout=5_000)
                assert time.monotonic() - sent < 5.0
                await shoot(kim, shots, "dashboard-district-panel")

                # a burst: the alert appears for both; kim acknowledges with a note; lee sees it
                await produce(settings, settings.topics.incidents, [fire(n) for n in (1, 2, 3)])
                firing = kim.locator('#alerts [data-alert-id][data-state="firing"]').first
                await expect(firing).to_be_visible()
                alert_id = await firing.get_attribute("data-alert-id")
                assert alert_id is not None
                assert alert_id.startswith(f"{JANGGI_DONG}:fire")
                in_lee = lee.locator(f'#alerts [data-alert-id="{alert_id}"]')
                await expect(in_lee).to_have_attribute("data-state", "firing")
                stormy_grade = await grade_of(kim, JANGGI_DONG)
                assert int(stormy_grade) >= int(calm_grade)
                mine = kim.locator(f'#alerts [data-alert-id="{alert_id}"]')
                await mine.locator("input.ack-note").fill("119 on the way")
                await mine.locator("button.ack-button").click()
                await expect(mine).to_have_attribute("data-state", "acknowledged")
                await expect(in_lee).to_have_attribute("data-state", "acknowledged")
                await expect(in_lee).to_contain_text("kim")
                # Chromium took compressed frames (no context takeover either way) and sent
                # kim's acknowledgement compressed: permessage-deflate on every connection
                screens = list(gateway.fanout._conns.values())
                assert len(screens) == 2
                for screen in screens:
                    (deflate,) = screen.ws.protocol.extensions
                    assert isinstance(deflate, PerMessageDeflate)
                    assert deflate.local_no_context_takeover
                    assert deflate.remote_no_context_takeover
                await shoot(lee, shots, "dashboard-alerts")

                # time travel: the map as it was before the storm, then back to live
                await asyncio.sleep(2.0)  # the sink stores the storm
                picker = kim.locator("#time-picker")
                local = (calm_at + timedelta(seconds=1)).astimezone(SEOUL)
                await picker.fill(local.strftime("%Y-%m-%dT%H:%M:%S"))
                await picker.dispatch_event("change")
                await expect(kim.locator("#back-to-live")).to_be_visible()
                shape = kim.locator(f'path[data-district="{JANGGI_DONG}"]')
                await expect(shape).to_have_attribute("data-grade", calm_grade)
                await shoot(kim, shots, "dashboard-time-travel")
                await kim.locator("#back-to-live").click()
                await expect(shape).to_have_attribute("data-grade", stormy_grade)

                # Korean is the city's language; English on request, and back
                await kim.locator("#lang").select_option("en")
                await expect(kim.locator("#stats-tab")).to_contain_text("Statistics")
                await kim.locator("#lang").select_option("ko")
                await expect(kim.locator("#stats-tab")).to_contain_text("통계")
                assert await kim.locator("html").get_attribute("lang") == "ko"
                await shoot(kim, shots, "dashboard-ko")
                await kim.locator("#lang").select_option("en")
                await shoot(kim, shots, "dashboard-live")
                await kim.locator("#theme").select_option("light")
                await shoot(kim, shots, "dashboard-light")
                await kim.locator("#theme").select_option("dark")
                # the statistics map: incidents per district, with its table (the storm counts)
                await kim.locator("#stats-tab").click()
                janggi_row = kim.locator(f'#stats-rows tr[data-district="{JANGGI_DONG}"]')
                await expect(janggi_row).to_be_visible()
                stats_shape = kim.locator(f'#stats-map path[data-stats-district="{JANGGI_DONG}"]')
                await expect(stats_shape).to_have_count(1)
                await shoot(kim, shots, "dashboard-statistics")
                kiosk = await kim_context.new_page()
                await kiosk.goto(url + "?kiosk=1")
                await every_district_graded(kiosk)
                await shoot(kiosk, shots, "dashboard-kiosk")

                # no serious or critical accessibility violation (axe-core, from npm)
                assert AXE.is_file(), f"{AXE}: run make (npm ci installs axe-core)"
                violations = await axe_violations(browser, url)
                assert violations == [], violations
            except BaseException as exc:
                exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
                raise
            finally:
                await kim_context.close()
                await lee_context.close()
        csp = [e for e in errors if "content security policy" in e.lower()]
        assert csp == [], csp
    finally:
        stop_sink.set()
        await sink
        worker.stop()


async def axe_violations(browser: Any, url: str) -> list[str]:
    """axe-core's serious and critical violations on the signed-in dashboard. The script is
    injected in a context that bypasses the page's CSP (the page itself never runs it)."""
    context = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    try:
        page = await signed_in(context, url, "lee")
        await every_district_graded(page)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("() => axe.run(document)")
        return [
            f"{v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} nodes"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
    finally:
        await context.close()
