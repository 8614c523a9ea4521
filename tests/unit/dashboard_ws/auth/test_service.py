"""AuthService over the in-memory account store: login, limits, audit, authenticate, re-checks of
open sockets, rehash on login. No database, no server; every clock is explicit."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard_ws.auth.principal import Credentials, Principal
from dashboard_ws.auth.service import AuthService, LoginOk, LoginRefused, PasswordProvider
from dashboard_ws.auth.store import MemoryAccountStore
from dashboard_ws.security.passwords import Argon2Parameters, PasswordHasher
from dashboard_ws.security.roles import Role
from dashboard_ws.security.sessions import Claims, token_digest
from streams.persistence.accounts import StoredSession, User
from streams.settings import Settings

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
REHASHED_AT = T0 + timedelta(days=3)
SECRET = "x" * 32
PASSWORD = "correct horse battery"
WRONG = "correct horse battery!"
IDLE_S = 600.0
MAX_S = 3600.0
TTL_S = 900.0
WRONG_CREDENTIALS = LoginRefused(401, "wrong username or password")

FAST = Argon2Parameters(memory_kib=1024, time_cost=1, parallelism=1)  # tests only
OTHER = Argon2Parameters(memory_kib=2048, time_cost=1, parallelism=1)  # "old" parameters
HASHER = PasswordHasher(FAST)
HASH = HASHER.hash(PASSWORD)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class CountingProvider:
    """The password provider, counting how often a password was checked."""

    def __init__(self, inner: PasswordProvider) -> None:
        self.inner = inner
        self.calls = 0

    async def identify(self, username: str, password: str) -> User | None:
        self.calls += 1
        return await self.inner.identify(username, password)


def user(
    name: str, role: str = "operator", *, disabled: bool = False, password_hash: str = HASH
) -> User:
    return User(1, name, role, disabled, T0, T0, password_hash)


def accounts(*users: User) -> MemoryAccountStore:
    return MemoryAccountStore(list(users) or [user("ana")])


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_secret": SECRET,
        "session_idle_s": IDLE_S,
        "session_max_s": MAX_S,
        "token_ttl_s": TTL_S,
    }
    return Settings(**(values | overrides))


def service(
    store: MemoryAccountStore, clock: Clock | None = None, **overrides: Any
) -> tuple[AuthService, CountingProvider]:
    provider = CountingProvider(PasswordProvider(store, HASHER, clock=lambda: REHASHED_AT))
    auth = AuthService(settings(**overrides), store, provider=provider, monotonic=clock or Clock())
    return auth, provider


async def login_ok(auth: AuthService, name: str = "ana", at: datetime = T0) -> LoginOk:
    result = await auth.login(name, PASSWORD, "10.0.0.7", at)
    assert isinstance(result, LoginOk), result
    return result


def audit(store: MemoryAccountStore) -> list[tuple[str, str, str | None]]:
    return [(r.action, r.actor, r.address) for r in store.audit_rows]


# --- login --------------------------------------------------------------------------------------


async def test_a_login_creates_a_session_and_a_bearer_token() -> None:
    store = accounts()
    auth, _ = service(store)
    ok = await auth.login(" Ana ", PASSWORD, "10.0.0.7", T0)  # names are trimmed and lowered
    assert isinstance(ok, LoginOk)
    assert (ok.user, ok.role) == ("ana", Role.OPERATOR)
    assert len(ok.session_token) == 43
    assert ok.session.token_hash == token_digest(ok.session_token)
    assert (ok.session.user, ok.session.created_at, ok.session.expires_at) == ("ana", T0, s(MAX_S))
    assert store.sessions == {ok.session.token_hash: ("ana", T0, T0, s(MAX_S), "10.0.0.7")}
    assert ok.bearer is not None
    expires = int(s(TTL_S).timestamp())
    assert auth.signer.verify(ok.bearer, T0) == Claims("ana", Role.OPERATOR, expires)
    assert ok.bearer_expires_at == s(TTL_S)
    assert audit(store) == [("auth.login", "ana", "10.0.0.7")]
    assert store.audit_rows[0].detail == {"role": "operator"}
    assert store.audit_rows[0].at == T0


async def test_a_bearer_token_never_outlives_the_session_maximum() -> None:
    auth, _ = service(accounts(), session_max_s=300.0)
    ok = await login_ok(auth)
    assert ok.bearer_expires_at == s(300)
    assert ok.bearer is not None
    claims = auth.signer.verify(ok.bearer, T0)
    assert isinstance(claims, Claims)
    assert claims.expires == int(s(300).timestamp())


async def test_wrong_password_and_unknown_user_get_the_same_refusal() -> None:
    store = accounts()
    auth, provider = service(store)
    wrong = await auth.login("ana", WRONG, "10.0.0.7", T0)
    unknown = await auth.login("nobody", PASSWORD, "10.0.0.8", T0)
    bad_name = await auth.login("Ana Ñ!", PASSWORD, "10.0.0.8", T0)  # not a user name at all
    assert wrong == unknown == bad_name == WRONG_CREDENTIALS
    assert wrong.retry_after_s == 0.0
    assert provider.calls == 3
    assert store.sessions == {}
    assert audit(store) == [
        ("auth.login_failed", "ana", "10.0.0.7"),
        ("auth.login_failed", "nobody", "10.0.0.8"),
        ("auth.login_failed", "ana ñ!", "10.0.0.8"),
    ]


async def test_a_disabled_user_or_an_unknown_role_is_refused_with_the_right_password() -> None:
    store = accounts(user("off", disabled=True), user("odd", "root"))
    auth, _ = service(store)
    assert await auth.login("off", PASSWORD, "10.0.0.7", T0) == WRONG_CREDENTIALS
    assert await auth.login("odd", PASSWORD, "10.0.0.7", T0) == WRONG_CREDENTIALS
    assert store.sessions == {}
    assert [a for a, _, _ in audit(store)] == ["auth.login_failed", "auth.login_failed"]


async def test_a_user_disabled_after_the_password_check_gets_no_session() -> None:
    store = accounts(user("ana", disabled=True))

    class Stale:  # a provider that read the user just before it was disabled
        async def identify(self, username: str, password: str) -> User | None:
            return user("ana")

    auth = AuthService(settings(), store, provider=Stale(), monotonic=Clock())
    assert await auth.login("ana", PASSWORD, "10.0.0.7", T0) == WRONG_CREDENTIALS
    assert store.sessions == {}


# --- failed-login limits ------------------------------------------------------------------------


async def test_an_account_with_too_many_failures_is_limited_until_the_window_passes() -> None:
    store = accounts(user("ana"), user("bo"))
    clock = Clock()
    auth, provider = service(
        store,
        clock,
        login_failures_per_account=3,
        login_failures_per_address=100,
        login_window_s=60.0,
    )
    start = clock.t
    for n, name in enumerate(["ana", "ANA", " ana"]):  # one account, whatever its spelling
        clock.t = start + 10 * n
        assert await auth.login(name, WRONG, f"10.0.0.{n}", T0) == WRONG_CREDENTIALS
    clock.t = start + 30
    limited = await auth.login("ana", PASSWORD, "10.0.0.9", s(30))  # even the right password
    assert limited == LoginRefused(
        429, "too many failed logins for this account; try again in 30 s", 30.0
    )
    assert provider.calls == 3  # refused before the password was checked
    assert store.sessions == {}
    assert audit(store)[-1] == ("auth.login_limited", "ana", "10.0.0.9")
    assert store.audit_rows[-1].at == s(30)
    await login_ok(auth, "bo")  # another account is not limited

    clock.t = start + 60  # the first failure has left the window
    await login_ok(auth)


async def test_an_address_with_too_many_failures_is_limited_for_every_name() -> None:
    store = accounts(user("ana"), user("bo"))
    clock = Clock()
    auth, _ = service(store, clock, login_failures_per_account=100, login_failures_per_address=2)
    for name in ("ana", "nobody"):
        assert await auth.login(name, WRONG, "10.6.6.6", T0) == WRONG_CREDENTIALS
    limited = await auth.login("bo", PASSWORD, "10.6.6.6", T0)
    assert isinstance(limited, LoginRefused)
    assert limited.status == 429
    assert limited.detail.startswith("too many failed logins from this address; try again in")
    assert limited.retry_after_s == 900.0  # the default window, nothing has passed
    await login_ok(auth, "bo")  # from another address


async def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    auth, _ = service(accounts(), clock, login_failures_per_account=1, login_window_s=60.0)
    start = clock.t
    await auth.login("ana", WRONG, "10.0.0.7", T0)
    clock.t = start + 59.8  # 0.2 s left
    limited = await auth.login("ana", PASSWORD, "10.0.0.7", T0)
    assert limited == LoginRefused(
        429, "too many failed logins for this account; try again in 1 s", 1.0
    )


async def test_a_success_clears_the_accounts_failures_but_not_the_addresses() -> None:
    store = accounts(user("ana"), user("bo"))
    auth, _ = service(store, login_failures_per_account=3, login_failures_per_address=5)
    for _ in range(2):
        await auth.login("ana", WRONG, "10.0.0.7", T0)
    await login_ok(auth)  # ana's two failures are forgotten
    for _ in range(2):
        await auth.login("ana", WRONG, "10.0.0.7", T0)
    await login_ok(auth)  # 2 failures since the success, not 4
    # The address keeps its 4 failures: one more and it is limited, whoever logs in.
    await auth.login("ana", WRONG, "10.0.0.7", T0)
    limited = await auth.login("bo", PASSWORD, "10.0.0.7", T0)
    assert isinstance(limited, LoginRefused)
    assert limited.status == 429


# --- audit and logout ---------------------------------------------------------------------------


async def test_logout_ends_the_session_and_is_audited() -> None:
    store = accounts(user("ana"))
    auth, _ = service(store)
    ok = await login_ok(auth)
    other = await login_ok(auth)
    principal = await auth.authenticate(Credentials(session=ok.session_token), "10.0.0.8", s(1))
    assert principal is not None
    await auth.logout(principal, s(2))
    assert set(store.sessions) == {other.session.token_hash}  # only this session ended
    assert await auth.authenticate(Credentials(session=ok.session_token), None, s(3)) is None
    assert audit(store)[-1] == ("auth.logout", "ana", "10.0.0.8")
    assert (store.audit_rows[-1].at, store.audit_rows[-1].detail) == (s(2), {"via": "session"})


async def test_a_bearer_logout_ends_no_session_and_is_audited() -> None:
    store = accounts(user("ana"))
    auth, _ = service(store)
    ok = await login_ok(auth)
    principal = await auth.authenticate(Credentials(bearer=ok.bearer), "10.0.0.9", s(1))
    assert principal is not None
    await auth.logout(principal, s(2))
    assert set(store.sessions) == {ok.session.token_hash}
    assert audit(store)[-1] == ("auth.logout", "ana", "10.0.0.9")
    assert store.audit_rows[-1].detail == {"via": "bearer"}


async def test_an_audit_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryAccountStore):
        async def audit(self, **_: Any) -> None:
            raise ConnectionError("database down")

    store = Broken([user("ana")])
    auth, _ = service(store)
    with caplog.at_level(logging.ERROR, logger="dashboard_ws.auth.service"):
        await login_ok(auth)
    assert "audit_not_written" in caplog.text
    assert "auth.login" in caplog.text
    assert len(store.sessions) == 1


# --- authenticate -------------------------------------------------------------------------------


async def test_a_session_cookie_proves_its_user_and_is_touched() -> None:
    store = accounts()
    auth, _ = service(store)
    ok = await login_ok(auth)
    p = await auth.authenticate(Credentials(session=ok.session_token), "10.0.0.8", s(100))
    assert p == Principal(
        user="ana",
        role=Role.OPERATOR,
        via="session",
        ends_at=s(MAX_S),
        address="10.0.0.8",
        session_hash=ok.session.token_hash,
    )
    assert store.sessions[ok.session.token_hash][2] == s(100)  # last_seen


async def test_an_unknown_cookie_proves_nothing_and_a_bearer_is_then_tried() -> None:
    auth, _ = service(accounts())
    ok = await login_ok(auth)
    assert await auth.authenticate(Credentials(session="not-a-session"), None, s(1)) is None
    assert await auth.authenticate(Credentials(), None, s(1)) is None
    both = Credentials(session="not-a-session", bearer=ok.bearer)
    p = await auth.authenticate(both, None, s(1))
    assert p is not None
    assert p.via == "bearer"
    both = Credentials(session=ok.session_token, bearer=ok.bearer)
    p = await auth.authenticate(both, None, s(1))
    assert p is not None
    assert p.via == "session"  # the cookie first


async def test_a_session_ends_when_idle_and_use_restarts_the_idle_clock() -> None:
    store = accounts()
    auth, _ = service(store)
    ok = await login_ok(auth)
    cookie = Credentials(session=ok.session_token)
    assert await auth.authenticate(cookie, None, s(IDLE_S - 1)) is not None
    assert await auth.authenticate(cookie, None, s(2 * IDLE_S - 2)) is not None  # touched
    assert await auth.authenticate(cookie, None, s(3 * IDLE_S - 2)) is None  # idle for IDLE_S
    assert store.sessions[ok.session.token_hash][2] == s(2 * IDLE_S - 2)  # not touched again


async def test_a_session_ends_at_its_absolute_end_however_used() -> None:
    auth, _ = service(accounts())
    ok = await login_ok(auth)
    cookie = Credentials(session=ok.session_token)
    for at in range(0, int(MAX_S), int(IDLE_S) // 2):
        assert await auth.authenticate(cookie, None, s(at)) is not None
    assert await auth.authenticate(cookie, None, s(MAX_S - 1)) is not None
    assert await auth.authenticate(cookie, None, s(MAX_S)) is None


async def test_a_session_reads_the_users_current_role_and_state() -> None:
    store = accounts()
    auth, _ = service(store)
    ok = await login_ok(auth)
    cookie = Credentials(session=ok.session_token)
    store.users["ana"] = replace(store.users["ana"], role="admin")
    p = await auth.authenticate(cookie, None, s(1))
    assert p is not None
    assert p.role is Role.ADMIN
    store.users["ana"] = replace(store.users["ana"], role="root")  # not a role: no principal
    assert await auth.authenticate(cookie, None, s(2)) is None
    store.users["ana"] = replace(store.users["ana"], role="viewer", disabled=True)
    assert await auth.authenticate(cookie, None, s(3)) is None


async def test_a_bearer_token_proves_its_user_with_the_lower_of_its_and_the_stored_role() -> None:
    store = accounts(user("ana", "analyst"))
    auth, _ = service(store)
    ok = await login_ok(auth)
    token = Credentials(bearer=ok.bearer)
    p = await auth.authenticate(token, "10.0.0.9", s(10))
    assert p == Principal(
        user="ana",
        role=Role.ANALYST,
        via="bearer",
        ends_at=s(TTL_S),
        address="10.0.0.9",
        session_hash=None,
    )
    store.users["ana"] = replace(store.users["ana"], role="viewer")  # lowered: it counts
    p = await auth.authenticate(token, None, s(10))
    assert p is not None
    assert p.role is Role.VIEWER
    store.users["ana"] = replace(store.users["ana"], role="admin")  # raised: the token's counts
    p = await auth.authenticate(token, None, s(10))
    assert p is not None
    assert p.role is Role.ANALYST


async def test_a_bearer_token_of_a_disabled_or_gone_user_proves_nothing() -> None:
    store = accounts()
    auth, _ = service(store)
    ok = await login_ok(auth)
    token = Credentials(bearer=ok.bearer)
    store.users["ana"] = replace(store.users["ana"], disabled=True)
    assert await auth.authenticate(token, None, s(1)) is None
    store.users["ana"] = replace(store.users["ana"], disabled=False, role="root")
    assert await auth.authenticate(token, None, s(1)) is None
    del store.users["ana"]
    assert await auth.authenticate(token, None, s(1)) is None


async def test_a_tampered_foreign_or_expired_bearer_token_proves_nothing() -> None:
    auth, _ = service(accounts(user("ana", "viewer")))
    ok = await login_ok(auth)
    assert ok.bearer is not None
    prefix, claims, signature = ok.bearer.split(".")
    forged_claims = claims.replace(claims[5], "A" if claims[5] != "A" else "B", 1)
    for forged in (
        f"{prefix}.{forged_claims}.{signature}",
        f"{prefix}.{claims}.{signature[:-2]}AA",
        f"{prefix}.{claims}",
        "rm1.e30.x",
    ):
        assert await auth.authenticate(Credentials(bearer=forged), None, s(1)) is None
    elsewhere, _ = service(accounts(user("ana", "viewer")), auth_secret="y" * 32)
    assert await elsewhere.authenticate(Credentials(bearer=ok.bearer), None, s(1)) is None
    assert await auth.authenticate(Credentials(bearer=ok.bearer), None, s(TTL_S - 1)) is not None
    assert await auth.authenticate(Credentials(bearer=ok.bearer), None, s(TTL_S)) is None


async def test_without_a_configured_secret_tokens_hold_only_at_their_own_gateway() -> None:
    store = accounts()
    one, _ = service(store, auth_secret=None)
    two, _ = service(store, auth_secret=None)
    ok = await login_ok(one)
    assert await one.authenticate(Credentials(bearer=ok.bearer), None, s(1)) is not None
    assert await two.authenticate(Credentials(bearer=ok.bearer), None, s(1)) is None


async def test_a_new_token_for_a_principal_carries_its_role_and_expiry() -> None:
    auth, _ = service(accounts())
    principal = Principal("ana", Role.VIEWER, "session", s(MAX_S))
    token, expires = auth.issue_token(principal, s(0.5))
    assert expires == s(TTL_S)  # whole seconds, as the token carries it
    assert auth.signer.verify(token, s(1)) == Claims("ana", Role.VIEWER, int(s(TTL_S).timestamp()))


def test_tls_follows_the_settings() -> None:
    store = accounts()
    assert not service(store)[0].tls
    assert service(store, behind_tls_proxy=True)[0].tls


# --- re-checking open sockets -------------------------------------------------------------------


async def test_still_valid_names_each_ended_principal_with_its_reason() -> None:
    names = ("live", "gone", "off", "moved", "idle")
    store = accounts(*(user(name) for name in names), user("tok"), user("tokoff"), user("tokup"))
    auth, _ = service(store)
    sessions: dict[str, Principal] = {}
    for name in names:
        ok = await login_ok(auth, name)
        p = await auth.authenticate(Credentials(session=ok.session_token), None, s(1))
        assert p is not None
        sessions[name] = p
    bearers: dict[str, Principal] = {}
    for name in ("tok", "tokoff", "tokup"):
        ok = await login_ok(auth, name)
        p = await auth.authenticate(Credentials(bearer=ok.bearer), None, s(1))
        assert p is not None
        bearers[name] = p
    used = [sessions[n].session_hash or b"" for n in names if n != "idle"]
    await store.touch_sessions(used, s(400))

    await store.delete_session(sessions["gone"].session_hash or b"")
    store.users["off"] = replace(store.users["off"], disabled=True)
    store.users["moved"] = replace(store.users["moved"], role="viewer")
    store.users["tokoff"] = replace(store.users["tokoff"], disabled=True)
    store.users["tokup"] = replace(store.users["tokup"], role="admin")  # raised: still valid
    late_session = replace(sessions["live"], ends_at=s(700))
    late_bearer = replace(bearers["tok"], ends_at=s(700))
    principals = [*sessions.values(), *bearers.values(), late_session, late_bearer]
    now = s(700)  # "idle" was last used at s(1), more than IDLE_S ago; the others at s(400)
    ended = await auth.still_valid(principals, now)
    assert ended == {
        1: "logged out",
        2: "account disabled",
        3: "role changed; log in again",
        4: "session expired (idle)",
        6: "account disabled",
        8: "session expired",
        9: "token expired",
    }
    # The live session was touched; the ended ones were not.
    assert store.sessions[sessions["live"].session_hash or b""][2] == now
    assert store.sessions[sessions["off"].session_hash or b""][2] == s(400)
    assert store.sessions[sessions["idle"].session_hash or b""][2] == s(1)
    assert sessions["gone"].session_hash not in store.sessions


async def test_still_valid_with_nothing_open_or_only_live_ones() -> None:
    store = accounts()
    auth, _ = service(store)
    assert await auth.still_valid([], T0) == {}
    ok = await login_ok(auth)
    p = await auth.authenticate(Credentials(session=ok.session_token), None, s(1))
    b = await auth.authenticate(Credentials(bearer=ok.bearer), None, s(1))
    assert p is not None
    assert b is not None
    assert await auth.still_valid([p, b, p], s(IDLE_S)) == {}
    assert store.sessions[ok.session.token_hash][2] == s(IDLE_S)


# --- rehash on login ----------------------------------------------------------------------------


async def test_a_hash_with_old_parameters_is_replaced_after_a_successful_login() -> None:
    old = PasswordHasher(OTHER).hash(PASSWORD)
    store = accounts(user("ana", password_hash=old))
    auth, _ = service(store)
    assert await auth.login("ana", WRONG, "10.0.0.7", T0) == WRONG_CREDENTIALS
    assert store.users["ana"].password_hash == old  # a failed login changes nothing
    await login_ok(auth)
    new = store.users["ana"].password_hash
    assert new is not None
    assert new.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert HASHER.verify(new, PASSWORD)
    assert not HASHER.needs_rehash(new)
    assert store.users["ana"].updated_at == REHASHED_AT
    await login_ok(auth)  # and the new hash still logs in


async def test_a_hash_with_the_current_parameters_is_kept() -> None:
    store = accounts(user("ana"))
    auth, _ = service(store)
    await login_ok(auth)
    assert store.users["ana"].password_hash == HASH
    assert store.users["ana"].updated_at == T0


async def test_a_bearer_socket_ends_when_its_user_is_demoted_not_when_promoted() -> None:
    store = accounts(user("ana", "analyst"))
    auth, _ = service(store)
    ok = await login_ok(auth)
    bearer = await auth.authenticate(Credentials(bearer=ok.bearer), None, s(1))
    assert bearer is not None
    assert bearer.role.value == "analyst"
    store.users["ana"] = replace(store.users["ana"], role="admin")
    assert await auth.still_valid([bearer], s(2)) == {}  # the token keeps its lower role
    store.users["ana"] = replace(store.users["ana"], role="viewer")
    assert await auth.still_valid([bearer], s(3)) == {0: "role changed; log in again"}


class DownStore(MemoryAccountStore):
    """The accounts database, unreachable while ``down`` is set."""

    down = False

    async def lookup_session(self, token_hash: bytes) -> StoredSession | None:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        return await super().lookup_session(token_hash)

    async def get_user(self, name: str) -> User | None:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        return await super().get_user(name)


async def test_known_credentials_still_work_while_the_database_is_down() -> None:
    store = DownStore([user("ana")])
    auth, _ = service(store)
    ok = await login_ok(auth)
    other = await login_ok(auth)
    session = Credentials(session=ok.session_token)
    assert await auth.authenticate(session, "10.0.0.1", s(1)) is not None
    store.down = True
    again = await auth.authenticate(session, "10.0.0.2", s(2))
    assert again is not None
    assert (again.user, again.address) == ("ana", "10.0.0.2")
    with pytest.raises(ConnectionRefusedError):  # never seen: no way to check it
        await auth.authenticate(Credentials(session=other.session_token), None, s(2))
    with pytest.raises(ConnectionRefusedError):  # past its absolute end
        await auth.authenticate(session, None, s(MAX_S + 1))
    store.down = False
    await auth.logout(again, s(3))
    store.down = True
    with pytest.raises(ConnectionRefusedError):  # a logout forgets it
        await auth.authenticate(session, None, s(4))
