"""The dashboard page in a real browser (Debian's Chromium, driven by Playwright) on the real stack:
worker, gateway, Kafka, PostgreSQL.

Signing in (a wrong password is refused on the page), live district scores and a live alert
under the gateway's Content-Security-Policy without a single violation, an acknowledgement made
as the signed-in user, and signing out for good: the login form comes back, also after a reload,
and the old session cookie no longer opens anything. Screenshots of the login form and the live
dashboard go to the test folder, or to RISKMON_TEST_SCREENSHOTS (docs/screenshots/).

The browser is ``/usr/bin/chromium`` (``apt-get install -y chromium fonts-noto-cjk``; the
Makefile does it in CI); the test never downloads one, and fails when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright, expect

from dashboard_ws.security.origins import CONTENT_SECURITY_POLICY
from dashboard_ws.server import Gateway
from streams.contract import Incident
from streams.settings import Settings
from tests.cities import instant_alerts_city
from tests.integration.auth import add_user
from tests.integration.harness import WorkerProcess, isolated_settings, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots go to the test's folder; RISKMON_TEST_SCREENSHOTS=docs/screenshots makes them the
# documentation's (what `make screenshots` does), never a plain test run.
SCREENSHOTS_TO = os.environ.get("RISKMON_TEST_SCREENSHOTS")
WAIT_MS = 30_000
# From a cold start the worker must own its partitions before it publishes every district.
FIRST_SCORES_MS = 90_000
GIMPO_DISTRICTS = 14
JANGGI_DONG = "4157056000"
USER, ROLE, PASSWORD = "kim", "operator", "correct horse battery"
NOTE = "119 dispatched"
SCORE = re.compile(r"^\d+\.\d{2}$")
DISTRICT_CODE = re.compile(r"^\d{10}$")


def burst(count: int) -> list[Incident]:
    """Fires in Janggi-dong: live scores, and (thresholds fire at once) one fire alert."""
    return [
        Incident(
            id=f"browser-{n}",
            source="gimpo-fire",
            type="fire",
            severity=4,
            occurred_at=datetime.now(UTC),
            code=JANGGI_DONG,
        )
        for n in range(count)
    ]


def chromium_path() -> str:
    """Debian's Chromium; the test fails (never skips, never downloads one) without it."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium "
            "fonts-noto-cjk; the Makefile does it in CI). This test never downloads a browser."
        )
    return str(CHROMIUM)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox"],  # CI runs as root
        )
        try:
            yield browser
        finally:
            await browser.close()


async def status_with_cookie(url: str, cookie: str) -> int:
    """The status of GET ``url`` sent with ``cookie`` (outside the browser)."""

    def get() -> int:
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    return await asyncio.to_thread(get)


async def sign_in(page: Page, password: str) -> None:
    await page.locator("#username").fill(USER)
    await page.locator("#password").fill(password)
    await page.locator('#login button[type="submit"]').click()


async def test_sign_in_live_dashboard_acknowledge_sign_out(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city=instant_alerts_city(tmp_path)
    )
    await add_user(pg_dsn, USER, ROLE, PASSWORD)  # migrates the database first
    shots = Path(SCREENSHOTS_TO) if SCREENSHOTS_TO else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with Gateway(settings) as gateway, chromium() as browser:
            url = f"http://127.0.0.1:{gateway.port}/"
            context = await browser.new_context(
                locale="en-US", viewport={"width": 1280, "height": 860}
            )
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            console: list[ConsoleMessage] = []
            page_errors: list[Error] = []

            def on_console(message: ConsoleMessage) -> None:
                console.append(message)

            def on_page_error(error: Error) -> None:
                page_errors.append(error)

            page.on("console", on_console)  # a bound list.append is not accepted as a handler
            page.on("pageerror", on_page_error)
            try:
                await sign_in_to_live_scores(page, url, shots)
                await acknowledge_live_alert(page, settings, shots)
                await sign_out(page, url)
            except BaseException as exc:
                exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
                raise
            finally:
                await context.close()

            violations = [
                m.text
                for m in console
                if m.type == "error" and "content security policy" in m.text.lower()
            ]
            assert violations == [], violations
            assert page_errors == [], [str(e) for e in page_errors]
    finally:
        worker.stop()
    assert not worker.alive


