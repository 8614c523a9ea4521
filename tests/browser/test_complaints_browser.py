"""Civil complaints in a real browser on the real stack (worker, sink, gateway, Kafka,
PostgreSQL): complaints published with ``riskmon publish`` appear on the live map's complaint
heat layer and on the complaints statistics map (choropleth, table, category filter, CSV export),
in Korean and English."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, expect

from dashboard_ws.server import Gateway
from streams.persistence.sink import run_sink
from tests.browser.test_dashboard_browser import BUNDLE, PASSWORD, WAIT_MS, shoot, signed_in
from tests.browser.test_login_browser import chromium
from tests.cities import exact_gimpo
from tests.integration.auth import add_user
from tests.integration.harness import WorkerProcess, isolated_settings, run_riskmon

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not BUNDLE.is_file(), reason=f"no map bundle at {BUNDLE}"),
]
JANGGI = "4157056000"  # 장기동
GURAE = "4157057000"  # 구래동
CITY = exact_gimpo()
SCREENSHOTS_TO = os.environ.get("RISKMON_TEST_SCREENSHOTS")


def complaints(now: datetime) -> list[dict[str, Any]]:
    """Five in 장기동 (three road damage, two noise), one in 구래동."""
    out = []
    for n, (code, category) in enumerate(
        [(JANGGI, "road_damage")] * 3 + [(JANGGI, "noise")] * 2 + [(GURAE, "noise")]
    ):
        p = CITY.districts[code].geometry.representative_point()
        at = (now - timedelta(hours=n + 1)).isoformat()
        out.append(
            {"id": f"B-{n}", "source": "gimpo-minwon", "category": category, "status": "received",
             "received_at": at, "updated_at": at, "lat": round(p.y + n * 1e-4, 6),
             "lon": round(p.x, 6)}
        )  # fmt: skip
    return out


async def test_complaint_heat_layer_and_statistics_map(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    await add_user(pg_dsn, "vera", "viewer", PASSWORD)
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
        path = tmp_path / "complaints.jsonl"
        path.write_text("\n".join(json.dumps(c) for c in complaints(datetime.now(UTC))) + "\n")
        sent = await asyncio.to_thread(run_riskmon, settings, "publish", str(path))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        async with Gateway(settings) as gateway, chromium() as browser:
            url = f"http://127.0.0.1:{gateway.port}/"
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900}, locale="en-US"
            )
            context.on("console", on_console)
            context.on("weberror", lambda e: errors.append(f"{e.error} {e.error.stack}"))
            try:
                page = await signed_in(context, url, "vera")
            except BaseException as exc:
                exc.add_note(f"page errors: {errors}")
                raise
            try:
                await expect(page.locator("html")).to_have_attribute("lang", "ko")
                await page.locator("#lang").select_option("en")
                await expect(page.locator("#complaints-tab")).to_contain_text("Complaints")

                # the heat layer: cells drawn once the sink stored the complaints (a viewer
                # gets resolution 7: 장기동's five complaints share one or two coarse cells)
                heat = page.locator("#complaints-heat")
                note = page.locator("#complaints-heat-note")
                for _ in range(60):
                    await heat.check()
                    await expect(note).not_to_have_text("", timeout=WAIT_MS)
                    if int(await note.get_attribute("data-cells") or "0") > 0:
                        break
                    await heat.uncheck()
                    await asyncio.sleep(1)
                cells = int(await note.get_attribute("data-cells") or "0")
                assert 1 <= cells <= 6, cells
                await expect(note).to_contain_text("resolution 7")
                await expect(page.locator(".leaflet-heat-pane canvas")).to_have_count(1)
                await shoot(page, shots, "dashboard-complaints-heat")

                # the statistics map: every district shaded, the table, the filter
                await page.locator("#complaints-tab").click()
                janggi = page.locator(f'#complaints-rows tr[data-district="{JANGGI}"]')
                await expect(janggi).to_have_attribute("data-total", "5")
                await expect(page.locator("#complaints-rows tr")).to_have_count(14)
                shape = page.locator(f'#complaints-map path[data-complaints-district="{JANGGI}"]')
                await expect(shape).to_have_count(1)
                assert (await shape.get_attribute("data-class")) not in (None, "0")
                quiet = page.locator('#complaints-map path[data-complaints-district="4157035000"]')
                await expect(quiet).to_have_attribute("data-class", "0")  # 월곶면: none
                await expect(page.locator("#complaints-head")).to_contain_text("road damage")
                await shoot(page, shots, "dashboard-complaints")

                await page.locator("#complaints-category").select_option("noise")
                await expect(janggi).to_have_attribute("data-total", "2")
                gurae = page.locator(f'#complaints-rows tr[data-district="{GURAE}"]')
                await expect(gurae).to_have_attribute("data-total", "1")

                # the CSV export asks the API for the same numbers
                href = await page.locator("#complaints-export").get_attribute("href")
                assert href is not None
                assert "format=csv" in href
                assert "category=noise" in href
                table = await page.evaluate("h => fetch(h).then(r => r.text())", href)
                lines = table.strip().splitlines()
                assert lines[0] == "district,name,population,total,open,per_10k,noise"
                janggi_line = next(line for line in lines if line.startswith(JANGGI))
                assert janggi_line.split(",")[3] == "2"

                # Korean labels
                await page.locator("#lang").select_option("ko")
                await expect(page.locator("#complaints-tab")).to_contain_text("민원")
                await expect(page.locator("#complaints-head")).to_contain_text("소음")
            except BaseException as exc:
                exc.add_note(f"worker log (tail):\n{worker.log_tail()}")
                raise
            finally:
                await context.close()
        csp = [e for e in errors if "content security policy" in e.lower()]
        assert csp == [], csp
    finally:
        stop_sink.set()
        await sink
        worker.stop()
