"""The "What if" view in a real browser on a real gateway and PostgreSQL: an analyst sees the tab,
the ranked table of every district (in the order the API ranks them) and the choropleth of the
predicted risk reduction, changes the facility and the count; a viewer sees no tab and is refused
by the API. The districts' states are checkpoints written by the checkpoint store from real
partition scorers (tests/integration/test_whatif_api.py), as the worker writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, expect

from dashboard_ws.server import Gateway
from streams.city.config import load_city_config
from streams.persistence.checkpoints import PgCheckpointStore
from streams.pipeline.scoring import model_fingerprint
from tests.browser.test_dashboard_browser import AXE, BUNDLE, SCREENSHOTS_TO
from tests.browser.test_login_browser import chromium
from tests.integration.auth import add_user
from tests.integration.harness import isolated_settings
from tests.integration.test_whatif_api import T0, scorers

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not BUNDLE.is_file(), reason=f"no map bundle at {BUNDLE} (make frontend)"),
]
PASSWORD = "correct horse battery"
DISTRICTS = 14
WAIT_MS = 30_000


async def signed_in(context: BrowserContext, url: str, user: str) -> Page:
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(url)
    await page.locator("#username").fill(user)
    await page.locator("#password").fill(PASSWORD)
    await page.locator('#login button[type="submit"]').click()
    await expect(page.locator("#dashboard")).to_be_visible()
    return page


async def api_order(page: Page, query: str) -> tuple[int, list[str]]:
    """The districts of GET /api/whatif?query in rank order, fetched with the page's session."""
    answer: dict[str, Any] = await page.evaluate(
        """async q => {
             const r = await fetch('/api/whatif?' + q, {credentials: 'same-origin'});
             return {status: r.status, body: r.status === 200 ? await r.json() : null};
           }""",
        query,
    )
    body = answer["body"]
    return answer["status"], [d["district"] for d in body["districts"]] if body else []


async def table_order(page: Page) -> list[str]:
    rows = page.locator("#whatif-rows tr[data-district]")
    return [code or "" for code in await rows.evaluate_all("rs => rs.map(r => r.dataset.district)")]


async def test_an_analyst_ranks_a_change_and_a_viewer_sees_no_what_if(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    config = load_city_config(settings.city)
    await add_user(pg_dsn, "ana", "analyst", PASSWORD)
    await add_user(pg_dsn, "vic", "viewer", PASSWORD)
    store = PgCheckpointStore(pg_dsn, settings.app_id, settings.topics.located)
    try:
        for scorer in scorers(config):
            await store.save(
                scorer.partition, scorer.to_checkpoint(model_fingerprint(config.params)), T0
            )
    finally:
        await store.close()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    async with Gateway(settings) as gateway, chromium() as browser:
        url = f"http://127.0.0.1:{gateway.port}/"
        context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
        ana = await signed_in(context, url, "ana")
        ana.on("console", on_console)
        await ana.locator("#lang").select_option("en")  # the city's language is Korean
        tab = ana.locator("#whatif-tab")
        await expect(tab).to_be_visible()
        await tab.click()
        await expect(ana.locator("#whatif-view")).to_be_visible()
        rows = ana.locator("#whatif-rows tr[data-district]")
        await expect(rows).to_have_count(DISTRICTS)
        status, expected = await api_order(ana, "change=cctv&count=1&by=risk")
        assert status == 200
        assert await table_order(ana) == expected
        await expect(rows.first).to_have_attribute("data-rank", "1")
        # the choropleth: every district shaded, the largest reduction in the darkest class
        shapes = ana.locator("#whatif-map path[data-whatif-district]")
        await expect(shapes).to_have_count(DISTRICTS)
        top = ana.locator(f'#whatif-map path[data-whatif-district="{expected[0]}"]')
        await expect(top).to_have_attribute("data-class", "5")
        await expect(ana.locator("#whatif-basis")).to_contain_text("riskmon-index/")
        if SCREENSHOTS_TO:  # `make screenshots`
            await ana.screenshot(
                path=str(Path(SCREENSHOTS_TO) / "dashboard-whatif.png"), animations="disabled"
            )

        # another facility and count, ranked by safety gain
        await ana.locator("#whatif-change").select_option("police_box")
        await ana.locator("#whatif-by").select_option("safety")
        await ana.locator("#whatif-count").fill("5")
        await ana.locator("#whatif-apply").click()
        await expect(ana.locator("#whatif-basis")).to_contain_text("5 × police boxes")
        _, expected = await api_order(ana, "change=police_box&count=5&by=safety")
        await expect(rows.first).to_have_attribute("data-district", expected[0])
        assert await table_order(ana) == expected
        export = await ana.locator("#whatif-export").get_attribute("href")
        assert export is not None
        assert "change=police_box" in export
        assert "format=csv" in export
        # a count beyond the limit is refused in the page, before any request
        await ana.locator("#whatif-count").fill("500")
        await ana.locator("#whatif-apply").click()
        await expect(ana.locator("#whatif-error")).to_contain_text("1 to 100")

        # Korean
        await ana.locator("#lang").select_option("ko")
        await expect(tab).to_contain_text("정책 시뮬레이션")
        await expect(ana.locator("#whatif-caption")).to_contain_text("행정동별")

        # accessibility of the view (axe-core, injected where the page's CSP does not apply)
        axe_context = await browser.new_context(bypass_csp=True)
        try:
            page = await signed_in(axe_context, url, "ana")
            await page.locator("#whatif-tab").click()
            await expect(page.locator("#whatif-rows tr[data-district]")).to_have_count(DISTRICTS)
            await page.add_script_tag(path=str(AXE))
            result = await page.evaluate("() => axe.run(document.getElementById('whatif-view'))")
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']}"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == []
        finally:
            await axe_context.close()

        # a viewer: no tab, and the API refuses
        viewer_context = await browser.new_context(locale="en-US")
        vic = await signed_in(viewer_context, url, "vic")
        await expect(vic.locator("#stats-tab")).to_be_visible()
        await expect(vic.locator("#whatif-tab")).to_be_hidden()
        await expect(vic.locator("#whatif-view")).to_be_hidden()
        status, _ = await api_order(vic, "change=cctv")
        assert status == 403
        await viewer_context.close()
        await context.close()
    assert errors == [], errors
