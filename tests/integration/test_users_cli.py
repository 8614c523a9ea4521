"""``riskmon users`` as a process against PostgreSQL: add with --password-stdin, list, set-role,
disable; the audit rows; the password in no output."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard_ws.security.passwords import PasswordHasher
from streams.persistence import accounts, db

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-test-passphrase-42"
NOW = datetime.now(UTC)


def riskmon(dsn: str, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RISKMON_PG_DSN": dsn}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "users", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


async def test_users_add_list_set_role_disable(pg_dsn: str) -> None:
    added = riskmon(pg_dsn, "add", "ana", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added ana (operator)"

    again = riskmon(pg_dsn, "add", "ana", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1
    assert "exists already" in again.stderr

    listed = riskmon(pg_dsn, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "STATE", "AGENCY", "CREATED"]
    assert lines[1].split()[:4] == ["ana", "operator", "active", "-"]

    conn = await db.connect(pg_dsn)
    try:  # a session of ana's, as a login at the gateway would store it
        await accounts.create_session(
            conn,
            b"\x01" * 32,
            "ana",
            created_at=NOW,
            expires_at=NOW + timedelta(hours=1),
            address=None,
        )
    finally:
        await conn.close()
    changed = riskmon(pg_dsn, "set-role", "ana", "analyst").stdout.strip()
    assert changed == "ana: operator -> analyst; its sessions ended"
    conn = await db.connect(pg_dsn)
    try:  # a new role starts with a new login
        assert await accounts.lookup_session(conn, b"\x01" * 32) is None
    finally:
        await conn.close()
    assert riskmon(pg_dsn, "disable", "ana").returncode == 0
    missing = riskmon(pg_dsn, "disable", "nobody")
    assert missing.returncode == 1
    assert "no user named 'nobody'" in missing.stderr
    assert riskmon(pg_dsn, "list").stdout.splitlines()[1].split()[:3] == [
        "ana",
        "analyst",
        "disabled",
    ]

    conn = await db.connect(pg_dsn)
    try:
        user = await accounts.get_user(conn, "ana")
        assert user is not None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PasswordHasher().verify(user.password_hash, PASSWORD)
        rows = await accounts.query_audit(conn)
    finally:
        await conn.close()
    assert [(r.actor, r.action, r.target) for r in reversed(rows)] == [
        ("cli", "user.add", "ana"),
        ("cli", "user.set_role", "ana"),
        ("cli", "user.disable", "ana"),
    ]
    assert rows[1].detail == {"from": "operator", "to": "analyst"}
    for result in (added, again, listed):
        assert PASSWORD not in result.stdout + result.stderr
    assert PASSWORD not in str([r.detail for r in rows])


async def test_an_inspector_with_an_agency(pg_dsn: str) -> None:
    added = riskmon(
        pg_dsn,
        "add",
        "park",
        "--role",
        "inspector",
        "--agency",
        "gimpo-safety",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added park (inspector, agency gimpo-safety)"
    assert riskmon(pg_dsn, "list").stdout.splitlines()[1].split()[:4] == [
        "park",
        "inspector",
        "active",
        "gimpo-safety",
    ]
    bad = riskmon(pg_dsn, "add", "lee", "--role", "inspector", "--agency", " x", "--password-stdin")
    assert bad.returncode == 2
    assert "bad agency" in bad.stderr
    changed = riskmon(pg_dsn, "set-agency", "park", "gimpo-bridges")
    assert changed.stdout.strip() == "park: agency gimpo-safety -> gimpo-bridges"
    assert riskmon(pg_dsn, "set-agency", "park", "-").stdout.strip() == (
        "park: agency gimpo-bridges -> -"
    )
    assert riskmon(pg_dsn, "set-agency", "nobody", "x").returncode == 1
    conn = await db.connect(pg_dsn)
    try:
        user = await accounts.get_user(conn, "park")
        rows = await accounts.query_audit(conn, limit=10, action="user.set_agency")
    finally:
        await conn.close()
    assert user is not None
    assert (user.role, user.agency) == ("inspector", None)
    assert [r.detail for r in reversed(rows)] == [
        {"from": "gimpo-safety", "to": "gimpo-bridges"},
        {"from": "gimpo-bridges", "to": None},
    ]
