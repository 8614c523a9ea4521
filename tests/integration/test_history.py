"""History end to end on a real broker and PostgreSQL: worker, sink and gateway running.

Shows: events stored once despite re-delivery, time travel (``/api/scores?at=``) equal to what
was published, the downsampled history API, alerts with their lifecycle, clear 4xx answers, and
``riskmon replay`` with the live model reproducing the live history exactly.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets

from dashboard_ws.api.service import HistoryApi
from dashboard_ws.server import Gateway
from streams.city.config import load_city_config
from streams.contract import (
    AlertHistoryResponse,
    AlertsResponse,
    ApiError,
    EventsResponse,
    HistoryResponse,
    Incident,
    ScoresAtResponse,
    ScoreUpdate,
)
from streams.persistence import db
from streams.persistence.sink import run_sink
from streams.replay.recompute import ReplayPlan, default_model_version, run_replay
from streams.settings import Settings
from tests.cities import instant_alerts_city
from tests.integration.auth import TEST_SECRET, add_user, bearer, ws_headers
from tests.principals import ADMIN

from .harness import (
    TopicReader,
    WorkerProcess,
    all_districts_served,
    eventually,
    isolated_settings,
    produce,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI = "4157056000"
OTHERS = ["4157051500", "4157025000", "4157058000"]


# lee, an analyst (exact events; may acknowledge), added to each test's database
LEE = ws_headers(bearer(Settings(auth_secret=TEST_SECRET), "lee", "analyst", ttl_s=4 * 3600))


def get(base: str, path: str, **params: str) -> tuple[int, Any]:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=LEE), timeout=10
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_text(base: str, path: str, params: dict[str, str]) -> tuple[str, dict[str, str], str]:
    """Content type, headers and text of a 200 answer."""
    url = base + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(urllib.request.Request(url, headers=LEE), timeout=10) as response:
        return response.headers["Content-Type"], dict(response.headers), response.read().decode()


async def aget(base: str, path: str, **params: str) -> tuple[int, Any]:
    return await asyncio.to_thread(get, base, path, **params)


def wave(tag: str, n: int, kind: str = "theft") -> list[Incident]:
    return [
        Incident(
            id=f"{tag}-{i}",
            source="gimpo-police" if kind == "theft" else "gimpo-fire",
            type=kind,
            severity=3,
            occurred_at=datetime.now(UTC),
            code=OTHERS[i % len(OTHERS)] if kind == "theft" else JANGGI,
        )
        for i in range(n)
    ]


async def scalar(dsn: str, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def incident_ids(body: Any) -> list[str]:
    """The incident ids of an ``/api/events`` answer (every event of it must be an incident)."""
    ids = []
    for event in EventsResponse.model_validate(body).events:
        assert event.incident is not None, event
        ids.append(event.incident.id)
    return ids


def same_values(a: ScoreUpdate, b: ScoreUpdate) -> bool:
    return (
        a.composite == b.composite
        and a.domains == b.domains
        and a.groups == b.groups
        and a.safety == b.safety
        and a.vulnerability == b.vulnerability
        and a.coping_lack == b.coping_lack
        and a.confidence == b.confidence
        and a.freshness_s == b.freshness_s
    )


async def test_history_time_travel_api_and_replay_equal_live(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    city_path = instant_alerts_city(tmp_path)
    # every tick publishes every district, so replay must also reproduce pure decay
    settings = isolated_settings(
        kafka_bootstrap, pg_dsn, tmp_path, city=city_path, tick_min_change=0.0
    )
    await add_user(pg_dsn, "lee", "analyst")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    stop_sink = asyncio.Event()
    sink = asyncio.create_task(run_sink(settings, stop_sink))
    try:
        async with (
            Gateway(settings) as gateway,
            TopicReader(settings, settings.topics.scores) as scores,
        ):
            base = f"http://127.0.0.1:{gateway.port}"
            url = f"ws://127.0.0.1:{gateway.port}/ws"
            await all_districts_served(url, worker, LEE)

            # three waves, a second apart; the second re-sends the first wave (re-delivery)
            first = wave("w1", 6)
            await produce(settings, settings.topics.incidents, first)
            await asyncio.sleep(1.5)
            await produce(settings, settings.topics.incidents, first + wave("fire", 4, "fire"))
            await asyncio.sleep(1.5)
            await produce(settings, settings.topics.incidents, wave("w3", 6))

            # the fire burst opens a threshold alert; acknowledge it through a websocket client
            await eventually(
                lambda: _alert_state(base, "firing"), within=30, interval=0.5, watch=[worker]
            )
            _, body = await aget(base, "/api/alerts", state="firing")
            alert = AlertsResponse.model_validate(body).alerts[0]
            async with websockets.connect(url, max_size=None, additional_headers=LEE) as ws:
                await ws.recv()
                await ws.send(
                    json.dumps(
                        {
                            "type": "ack",
                            "alert_id": alert.id,
                            "district": alert.district,
                        }
                    )
                )
                await eventually(
                    lambda: _alert_state(base, "acknowledged"), within=30, watch=[worker]
                )
            await asyncio.sleep(2.5)  # a few ticks of decay
            worker.stop()

            # every published update, and the sink has stored exactly those
            while await scores.poll(1.0):
                pass
            published = [ScoreUpdate.model_validate_json(v) for v in scores.values]
            await eventually(
                lambda: _is(
                    scalar(pg_dsn, "SELECT count(*) FROM score_updates WHERE series='live'"),
                    len(published),
                ),
                within=30,
            )

            # re-delivery: 6 + 4 + 6 incidents stored, w1 once
            stored = await scalar(pg_dsn, "SELECT count(*) FROM events WHERE kind='incident'")
            assert stored == 16
            status, body = await aget(
                base,
                "/api/events",
                district=OTHERS[0],
                kind="incident",
                **{"from": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            )
            assert status == 200
            ids = incident_ids(body)
            assert sorted(ids) == ["w1-0", "w1-3", "w3-0", "w3-3"]

            # the same as CSV, one row a page, following the X-Riskmon-Next header
            csv_ids: list[str] = []
            after: str | None = None
            while True:
                query = {"district": OTHERS[0], "kind": "incident", "format": "csv", "limit": "1"}
                query["from"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
                if after:
                    query["after"] = after
                ctype, headers, text = await asyncio.to_thread(get_text, base, "/api/events", query)
                assert ctype == "text/csv; charset=utf-8"
                csv_ids += [row["id"] for row in csv.DictReader(io.StringIO(text))]
                after = headers.get("X-Riskmon-Next")
                if after is None:
                    break
            assert csv_ids == incident_ids(body)

            # time travel: at each of a few instants, every district as last published by then
            times = sorted({u.as_of for u in published})
            for at in (times[len(times) // 3], times[len(times) // 2], times[-1]):
                at_q = at + timedelta(microseconds=1)
                status, body = await aget(base, "/api/scores", at=at_q.isoformat())
                assert status == 200
                answer = ScoresAtResponse.model_validate(body)
                expected = {}
                for u in sorted(published, key=lambda u: (u.as_of, u.seq)):
                    if u.as_of <= at_q:
                        expected[u.district] = u
                assert {u.district: u for u in answer.districts} == expected
                assert answer.missing == sorted(set(answer.missing))
            assert {u.model_version for u in answer.districts} == {published[0].model_version}

            # history of the fire domain at 1 s steps: the step function of what was published
            fire = sorted(
                (u for u in published if u.district == JANGGI), key=lambda u: (u.as_of, u.seq)
            )
            start = fire[0].as_of.replace(microsecond=0)
            end = fire[-1].as_of + timedelta(seconds=2)
            status, body = await aget(
                base,
                f"/api/districts/{JANGGI}/history",
                domain="fire",
                step="1s",
                **{"from": start.isoformat(), "to": end.isoformat()},
            )
            assert status == 200
            hist = HistoryResponse.model_validate(body)
            assert hist.points[-1].value == fire[-1].domains["fire"].risk
            assert max(p.max or 0 for p in hist.points) == max(u.domains["fire"].risk for u in fire)
            assert sum(p.updates for p in hist.points) == len(fire)

            # the alert's lifecycle is stored
            status, body = await aget(base, f"/api/alerts/{urllib.parse.quote(alert.id)}")
            changes = [a.change for a in AlertHistoryResponse.model_validate(body).changes]
            assert "fired" in changes
            assert changes[-1] == "acknowledged"

            # 4xx answers name the parameter
            for path, params, code, parameter in [
                ("/api/scores", {"at": "yesterday"}, 400, "at"),
                ("/api/scores", {"at": "2026-11-25T10:00:00"}, 400, "at"),
                (f"/api/districts/{JANGGI}/history", {"domain": "volcano"}, 400, "domain"),
                (f"/api/districts/{JANGGI}/history", {"step": "1s"}, 400, "step"),
                ("/api/districts/1234567890/history", {}, 404, None),
                ("/api/alerts", {"state": "open"}, 400, "state"),
                ("/api/events", {"limit": "0"}, 400, "limit"),
                ("/api/events", {"colour": "red"}, 400, "colour"),
                ("/api/alerts/no-such-alert", {}, 404, None),
            ]:
                status, body = await aget(base, path, **params)
                error = ApiError.model_validate(body)
                assert (status, error.parameter) == (code, parameter), (path, params, body)

            # replay with the live model reproduces the live history exactly
            config = load_city_config(city_path)
            conn = await asyncpg.connect(pg_dsn)
            try:
                plan = ReplayPlan(
                    series="replay:test",
                    model_version=default_model_version(config.params),
                    start=times[0],
                    end=times[-1] + timedelta(seconds=1),
                    every=None,
                )
                report = await run_replay(conn, config.city.model_districts(), config.params, plan)
                rows = await conn.fetch(
                    "SELECT payload FROM score_updates WHERE series='replay:test'"
                )
            finally:
                await conn.close()
            assert report.updates == len(published)
            assert report.skipped_instants == 0
            assert {u.reason for u in published} == {"recovered", "events", "tick"}
            replayed = {
                (u.district, u.seq): u
                for u in (ScoreUpdate.model_validate_json(r["payload"]) for r in rows)
            }
            assert replayed.keys() == {(u.district, u.seq) for u in published}
            different = [u for u in published if not same_values(u, replayed[u.district, u.seq])]
            assert different == []
            status, body = await aget(
                base,
                f"/api/districts/{JANGGI}/history",
                domain="fire",
                step="1s",
                series="replay:test",
                **{"from": start.isoformat(), "to": end.isoformat()},
            )
            again = HistoryResponse.model_validate(body)
            assert [p.value for p in again.points] == [p.value for p in hist.points]
    finally:
        worker.stop()
        stop_sink.set()
        await asyncio.wait_for(sink, 15)


async def _alert_state(base: str, state: str) -> bool:
    status, body = await aget(base, "/api/alerts", state=state)
    return status == 200 and bool(body["alerts"])


async def _is(value: Any, expected: object) -> bool:
    return bool(await value == expected)


async def test_api_on_a_database_without_tables_says_to_migrate(pg_dsn: str) -> None:
    api = HistoryApi(Settings(pg_dsn=pg_dsn), [JANGGI], ["composite"])
    try:
        status, body = await api.handle("/api/scores", "", ADMIN)
        assert status == 503
        assert "riskmon db migrate" in json.loads(body)["detail"]
        conn = await db.connect(pg_dsn)
        await db.migrate(conn)
        await conn.close()
        status, body = await api.handle("/api/scores", "", ADMIN)
        assert status == 200
        assert ScoresAtResponse.model_validate_json(body).missing == [JANGGI]
    finally:
        await api.close()
