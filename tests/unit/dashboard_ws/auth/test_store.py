"""MemoryAccountStore keeps PgAccountStore's contract (tests/integration/test_accounts.py checks
the PostgreSQL side of the same behaviours)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dashboard_ws.auth.store import AccountStore, MemoryAccountStore
from dashboard_ws.security.sessions import new_session, token_digest
from streams.persistence.accounts import User

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


def user(name: str, role: str = "operator", *, disabled: bool = False) -> User:
    return User(1, name, role, disabled, T0, T0, HASH)


def store(*users: User) -> MemoryAccountStore:
    return MemoryAccountStore(list(users) or [user("ana")])


async def add_session(
    accounts: MemoryAccountStore,
    name: str = "ana",
    *,
    max_s: float = 3600,
    address: str | None = "10.0.0.7",
) -> tuple[str, bytes]:
    token, session = new_session(name, T0, idle_s=60, max_s=max_s, address=address)
    assert await accounts.create_session(
        session.token_hash, name, created_at=T0, expires_at=session.expires_at, address=address
    )
    return token, session.token_hash


async def test_users_are_found_by_exact_name() -> None:
    accounts: AccountStore = store(user("ana", "admin"))  # mypy checks the protocol
    found = await accounts.get_user("ana")
    assert found is not None
    assert (found.name, found.role, found.disabled) == ("ana", "admin", False)
    assert await accounts.get_user("ANA") is None
    assert await accounts.get_user("bo") is None
    assert await MemoryAccountStore().get_user("ana") is None


async def test_a_new_password_hash_is_stored_for_a_known_user_only() -> None:
    accounts = store()
    later = T0 + timedelta(days=1)
    await accounts.set_password_hash("ana", "$argon2id$new", later)
    found = await accounts.get_user("ana")
    assert found is not None
    assert (found.password_hash, found.updated_at, found.created_at) == ("$argon2id$new", later, T0)
    await accounts.set_password_hash("nobody", "$argon2id$new", later)
    assert await accounts.get_user("nobody") is None


async def test_sessions_are_found_by_token_digest_touched_and_ended() -> None:
    accounts = store()
    token, token_hash = await add_session(accounts)
    assert token_hash == token_digest(token)
    assert token.encode() not in repr(accounts.sessions).encode()  # only the digest is kept
    stored = await accounts.lookup_session(token_hash)
    assert stored is not None
    assert (stored.user, stored.role, stored.user_disabled, stored.address) == (
        "ana",
        "operator",
        False,
        "10.0.0.7",
    )
    assert (stored.created_at, stored.last_seen) == (T0, T0)
    assert stored.expires_at == T0 + timedelta(hours=1)

    # A use moves last_seen forward, never back.
    await accounts.touch_sessions([token_hash], T0 + timedelta(seconds=30))
    await accounts.touch_sessions([token_hash], T0 + timedelta(seconds=10))
    stored = await accounts.lookup_session(token_hash)
    assert stored is not None
    assert stored.last_seen == T0 + timedelta(seconds=30)
    assert stored.expires_at == T0 + timedelta(hours=1)  # a use never moves the absolute end

    # A lookup sees the user's current role and state.
    accounts.users["ana"] = replace(accounts.users["ana"], role="viewer", disabled=True)
    stored = await accounts.lookup_session(token_hash)
    assert stored is not None
    assert (stored.role, stored.user_disabled) == ("viewer", True)

    assert await accounts.delete_session(token_hash)
    assert not await accounts.delete_session(token_hash)
    assert await accounts.lookup_session(token_hash) is None
    await accounts.touch_sessions([token_hash], T0)  # a gone session is not brought back
    assert await accounts.lookup_session(token_hash) is None


async def test_no_session_for_unknown_or_disabled_users() -> None:
    accounts = store(user("ana"), user("off", disabled=True))
    assert not await accounts.create_session(
        b"\x00" * 32, "nobody", created_at=T0, expires_at=T0, address=None
    )
    assert not await accounts.create_session(
        b"\x01" * 32, "off", created_at=T0, expires_at=T0, address=None
    )
    assert accounts.sessions == {}


async def test_a_removed_users_sessions_are_not_found() -> None:
    accounts = store(user("ana"), user("bo"))
    _, token_hash = await add_session(accounts, "bo")
    del accounts.users["bo"]
    assert await accounts.lookup_session(token_hash) is None


async def test_many_sessions_are_looked_up_and_touched_at_once() -> None:
    accounts = store(user("ana"), user("bo", "admin"))
    _, a = await add_session(accounts, "ana")
    _, b = await add_session(accounts, "bo")
    missing = b"\x02" * 32
    found = await accounts.lookup_sessions([a, missing, b])
    assert set(found) == {a, b}
    assert (found[a].user, found[b].user, found[b].role) == ("ana", "bo", "admin")
    assert await accounts.lookup_sessions([]) == {}
    later = T0 + timedelta(seconds=5)
    await accounts.touch_sessions([a, missing], later)
    found = await accounts.lookup_sessions([a, b])
    assert (found[a].last_seen, found[b].last_seen) == (later, T0)
    assert missing not in accounts.sessions


async def test_expired_sessions_are_deleted_absolute_or_idle() -> None:
    accounts = store()
    _, short = await add_session(accounts, max_s=100)  # ends at T0 + 100 s
    _, idle = await add_session(accounts)
    _, used = await add_session(accounts)
    await accounts.touch_sessions([used], T0 + timedelta(seconds=70))
    now = T0 + timedelta(seconds=100)  # idle_s = 60: idle since T0 is over, used at +70 is not
    assert await accounts.delete_expired_sessions(now, 60) == 2
    assert set(accounts.sessions) == {used}
    assert short not in accounts.sessions
    assert idle not in accounts.sessions
    assert await accounts.delete_expired_sessions(now, 60) == 0
    # The boundaries count as expired, as in SQL (<=).
    assert await accounts.delete_expired_sessions(T0 + timedelta(seconds=130), 60) == 1


async def test_audit_rows_are_written_and_queried_newest_first() -> None:
    accounts = store()
    detail = {"n": 0}
    for n in range(5):
        detail = {"n": n}
        await accounts.audit(
            at=T0 + timedelta(minutes=n),
            actor="cli" if n % 2 else "ana",
            action="login.failed" if n < 3 else "role.set",
            target="bo",
            address="10.0.0.7" if n % 2 == 0 else None,
            detail=detail,
        )
    detail["n"] = 99  # the row kept a copy
    rows = await accounts.query_audit(limit=3)
    assert [r.detail["n"] for r in rows] == [4, 3, 2]
    assert (rows[0].at, rows[0].address, rows[0].target) == (
        T0 + timedelta(minutes=4),
        "10.0.0.7",
        "bo",
    )
    assert len({r.id for r in await accounts.query_audit(limit=10)}) == 5
    assert [r.detail["n"] for r in await accounts.query_audit(limit=10, actor="cli")] == [3, 1]
    rows = await accounts.query_audit(limit=10, action="role.set")
    assert [r.detail["n"] for r in rows] == [4, 3]
    rows = await accounts.query_audit(limit=10, actor="ana", action="login.failed")
    assert [r.detail["n"] for r in rows] == [2, 0]
    assert await accounts.query_audit(limit=0) == []
    assert await accounts.query_audit(limit=-1) == []


async def test_an_audit_row_without_detail_has_an_empty_one() -> None:
    accounts = store()
    await accounts.audit(at=T0, actor="ana", action="auth.logout")
    (row,) = await accounts.query_audit(limit=1)
    assert (row.actor, row.action, row.target, row.address, row.detail) == (
        "ana",
        "auth.logout",
        None,
        None,
        {},
    )


async def test_audit_rows_are_ordered_by_time_then_by_insertion_as_in_sql() -> None:
    # PgAccountStore: ORDER BY at DESC, id DESC.
    accounts = store()
    await accounts.audit(at=T0 + timedelta(minutes=2), actor="ana", action="late")
    await accounts.audit(at=T0 + timedelta(minutes=1), actor="ana", action="early")
    await accounts.audit(at=T0 + timedelta(minutes=2), actor="ana", action="late, written after")
    rows = await accounts.query_audit(limit=3)
    assert [r.action for r in rows] == ["late, written after", "late", "early"]
    assert [r.action for r in await accounts.query_audit(limit=1, actor="ana")] == [
        "late, written after"
    ]
