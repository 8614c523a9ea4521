"""Field reports on the real stack (gateway, Kafka-protocol broker, PostgreSQL): a report becomes
one fact on the safety topic, a resend gives the same answer and publishes nothing new, roles and
agencies are enforced, photos are size- and type-checked and lose their GPS position, and the
structure search finds the facts in history.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from PIL import Image

from dashboard_ws.field.routes import MAX_BODY
from dashboard_ws.server import Gateway
from streams.contract import SAFETY_FACT, InspectionFact, LocatedEvent
from streams.persistence import accounts, db
from streams.persistence.writes import StoredEvent, write_events
from streams.settings import Settings
from tests.integration.auth import bearer
from tests.integration.harness import TopicReader, eventually, isolated_settings
from tests.integration.test_access_control import arequest, login

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
JANGGI = (37.6385, 126.6791)  # a point in 장기동 (4157056000)
GPS_IFD = 0x8825


async def add_user(pg_dsn: str, name: str, role: str, agency: str | None = None) -> None:
    from dashboard_ws.security.passwords import PasswordHasher

    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        hashed = PasswordHasher().hash(PASSWORD)
        added = await accounts.add_user(conn, name, role, hashed, datetime.now(UTC), agency)
        assert added is not None
        assert added.agency == agency
    finally:
        await conn.close()


@pytest.fixture
async def field(
    kafka_bootstrap: str, pg_dsn: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, str]]:
    settings = isolated_settings(kafka_bootstrap, pg_dsn, tmp_path)
    await add_user(pg_dsn, "park", "inspector", "gimpo-safety")
    await add_user(pg_dsn, "nam", "inspector")  # no agency
    await add_user(pg_dsn, "vic", "viewer", "gimpo-safety")
    await add_user(pg_dsn, "kim", "operator", "gimpo-fire")
    async with Gateway(settings) as gateway:
        yield settings, f"http://127.0.0.1:{gateway.port}"


def report(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "report_id": str(uuid.uuid4()),
        "kind": "inspection",
        "structure_id": "GP-BRIDGE-7",
        "grade": "D",
        "lat": JANGGI[0],
        "lon": JANGGI[1],
        "observed_at": datetime.now(UTC).isoformat(),
        "note": "균열 3곳 (cracks at three piers)",
    }
    body.update(extra)
    return body


def jpeg_with_gps(size: tuple[int, int] = (320, 240)) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "Field Phone 9"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (37.0, 38.0, 18.6), 3: "E", 4: (126.0, 40.0, 44.8)})
    out = io.BytesIO()
    Image.new("RGB", size, (90, 120, 160)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def b64(data: bytes) -> dict[str, str]:
    return {"data": base64.b64encode(data).decode()}


async def post(
    settings: Settings, base: str, user: str, role: str, body: dict[str, Any]
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer(settings, user, role)}"}
    status, _, answer = await arequest(
        base, "/api/field/reports", method="POST", body=body, headers=headers
    )
    return status, answer


async def safety_records(settings: Settings, expect: int) -> list[bytes]:
    async with TopicReader(settings, settings.topics.safety) as reader:

        async def enough() -> bool:
            await reader.poll(0.3)
            return len(reader.values) >= expect

        await eventually(enough, within=20)
        await reader.poll(1.0)  # anything more that would be there
        return reader.values


async def test_a_report_is_published_once_and_a_resend_answers_the_same(
    field: tuple[Settings, str],
) -> None:
    settings, base = field
    body = report()
    status, first = await post(settings, base, "park", "inspector", body)
    assert status == 201, first
    assert first["status"] == "published"
    assert first["duplicate"] is False
    assert first["district"] == "4157056000"
    fact = InspectionFact.model_validate(first["fact"])
    assert (fact.source, fact.id, fact.grade) == ("gimpo-safety", f"park:{body['report_id']}", "D")

    status, again = await post(settings, base, "park", "inspector", body)  # a lost answer
    assert status == 200, again
    assert again["duplicate"] is True
    assert again["fact"] == first["fact"]
    assert again["fact_id"] == first["fact_id"]

    records = await safety_records(settings, expect=1)
    assert len(records) == 1, records
    assert SAFETY_FACT.validate_json(records[0]) == fact

    # another report under the same client id is refused, not merged
    status, conflict = await post(settings, base, "park", "inspector", {**body, "grade": "E"})
    assert status == 409, conflict
    assert "another report" in conflict["detail"]

    # operators may report too (a role above inspector), as their own agency
    status, by_kim = await post(settings, base, "kim", "operator", report())
    assert status == 201
    assert by_kim["source"] == "gimpo-fire"

    conn = await asyncpg.connect(settings.require_pg_dsn())
    try:
        row = await conn.fetchrow(
            "SELECT status, fact, note, published_at FROM field_reports WHERE report_id = $1",
            body["report_id"],
        )
        audit = await conn.fetch(
            "SELECT actor, target, detail FROM audit WHERE action = 'field.report' ORDER BY id"
        )
    finally:
        await conn.close()
    assert row["status"] == "published"
    assert row["published_at"] is not None
    assert row["fact"].encode() == records[0]  # the stored bytes are the published bytes
    assert row["note"] == body["note"]
    assert [(a["actor"], a["target"]) for a in audit] == [
        ("park", fact.id),
        ("kim", by_kim["fact_id"]),
    ]
    assert json.loads(audit[0]["detail"])["grade"] == "D"


async def test_roles_agency_and_same_origin(field: tuple[Settings, str]) -> None:
    settings, base = field
    status, answer = await post(settings, base, "vic", "viewer", report())
    assert (status, answer["error"]) == (403, "forbidden")
    assert "inspector" in answer["detail"]
    status, answer = await post(settings, base, "nam", "inspector", report())
    assert status == 403
    assert "no agency" in answer["detail"]
    status, _, answer = await arequest(
        base,
        "/api/field/structures?q=GP",
        headers={"Authorization": f"Bearer {bearer(settings, 'vic', 'viewer')}"},
    )
    assert status == 403

    # a browser session must come from the gateway's own page (CSRF)
    cookie, _ = await login(base, "park", PASSWORD)
    status, _, answer = await arequest(
        base,
        "/api/field/reports",
        method="POST",
        body=report(),
        headers={"Cookie": cookie, "Origin": "http://evil.example"},
    )
    assert status == 403, answer
    status, _, answer = await arequest(
        base, "/api/field/reports", method="POST", body=report(), headers={"Cookie": cookie}
    )
    assert status == 403, answer  # no Origin with only a cookie
    status, _, answer = await arequest(
        base,
        "/api/field/reports",
        method="POST",
        body=report(),
        headers={"Cookie": cookie, "Origin": base},
    )
    assert status == 201, answer

    # a place outside the city, a time in the future
    status, answer = await post(settings, base, "park", "inspector", report(lat=35.1, lon=129.0))
    assert status == 400
    assert "outside" in answer["detail"]
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    status, answer = await post(settings, base, "park", "inspector", report(observed_at=ahead))
    assert status == 400
    assert "ahead" in answer["detail"]
    assert await safety_count(settings) == 1  # only the one accepted report


async def safety_count(settings: Settings) -> int:
    async with TopicReader(settings, settings.topics.safety) as reader:
        await reader.poll(1.5)
        return len(reader.values)


async def test_photos_checked_and_stripped(field: tuple[Settings, str]) -> None:
    settings, base = field
    status, answer = await post(
        settings, base, "park", "inspector", report(photos=[b64(b"GIF89a" + bytes(100))])
    )
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    too_big = b"\xff\xd8\xff" + bytes(5 * 1024 * 1024)
    status, answer = await post(settings, base, "park", "inspector", report(photos=[b64(too_big)]))
    assert (status, answer["error"]) == (413, "too_large")
    status, answer = await post(
        settings, base, "park", "inspector", report(photos=[{"data": "not base64!"}])
    )
    assert status == 400
    status, answer = await too_large_body(base, bearer(settings, "park", "inspector"))
    assert status == 413, answer

    original = jpeg_with_gps()
    stripped_report = report(photos=[b64(original), b64(original)])
    status, answer = await post(settings, base, "park", "inspector", stripped_report)
    assert status == 201, answer
    assert answer["photos"] == 2
    kept_report = report(photos=[b64(original)], keep_location=True)
    status, kept = await post(settings, base, "park", "inspector", kept_report)
    assert status == 201, kept

    conn = await asyncpg.connect(settings.require_pg_dsn())
    try:
        rows = await conn.fetch(
            """SELECT r.report_id, p.content_type, p.size, p.location_kept, p.data
               FROM field_photos p JOIN field_reports r ON r.id = p.report ORDER BY r.id, p.n"""
        )
    finally:
        await conn.close()
    assert len(rows) == 3
    for row in rows[:2]:
        assert row["report_id"] == stripped_report["report_id"]
        assert row["content_type"] == "image/jpeg"
        assert not row["location_kept"]
        with Image.open(io.BytesIO(row["data"])) as image:
            assert not image.getexif().get_ifd(GPS_IFD)
            assert image.size == (320, 240)
        assert b"Field Phone 9" not in row["data"]
    assert rows[2]["location_kept"]
    assert bytes(rows[2]["data"]) == original


async def too_large_body(base: str, token: str) -> tuple[int, Any]:
    """A report announcing more than MAX_BODY bytes: refused from its head, never read."""
    host, port = base.removeprefix("http://").split(":")

    def send() -> bytes:
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                (
                    f"POST /api/field/reports HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {MAX_BODY + 1}\r\n\r\n"
                ).encode()
            )
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            return data

    raw = await asyncio.to_thread(send)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body) if body else None


async def test_structure_search_finds_facts_in_history(field: tuple[Settings, str]) -> None:
    settings, base = field
    now = datetime.now(UTC)
    conn = await db.connect(settings.require_pg_dsn())
    try:
        await db.migrate(conn)
        epoch = await db.current_epoch(conn)
        events = []
        for n, (sid, lat, lon, grade) in enumerate(
            [
                ("GP-BRIDGE-7", 37.6390, 126.6795, "C"),
                ("GP-TUNNEL-2", 37.6420, 126.6800, "B"),
                ("GP-FAR-1", 37.75, 126.55, "A"),
            ]
        ):
            located = LocatedEvent.model_validate(
                {
                    "kind": "safety",
                    "district": "4157056000",
                    "received_at": now,
                    "origin": f"t/0/{n}",
                    "safety": {
                        "fact": "inspection",
                        "id": f"I-{n}",
                        "source": "gimpo-safety",
                        "structure_id": sid,
                        "grade": grade,
                        "effective_at": (now - timedelta(days=n)).isoformat(),
                        "lat": lat,
                        "lon": lon,
                    },
                }
            )
            events.append(StoredEvent(located, 0, n))
        await write_events(conn, epoch, events)
    finally:
        await conn.close()
    headers = {"Authorization": f"Bearer {bearer(settings, 'park', 'inspector')}"}
    query = f"/api/field/structures?lat={JANGGI[0]}&lon={JANGGI[1]}"
    status, _, near = await arequest(base, query, headers=headers)
    assert status == 200, near
    assert [s["id"] for s in near["structures"]] == ["GP-BRIDGE-7", "GP-TUNNEL-2"]
    first = near["structures"][0]
    assert first["grade"] == "C"
    assert first["district_name"] == "장기동"
    assert 0 < first["distance_m"] < 100
    status, _, by_id = await arequest(base, "/api/field/structures?q=far", headers=headers)
    assert [s["id"] for s in by_id["structures"]] == ["GP-FAR-1"]
    status, _, _bad = await arequest(base, "/api/field/structures?lat=1", headers=headers)
    assert status == 400
