"""Accounts, sessions and the audit trail on a real PostgreSQL (migration 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dashboard_ws.security.sessions import new_session, token_digest
from streams.persistence import accounts, db

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await db.connect(pg_dsn)
    await db.migrate(connection)
    try:
        yield connection
    finally:
        await connection.close()


async def test_users_are_added_once_listed_disabled_and_given_roles(
    conn: asyncpg.Connection,
) -> None:
    ana = await accounts.add_user(conn, "ana", "operator", HASH, T0)
    assert ana is not None
    assert (ana.name, ana.role, ana.disabled) == ("ana", "operator", False)
    assert HASH not in repr(ana)
    assert await accounts.add_user(conn, "ana", "admin", HASH, T0) is None  # name taken
    await accounts.add_user(conn, "bo", "viewer", None, T0)
    assert [u.name for u in await accounts.list_users(conn)] == ["ana", "bo"]

    assert await accounts.set_role(conn, "bo", "analyst", T0 + timedelta(1)) == "viewer"
    bo = await accounts.get_user(conn, "bo")
    assert bo is not None
    assert bo.role == "analyst"
    assert bo.updated_at == T0 + timedelta(1)
    assert await accounts.set_role(conn, "nobody", "admin", T0) is None

    assert await accounts.disable_user(conn, "ana", T0)
    assert (await accounts.get_user(conn, "ana")).disabled  # type: ignore[union-attr]
    assert not await accounts.disable_user(conn, "nobody", T0)
    assert await accounts.get_user(conn, "nobody") is None
    assert await accounts.set_password_hash(conn, "bo", HASH, T0)


async def test_the_table_refuses_unknown_roles_and_bad_names(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await accounts.add_user(conn, "cy", "root", HASH, T0)
    for name in ("Ana", "", "a b", "x" * 65, "-dash"):
        assert not accounts.USERNAME.fullmatch(name)
        with pytest.raises(asyncpg.CheckViolationError):
            await accounts.add_user(conn, name, "viewer", HASH, T0)


async def test_sessions_are_found_by_token_digest_touched_and_ended(
    conn: asyncpg.Connection,
) -> None:
    await accounts.add_user(conn, "ana", "operator", HASH, T0)
    token, session = new_session("ana", T0, idle_s=60, max_s=3600, address="10.0.0.7")
    assert await accounts.create_session(
        conn,
        session.token_hash,
        "ana",
        created_at=T0,
        expires_at=session.expires_at,
        address="10.0.0.7",
    )
    stored = await accounts.lookup_session(conn, token_digest(token))
    assert stored is not None
    assert (stored.user, stored.role, stored.user_disabled, stored.address) == (
        "ana",
        "operator",
        False,
        "10.0.0.7",
    )
    assert stored.expires_at == T0 + timedelta(hours=1)
    # Only the digest is in the table: the token itself is nowhere.
    dump = await conn.fetch("SELECT * FROM sessions")
    assert token not in str([dict(r) for r in dump])
    assert token.encode() not in dump[0]["token_hash"]

    assert await accounts.touch_session(conn, session.token_hash, T0 + timedelta(seconds=30))
    assert await accounts.touch_session(conn, session.token_hash, T0 + timedelta(seconds=10))
    stored = await accounts.lookup_session(conn, session.token_hash)
    assert stored is not None
    assert stored.last_seen == T0 + timedelta(seconds=30)

    await accounts.set_role(conn, "ana", "viewer", T0)  # a lookup sees the current role
    stored = await accounts.lookup_session(conn, session.token_hash)
    assert stored is not None
    assert stored.role == "viewer"

    assert await accounts.delete_session(conn, session.token_hash)
    assert not await accounts.delete_session(conn, session.token_hash)
    assert await accounts.lookup_session(conn, session.token_hash) is None
    assert not await accounts.touch_session(conn, session.token_hash, T0)


async def test_no_session_for_unknown_or_disabled_users_and_disabling_ends_them(
    conn: asyncpg.Connection,
) -> None:
    await accounts.add_user(conn, "ana", "operator", HASH, T0)
    hashes = [new_session("ana", T0, idle_s=60, max_s=600)[1].token_hash for _ in range(2)]
    for token_hash in hashes:
        assert await accounts.create_session(
            conn, token_hash, "ana", created_at=T0, expires_at=T0, address=None
        )
    assert not await accounts.create_session(
        conn, b"\x00" * 32, "nobody", created_at=T0, expires_at=T0, address=None
    )
    assert await accounts.disable_user(conn, "ana", T0)
    assert all([await accounts.lookup_session(conn, h) is None for h in hashes])
    assert not await accounts.create_session(
        conn, b"\x01" * 32, "ana", created_at=T0, expires_at=T0, address=None
    )


async def test_delete_sessions_of_one_user(conn: asyncpg.Connection) -> None:
    for name in ("ana", "bo"):
        await accounts.add_user(conn, name, "viewer", HASH, T0)
        for n in range(2):
            await accounts.create_session(
                conn, bytes([n, len(name)]) * 16, name, created_at=T0, expires_at=T0, address=None
            )
    assert await accounts.delete_sessions_of(conn, "ana") == 2
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 2


async def test_audit_rows_are_written_and_queried_newest_first(conn: asyncpg.Connection) -> None:
    for n in range(5):
        await accounts.audit(
            conn,
            at=T0 + timedelta(minutes=n),
            actor="cli" if n % 2 else "ana",
            action="login.failed" if n < 3 else "role.set",
            target="bo",
            address="10.0.0.7" if n % 2 == 0 else None,
            detail={"n": n},
        )
    rows = await accounts.query_audit(conn, limit=3)
    assert [r.detail["n"] for r in rows] == [4, 3, 2]
    assert rows[0].at == T0 + timedelta(minutes=4)
    assert rows[0].address == "10.0.0.7"
    assert [r.detail["n"] for r in await accounts.query_audit(conn, actor="cli")] == [3, 1]
    assert [r.detail["n"] for r in await accounts.query_audit(conn, action="role.set")] == [4, 3]
    assert await accounts.query_audit(conn, limit=0) == []
