"""`riskmon demo` as a user runs it: its lines, a login with the printed password, a full
snapshot, live scores, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import websockets
from confluent_kafka import Producer

from .harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def read_banner(
    process: subprocess.Popen[str], deadline: float
) -> tuple[dict[str, str], list[str]]:
    """The demo's ``name: value`` lines, and its ``login:`` lines (two with demo users)."""
    lines: dict[str, str] = {}
    logins: list[str] = []
    assert process.stdout is not None
    while (len(lines) < 4 or len(logins) < 2) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        name, _, value = line.strip().partition(": ")
        if name in ("kafka", "dashboard", "websocket", "city"):
            lines[name] = value
        elif name == "login":
            logins.append(value)
    return lines, logins


def login(dashboard: str, username: str, password: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{dashboard}auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_demo_prints_urls_serves_live_scores_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("RISKMON_")
    }  # embedded broker and PostgreSQL, as on a fresh machine
    env["RISKMON_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [
            *(sys.executable, "-m", "streams.cli", "demo", "--port", "0", "--no-simulator"),
            "--insecure-demo-users",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner, logins = await asyncio.to_thread(read_banner, process, time.monotonic() + 60)
        assert set(banner) == {"kafka", "dashboard", "websocket", "city"}, banner
        # login: admin / <random>  (admin; printed once, not stored)
        assert logins[0].startswith("admin / "), logins
        password = logins[0].split()[2]
        assert len(password) >= 16
        assert logins[1].startswith("demo / demo  (viewer"), logins
        status, _ = await asyncio.to_thread(login, banner["dashboard"], "admin", "wrong" * 4)
        assert status == 401
        status, viewer = await asyncio.to_thread(login, banner["dashboard"], "demo", "demo")
        assert (status, viewer["role"]) == (200, "viewer")
        status, admin = await asyncio.to_thread(login, banner["dashboard"], "admin", password)
        assert (status, admin["role"]) == (200, "admin")
        headers = {"Authorization": f"Bearer {admin['token']}"}
        # No RISKMON_CITY: the approximate Gimpo riskmon synthesizes, never ../shared's files.
        assert banner["city"].startswith("Gimpo-si 김포시 (approximate districts), 14 districts")
        assert banner["websocket"].startswith("ws://")
        assert banner["websocket"].endswith("/ws")
        started = time.monotonic()
        snapshot: dict[str, object] = {}
        while time.monotonic() - started < 60:
            async with websockets.connect(
                banner["websocket"], max_size=None, additional_headers=headers
            ) as ws:
                snapshot = json.loads(await ws.recv())
            if snapshot["type"] == "snapshot" and len(snapshot["districts"]) == 14:  # type: ignore[arg-type]
                break
            await asyncio.sleep(1)
        assert len(snapshot["districts"]) == 14  # type: ignore[arg-type]

        async with websockets.connect(
            banner["websocket"], max_size=None, additional_headers=headers
        ) as ws:
            await ws.recv()  # snapshot
            producer = Producer({"bootstrap.servers": banner["kafka"]})  # librdkafka
            incident = {
                "id": "demo-1",
                "source": "test",
                "type": "fire",
                "severity": 4,
                "occurred_at": datetime.now(UTC).isoformat(),
                "lat": 37.6385,
                "lon": 126.6791,
            }
            producer.produce("riskmon.incidents", json.dumps(incident).encode())
            assert producer.flush(10) == 0
            sent = time.monotonic()
            async with asyncio.timeout(5):
                while True:
                    message = json.loads(await ws.recv())
                    if any(  # a coalesced "scores" frame: every changed district's newest state
                        update["district"] == "4157056000"
                        and any(d["event_id"] == "test:demo-1" for d in update["drivers"])
                        for update in message.get("districts", [])
                        if message["type"] == "scores"
                    ):
                        break
            assert time.monotonic() - sent < 5

        children = psutil.Process(process.pid).children(recursive=True)
        postgres_pids = [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path) in " ".join(p.info["cmdline"] or [])
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        survivors = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        survivors += [psutil.Process(pid) for pid in postgres_pids if psutil.pid_exists(pid)]
        assert not survivors, [(p.pid, p.cmdline()) for p in survivors]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
