"""Civil complaints end to end on real servers (broker, worker, sink, PostgreSQL, gateway):
complaints published with ``riskmon publish`` show in ``/api/complaints/stats`` and ``/cells``
(counted once however often they are sent, in their newest status); a broken emergency bell
lowers 장기동's safety index on ``riskmon.scores`` until its "fixed" update arrives, with the
complaint named as the driver; a bad complaint is dead-lettered with its bytes and reason."""

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

import h3
import pytest

from dashboard_ws.server import Gateway
from streams.contract import DeadLetter, FacilityFact, ScoreUpdate
from streams.persistence.sink import run_sink
from tests.cities import exact_gimpo
from tests.integration.auth import add_user, bearer, ws_headers

from .harness import (
    TopicReader,
    WorkerProcess,
    all_districts_served,
    eventually,
    isolated_settings,
    produce,
    run_riskmon,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JANGGI = "4157056000"  # 장기동
GURAE = "4157057000"  # 구래동
SAU = "4157054000"  # 사우동
CITY = exact_gimpo()


def point(code: str, nudge: float = 0.0) -> tuple[float, float]:
    p = CITY.districts[code].geometry.representative_point()
    return round(p.y + nudge, 6), round(p.x + nudge, 6)


def complaint(
    cid: str, category: str, code: str, received: datetime, **extra: Any
) -> dict[str, Any]:
    lat, lon = point(code, extra.pop("nudge", 0.0))
    data: dict[str, Any] = {
        "id": cid, "source": "gimpo-minwon", "category": category, "status": "received",
        "received_at": received.isoformat(), "updated_at": received.isoformat(),
        "lat": lat, "lon": lon,
    }  # fmt: skip
    data.update(extra)
    return data


def get(base: str, path: str, headers: dict[str, str], **params: str) -> tuple[int, str]:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def aget(base: str, path: str, headers: dict[str, str], **params: str) -> Any:
    status, body = await asyncio.to_thread(get, base, path, headers, **params)
    assert status == 200, body
    return body if params.get("format") == "csv" else json.loads(body)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


async def test_complaints_are_counted_once_and_a_broken_bell_lowers_safety_until_fixed(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    await add_user(pg_dsn, "vic", "viewer")
    await add_user(pg_dsn, "ana", "analyst")
    viewer = ws_headers(bearer(settings, "vic", "viewer"))
    analyst = ws_headers(bearer(settings, "ana", "analyst"))
    now = datetime.now(UTC).replace(microsecond=0)
    received = now - timedelta(hours=3)

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
            await all_districts_served(f"ws://127.0.0.1:{gateway.port}/ws", worker, viewer)
            updates: list[ScoreUpdate] = []

            async def janggi_with(event_id: str) -> ScoreUpdate | None:
                updates.extend(ScoreUpdate.model_validate_json(v) for v in await scores.poll())
                for u in updates:
                    if u.district == JANGGI and any(d.event_id == event_id for d in u.drivers):
                        return u
                return None

            def latest() -> ScoreUpdate:
                return max((u for u in updates if u.district == JANGGI), key=lambda u: u.seq)

            # the city's register: three emergency bells in 장기동
            lat, lon = point(JANGGI)
            register = [
                FacilityFact(
                    id=f"reg-{n}", source="gimpo-city", facility_id=f"bell-janggi-{n}",
                    facility="emergency_bell", action="added",
                    effective_at=now - timedelta(days=300), lat=lat, lon=lon,
                )
                for n in range(3)
            ]  # fmt: skip
            await produce(settings, settings.topics.safety, register)
            for fact in register:
                await eventually(
                    lambda f=fact: janggi_with(f"gimpo-city:{f.id}"), within=30, watch=[worker]
                )
            await asyncio.sleep(1.5)  # let any tick after the register arrive
            await scores.poll()
            before = latest().safety

            # a mixed file: the broken bell, and complaints that must never touch an index
            bell = complaint(
                "M-1",
                "broken_emergency_bell",
                JANGGI,
                received,
                facility_id="bell-janggi-1",
                description="button pressed, no answer",
            )
            others = [
                complaint("M-2", "road_damage", JANGGI, received, nudge=0.0004),
                complaint("M-3", "road_damage", GURAE, received),
                complaint("M-4", "noise", GURAE, received, status="in_progress",
                          updated_at=(received + timedelta(hours=1)).isoformat()),
                complaint("M-5", "illegal_dumping", SAU, received, status="closed",
                          updated_at=(received + timedelta(hours=2)).isoformat()),
            ]  # fmt: skip
            by_code = {"id": "M-6", "source": "gimpo-minwon", "category": "noise",
                       "status": "received", "received_at": received.isoformat(),
                       "updated_at": received.isoformat(), "code": SAU}  # fmt: skip
            first = write_jsonl(tmp_path / "complaints.jsonl", [bell, *others, by_code])
            checked = await asyncio.to_thread(
                run_riskmon, settings, "publish", "--check", str(first)
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
            for _ in range(2):  # the second run is a redelivery of every complaint
                sent = await asyncio.to_thread(run_riskmon, settings, "publish", str(first))
                assert sent.returncode == 0, sent.stdout + sent.stderr
                assert "6 sent" in sent.stdout, sent.stdout

            out = await eventually_value(
                lambda: janggi_with("gimpo-minwon:complaint:M-1:out"), worker
            )
            assert out.safety < before, (out.safety, before)
            assert out.delta.safety < 0

            # fixed: the bell is back in service, the index where it was
            fixed = dict(bell, status="fixed", updated_at=(now - timedelta(minutes=5)).isoformat())
            later = write_jsonl(tmp_path / "fixed.jsonl", [fixed])
            sent = await asyncio.to_thread(run_riskmon, settings, "publish", str(later))
            assert sent.returncode == 0, sent.stdout + sent.stderr
            back = await eventually_value(
                lambda: janggi_with("gimpo-minwon:complaint:M-1:fixed"), worker
            )
            assert back.safety == pytest.approx(before, abs=1e-9)
            assert back.seq > out.seq

            # a bad complaint: dead-lettered with its bytes; nothing else happens
            bad = json.dumps(dict(bell, id="M-7", category="graffiti")).encode()
            await produce(settings, settings.topics.complaints, [bad], key=b"M-7")
            async with TopicReader(settings, settings.topics.deadletter) as letters:

                async def dead() -> DeadLetter | None:
                    await letters.poll()
                    found = [DeadLetter.model_validate_json(v) for v in letters.values]
                    return next((d for d in found if d.value == bad), None)

                letter = await eventually_value(dead, worker)
            assert (letter.topic, letter.error) == (settings.topics.complaints, "schema")
            assert "category" in letter.reason

            # the API: once per (source, id), newest status, counts only
            span = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}

            async def stored() -> Any:
                stats = await aget(base, "/api/complaints/stats", viewer, **span)
                rows = {r["district"]: r for r in stats["districts"]}
                done = sum(r["total"] for r in rows.values()) == 6 and rows[JANGGI]["open"] == 1
                return stats if done else None

            stats = await eventually_value(stored, worker)
            rows = {r["district"]: r for r in stats["districts"]}
            assert len(rows) == 14
            assert rows[JANGGI]["by_category"] == {"broken_emergency_bell": 1, "road_damage": 1}
            assert rows[JANGGI]["open"] == 1  # the bell is fixed, the road still open
            assert rows[GURAE]["by_category"] == {"noise": 1, "road_damage": 1}
            assert rows[GURAE]["open"] == 2
            assert rows[SAU]["by_category"] == {"illegal_dumping": 1, "noise": 1}
            assert rows[SAU]["open"] == 1  # the closed dumping complaint is not open
            assert stats["categories"][0] in ("noise", "road_damage")
            assert "description" not in json.dumps(stats)
            only = await aget(base, "/api/complaints/stats", viewer, category="noise", **span)
            assert {r["district"]: r["total"] for r in only["districts"] if r["total"]} == {
                GURAE: 1,
                SAU: 1,
            }
            table = await aget(base, "/api/complaints/stats", viewer, format="csv", **span)
            parsed = {r["district"]: r for r in csv.DictReader(io.StringIO(table))}
            assert parsed[JANGGI]["total"] == "2"
            assert parsed[GURAE]["noise"] == "1"

            fine = await aget(base, "/api/complaints/cells", analyst, **span)
            coarse = await aget(base, "/api/complaints/cells", viewer, **span)
            assert (fine["resolution"], coarse["resolution"]) == (9, 7)
            # M-6 was placed by district code: no cell
            assert sum(c["count"] for c in fine["cells"]) == 5
            assert sum(c["count"] for c in coarse["cells"]) == 5
            assert {h3.get_resolution(c["h3"]) for c in coarse["cells"]} == {7}
            bell_cell = h3.latlng_to_cell(bell["lat"], bell["lon"], 9)
            assert {c["h3"]: c["count"] for c in fine["cells"]}.get(bell_cell, 0) >= 1

            # redelivery counted once on the index too: one removal, one return
            await scores.poll()
            outs = [u for u in updates if any(
                d.event_id == "gimpo-minwon:complaint:M-1:out" for d in u.drivers)]  # fmt: skip
            assert len(outs) == 1
            assert worker.alive, worker.log_tail()
    finally:
        stop_sink.set()
        await sink
        worker.stop()


async def eventually_value(check: Any, worker: WorkerProcess, within: float = 45) -> Any:
    """``check()``'s first truthy value within ``within`` seconds (the worker must stay alive)."""
    found: list[Any] = []

    async def probe() -> bool:
        value = await check()
        if value:
            found.append(value)
        return bool(value)

    await eventually(probe, within=within, watch=[worker])
    return found[0]
