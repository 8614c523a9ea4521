"""The citizens' safety map in a real browser on the real stack (worker, sink, gateway, Kafka,
PostgreSQL), on a phone, without any login: Korean first, every district filled by its public
grade (the same as the open GeoJSON's, after the delay), a district's grades on a tap, the layer
switch, English on request, no CSP error and no serious or critical accessibility violation
(axe-core).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, ViewportSize, expect

from dashboard_ws.server import Gateway
from streams.contract import Incident
from streams.persistence import db
from streams.persistence.sink import run_sink
from tests.browser.test_dashboard_browser import AXE, SCREENSHOTS_TO
from tests.browser.test_login_browser import chromium
from tests.integration.harness import WorkerProcess, eventually, isolated_settings, produce
from tests.integration.test_public_api import Clock, count_rows

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_BUNDLE = ROOT / "dashboard_ws" / "static" / "dist" / "public.js"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not PUBLIC_BUNDLE.is_file(), reason=f"no public bundle at {PUBLIC_BUNDLE}"),
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DISTRICTS = 14
WAIT_MS = 30_000
JANGGI_DONG = "4157056000"


def storm() -> list[Incident]:
    """Fires in 장기동 and assaults in 사우동: the grades differ between districts and layers."""
    now = datetime.now(UTC)
    fires = [
        Incident(id=f"pub-fire-{n}", source="gimpo-fire", type="fire", severity=5,
                 occurred_at=now, lat=37.6385, lon=126.6791)
        for n in range(4)
    ]  # fmt: skip
    assaults = [
        Incident(id=f"pub-crime-{n}", source="gimpo-police", type="assault", severity=4,
                 occurred_at=now, lat=37.6190, lon=126.7262)
        for n in range(4)
    ]  # fmt: skip
    return fires + assaults


async def every_district_graded(page: Page) -> None:
    await expect(page.locator("path[data-district]")).to_have_count(DISTRICTS, timeout=WAIT_MS)
    await page.wait_for_function(
        """n => [...document.querySelectorAll('path[data-district]')]
                 .filter(p => /^[1-5]$/.test(p.dataset.grade || '')).length === n""",
        arg=DISTRICTS,
        timeout=WAIT_MS,
    )


async def map_grades(page: Page) -> dict[str, str]:
    found = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('path[data-district]')]
                 .map(p => [p.dataset.district, p.dataset.grade]))"""
    )
    assert isinstance(found, dict)
    return found


async def test_a_phone_sees_the_delayed_grades_without_login_in_korean_and_accessibly(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    shots = Path(SCREENSHOTS_TO) if SCREENSHOTS_TO else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    try:
        await produce(settings, settings.topics.incidents, storm())

        async def scored() -> bool:
            stored = "SELECT count(DISTINCT district) FROM score_updates WHERE series = 'live'"
            mine = "SELECT count(*) FROM score_updates WHERE payload::text LIKE '%pub-crime-%'"
            return (
                await count_rows(pg_dsn, stored) == DISTRICTS and await count_rows(pg_dsn, mine) > 0
            )

        await eventually(scored, within=120, interval=1.0, watch=[worker])
        worker.stop()  # the history is final: the published hour shows exactly it
        await asyncio.sleep(2.0)  # the sink stores the worker's last updates
        clock.shift = timedelta(hours=2)  # past the delay: the scores above are public

        async with Gateway(settings, public_clock=clock) as gateway, chromium() as browser:
            url = f"http://127.0.0.1:{gateway.port}/public"
            phone = await browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, locale="ko-KR"
            )
            try:
                page = await phone.new_page()
                page.set_default_timeout(WAIT_MS)
                page.on("console", on_console)
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                await page.goto(url)
                await expect(page.locator("html")).to_have_attribute("lang", "ko")
                await expect(page.locator("h1")).to_have_text("우리 동네 안전 지도")
                await expect(page.locator("#as-of")).to_contain_text("기준")
                try:
                    await every_district_graded(page)
                except AssertionError as exc:
                    exc.add_note(f"browser errors: {errors}")
                    raise
                await expect(page.locator("#districts li[data-district]")).to_have_count(DISTRICTS)

                # the map shows the open data's grades, layer by layer
                answer = await page.request.get(
                    f"http://127.0.0.1:{gateway.port}/open/districts.geojson"
                )
                doc = json.loads(await answer.body())
                for layer in ("overall", "crime", "safety"):
                    await page.locator(f'input[name="layer"][value="{layer}"]').check()
                    expected = {
                        f["properties"]["code"]: str(f["properties"]["grades"][layer])
                        for f in doc["features"]
                    }
                    await page.wait_for_function(
                        """([layer, expected]) => Object.entries(expected).every(([code, g]) =>
                             document.querySelector(`path[data-district="${code}"]`)
                               .dataset.grade === g)""",
                        arg=[layer, expected],
                    )
                    assert await map_grades(page) == expected
                await page.locator('input[name="layer"][value="overall"]').check()

                # a tap shows the district's grades in words
                await page.locator(f'path[data-district="{JANGGI_DONG}"]').click()
                await expect(page.locator("#selected")).to_be_visible()
                await expect(page.locator("#selected")).to_contain_text("장기동")
                await expect(page.locator("#selected")).to_contain_text("등급")
                await shoot_top(page, shots / "public-map.png", "#selected")

                # English on request, Korean again
                await page.locator("#lang").select_option("en")
                await expect(page.locator("h1")).to_have_text("Neighbourhood safety map")
                await expect(page.locator("#selected")).to_contain_text("Janggi-dong")
                await page.locator("#lang").select_option("ko")
                await expect(page.locator("h1")).to_have_text("우리 동네 안전 지도")

                # no serious or critical accessibility violation (axe-core, from npm)
                assert AXE.is_file(), f"{AXE}: run make (npm ci installs axe-core)"
                violations = await axe_violations(browser, url)
                assert violations == [], violations
            finally:
                await phone.close()
        csp = [e for e in errors if "content security policy" in e.lower()]
        assert csp == [], csp
        assert errors == [], errors
    except BaseException as exc:
        exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
        raise
    finally:
        stop_sink.set()
        await sink
        worker.stop()


async def shoot_top(page: Page, path: Path, last: str) -> None:
    """The page from its top down to the bottom of ``last`` (a phone's long page, in one image)."""
    box = await page.locator(last).bounding_box()
    assert box is not None
    top = await page.evaluate("() => window.scrollY")
    height = top + box["y"] + box["height"] + 12
    clip = {"x": 0, "y": 0, "width": PHONE["width"], "height": height}
    await page.screenshot(path=str(path), full_page=True, clip=clip, animations="disabled")


async def axe_violations(browser: Any, url: str) -> list[str]:
    """axe-core's serious and critical violations on the public page on a phone (the script is
    injected in a context that bypasses the page's CSP; the page itself never runs it)."""
    context = await browser.new_context(bypass_csp=True, viewport=PHONE, is_mobile=True)
    try:
        page = await context.new_page()
        await page.goto(url)
        await every_district_graded(page)
        await page.locator(f'path[data-district="{JANGGI_DONG}"]').click()
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("() => axe.run(document)")
        return [
            f"{v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} nodes"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
    finally:
        await context.close()