async def sign_in_to_live_scores(page: Page, url: str, shots: Path) -> None:
    """Load, a refused password, sign in, every district's live score."""
    response = await page.goto(url + "?lang=en")  # the city's language (Korean) otherwise
    assert response is not None
    assert response.status == 200
    # The page is checked under the policy the gateway sends, not in a lenient browser.
    assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY

    await expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#dashboard")).to_be_hidden()
    await expect(page.locator("#login-error")).to_be_hidden()
    await page.screenshot(path=str(shots / "login.png"), animations="disabled")

    await sign_in(page, "not the password")
    error = page.locator("#login-error")
    await expect(error).to_be_visible(timeout=WAIT_MS)
    await expect(error).to_have_attribute("role", "alert")
    await expect(error).to_have_text(re.compile(r"\S"))
    await expect(page.locator("#dashboard")).to_be_hidden()

    await sign_in(page, PASSWORD)
    await expect(page.locator("#dashboard")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#login-view")).to_be_hidden()
    await expect(page.locator("#whoami")).to_contain_text(USER)
    await expect(page.locator("#whoami")).to_contain_text(ROLE)
    await expect(page.locator("#logout")).to_be_visible()

    rows = page.locator("#rows tr[data-district]")
    await expect(rows).to_have_count(GIMPO_DISTRICTS, timeout=FIRST_SCORES_MS)
    for row in await rows.all():
        assert DISTRICT_CODE.match(await row.get_attribute("data-district") or ""), row
        await expect(row.locator("td.score")).to_have_text(SCORE)
    await expect(page.locator("#status")).to_have_text("live")


async def acknowledge_live_alert(page: Page, settings: Settings, shots: Path) -> None:
    """Incidents reach the page live; their alert is acknowledged as the signed-in user."""
    await produce(settings, settings.topics.incidents, burst(4))
    janggi = page.locator(f'#rows tr[data-district="{JANGGI_DONG}"]')
    await expect(janggi.locator("td.drivers")).to_contain_text(
        "gimpo-fire:browser-", timeout=WAIT_MS
    )
    await expect(janggi.locator("td.score")).to_have_text(SCORE)

    # An operator has the right to acknowledge: the firing alert carries the button.
    firing = page.locator("#alerts li.state-firing").filter(has=page.locator("button.ack-button"))
    await expect(firing.first).to_be_visible(timeout=WAIT_MS)
    alert_id = await firing.first.get_attribute("data-alert-id")
    assert alert_id
    item = page.locator(f"#alerts li[data-alert-id={json.dumps(alert_id)}]")
    await expect(item).to_contain_text("fire")
    await page.screenshot(
        path=str(shots / "signed-in-operator.png"), full_page=True, animations="disabled"
    )

    await item.locator("input.ack-note").fill(NOTE)
    await item.locator("button.ack-button").click()
    # The gateway names the acknowledger from the session (the page sends no ``who``).
    await expect(item.locator(".acknowledged")).to_contain_text(
        f"acknowledged by {USER}", timeout=WAIT_MS
    )
    await expect(item.locator(".acknowledged")).to_contain_text(NOTE)
    await expect(item.locator(".ack-status")).to_have_text("Acknowledged.", timeout=WAIT_MS)
    await expect(item.locator("button.ack-button")).to_have_count(0)


async def sign_out(page: Page, url: str) -> None:
    """Sign out: the form comes back, after a reload too, and the old cookie is dead."""
    cookies = await page.context.cookies(url)
    assert cookies, "signed in, but the browser holds no cookie for the gateway"
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    assert await status_with_cookie(url + "auth/me", cookie) == 200

    await page.locator("#logout").click()
    await expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#dashboard")).to_be_hidden()
    await expect(page.locator("#login-notice")).to_have_text("You signed out.")
    await expect(page.locator("#status")).to_have_text("signed out")

    await page.reload()
    await expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#dashboard")).to_be_hidden()
    await expect(page.locator("#whoami")).to_be_empty()
    assert await status_with_cookie(url + "auth/me", cookie) == 401
