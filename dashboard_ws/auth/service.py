"""Logging in, proving who one is, logging out: the gateway's authentication shell.

:class:`AuthService` joins the pure decisions of :mod:`dashboard_ws.security` (passwords, session
expiry, bearer tokens, failed-login limits, roles) with an :class:`~dashboard_ws.auth.store.
AccountStore`. The clock is an argument of every call that needs one (``now``: wall time for
sessions and the audit trail; the limiter's monotonic instant is taken from ``monotonic``).

Identity: :meth:`AuthService.login` checks a local password. The seam for a city's single sign-on
(OpenID Connect) is :class:`IdentityProvider`: a provider turns what a login presents into a user
name or a refusal; sessions, roles, limits and audit stay here. Only the password provider exists.

Every login, failed login, refused (limited) login and logout is an audit row; so is every
acknowledgement (:meth:`AuthService.record`, called by the gateway).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dashboard_ws.auth.principal import Credentials, Principal
from dashboard_ws.auth.store import AccountStore
from dashboard_ws.logfmt import logfmt
from dashboard_ws.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from dashboard_ws.security.ratelimit import LoginLimiter
from dashboard_ws.security.roles import Role, parse_role
from dashboard_ws.security.sessions import (
    Claims,
    Session,
    TokenSigner,
    new_session,
    token_digest,
)
from streams.persistence.accounts import USERNAME, StoredSession, User
from streams.persistence.db import DATABASE_ERRORS, is_transient
from streams.settings import Settings

RECENT_MAX = 10_000  # principals remembered for a database outage

__all__ = ["AuthService", "IdentityProvider", "LoginOk", "LoginRefused", "PasswordProvider"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginOk:
    user: str
    role: Role
    session_token: str  # for the cookie; never logged
    session: Session
    bearer: str | None  # for programs
    bearer_expires_at: datetime | None


@dataclass(frozen=True)
class LoginRefused:
    status: int  # 401 wrong credentials, 429 limited
    detail: str
    retry_after_s: float = 0.0


class IdentityProvider(Protocol):
    """Who a login is: the seam where a city's single sign-on would plug in."""

    async def identify(self, username: str, password: str) -> User | None:
        """The active user these credentials prove, or None."""
        ...


class PasswordProvider:
    """Local accounts: argon2id hashes in the accounts store, at most ``concurrency``
    verifications at once (each holds 64 MiB and a core for ~0.1 s), run off the event loop."""

    def __init__(
        self,
        store: AccountStore,
        hasher: PasswordHasher | None = None,
        *,
        concurrency: int = 2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock

    async def identify(self, username: str, password: str) -> User | None:
        user = await self._store.get_user(username) if USERNAME.fullmatch(username) else None
        stored = None if user is None or user.disabled else user.password_hash
        async with self._slots:  # the same work whether the user exists or not
            ok = await asyncio.to_thread(self._hasher.verify, stored, password)
        if not ok or user is None:
            return None
        if self._hasher.needs_rehash(stored or ""):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            await self._store.set_password_hash(user.name, new_hash, self._clock())
        return user


class AuthService:
    """Sessions, bearer tokens and the audit trail of one gateway."""

    def __init__(
        self,
        settings: Settings,
        store: AccountStore,
        *,
        provider: IdentityProvider | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tls = settings.tls_cert is not None or settings.behind_tls_proxy
        self.provider = provider or PasswordProvider(store, concurrency=settings.login_concurrency)
        self.limiter = LoginLimiter(
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_address,
            window_s=settings.login_window_s,
            max_keys=settings.login_tracked_keys,
        )
        secret = (
            settings.auth_secret.get_secret_value().encode()
            if settings.auth_secret is not None
            else secrets.token_bytes(32)  # tokens then hold only at this gateway process
        )
        self.signer = TokenSigner(secret)
        self._monotonic = monotonic
        # credentials accepted lately, for a database outage (bounded; see authenticate)
        self._recent: OrderedDict[bytes, Principal] = OrderedDict()

    # --- login and logout -------------------------------------------------------------------

    async def login(
        self, username: str, password: str, address: str, now: datetime
    ) -> LoginOk | LoginRefused:
        """Check ``username``/``password`` from ``address``; a session and a bearer token, or a
        refusal that does not tell whether the name exists."""
        username = username.strip().lower()[:128]
        password = password[: MAX_PASSWORD_LENGTH + 1]
        decision = self.limiter.check(username, address, self._monotonic())
        if not decision.allowed:
            await self.record(now, username, "auth.login_limited", address=address)
            log.warning(logfmt("login_limited", user=username, address=address))
            retry = float(max(1, round(decision.retry_after_s)))
            return LoginRefused(429, f"{decision.reason}; try again in {retry:.0f} s", retry)
        user = await self.provider.identify(username, password)
        role = parse_role(user.role) if user is not None else None
        if user is None or role is None:
            self.limiter.failed(username, address, self._monotonic())
            await self.record(now, username, "auth.login_failed", address=address)
            log.warning(logfmt("login_failed", user=username, address=address))
            return LoginRefused(401, "wrong username or password")
        self.limiter.succeeded(username)
        token, session = new_session(
            user.name,
            now,
            idle_s=self.settings.session_idle_s,
            max_s=self.settings.session_max_s,
            address=address,
        )
        stored = await self.store.create_session(
            session.token_hash,
            user.name,
            created_at=now,
            expires_at=session.expires_at,
            address=address,
        )
        if not stored:  # disabled between the check and now
            return LoginRefused(401, "wrong username or password")
        ttl = min(self.settings.token_ttl_s, self.settings.session_max_s)
        bearer = self.signer.issue(user.name, role, now, ttl)
        await self.record(now, user.name, "auth.login", address=address, detail={"role": role})
        log.info(logfmt("login", user=user.name, role=role.value, address=address))
        return LoginOk(
            user=user.name,
            role=role,
            session_token=token,
            session=session,
            bearer=bearer,
            bearer_expires_at=_whole_seconds(now + timedelta(seconds=ttl)),
        )

    async def logout(self, principal: Principal, now: datetime) -> None:
        """End ``principal``'s session (a bearer token simply expires: it is not stored)."""
        if principal.session_hash is not None:
            for key in [
                k for k, p in self._recent.items() if p.session_hash == principal.session_hash
            ]:
                del self._recent[key]
            await self.store.delete_session(principal.session_hash)
        await self.record(
            now,
            principal.user,
            "auth.logout",
            address=principal.address,
            detail={"via": principal.via},
        )
        log.info(logfmt("logout", user=principal.user, via=principal.via))

    # --- who is asking ----------------------------------------------------------------------

    async def authenticate(
        self, credentials: Credentials, address: str | None, now: datetime
    ) -> Principal | None:
        """The principal ``credentials`` prove at ``now``, or None. A session cookie is tried
        first; a session that exists is touched (its idle clock restarts).

        While the accounts database does not answer, credentials this gateway accepted before
        are accepted again until their absolute end (a session's 12 h, a token's expiry; not
        the idle limit, which needs the database): a control room keeps its map through a
        database outage. Unknown credentials then raise the database's error (the server
        answers 503). At most ``RECENT_MAX`` are remembered; a logout forgets its session.
        """
        key = hashlib.sha256(
            f"{credentials.session or ''}\x00{credentials.bearer or ''}".encode()
        ).digest()
        try:
            principal = await self._authenticate(credentials, address, now)
        except DATABASE_ERRORS as exc:
            if not is_transient(exc):
                raise
            known = self._recent.get(key)
            if known is None or now >= known.ends_at:
                raise
            log.warning(logfmt("auth_from_memory", user=known.user, error=repr(exc)))
            return replace(known, address=address)
        if principal is None:
            self._recent.pop(key, None)
        else:
            self._recent[key] = principal
            self._recent.move_to_end(key)
            while len(self._recent) > RECENT_MAX:
                self._recent.popitem(last=False)
        return principal

    async def _authenticate(
        self, credentials: Credentials, address: str | None, now: datetime
    ) -> Principal | None:
        if credentials.session is not None:
            digest = token_digest(credentials.session)
            row = await self.store.lookup_session(digest)
            principal = self._from_session(row, address, now)
            if principal is not None:
                await self.store.touch_sessions([digest], now)
                return principal
        if credentials.bearer is not None:
            claims = self.signer.verify(credentials.bearer, now)
            if isinstance(claims, Claims):
                user = await self.store.get_user(claims.user)
                return self._from_bearer(claims, user, address)
            log.info(logfmt("bearer_refused", reason=claims.reason, address=address))
        return None

    async def still_valid(self, principals: list[Principal], now: datetime) -> dict[int, str]:
        """Which of ``principals`` (open sockets) no longer hold at ``now``, by index, with the
        reason to tell their client; the sessions of the others are touched (an open dashboard
        counts as use)."""
        hashes = sorted({p.session_hash for p in principals if p.session_hash is not None})
        sessions = await self.store.lookup_sessions(list(hashes)) if hashes else {}
        users: dict[str, User | None] = {}
        for p in principals:
            if p.via == "bearer" and p.user not in users:
                users[p.user] = await self.store.get_user(p.user)
        ended: dict[int, str] = {}
        live: set[bytes] = set()
        for i, p in enumerate(principals):
            if now >= p.ends_at:
                ended[i] = "session expired" if p.via == "session" else "token expired"
                continue
            if p.session_hash is not None:
                row = sessions.get(p.session_hash)
                reason = self._session_problem(row, now)
                role = row.role if row is not None else None
            else:
                user = users.get(p.user)
                reason = "account disabled" if user is None or user.disabled else None
                current = parse_role(user.role) if user is not None else None
                # a token acts with the lower of its role and the user's: only a lowered role
                # ends it (a raised one takes effect with the next token)
                role = p.role.value if current and current.rank >= p.role.rank else None
            if reason is None and role != p.role.value:
                reason = "role changed; log in again"
            if reason is not None:
                ended[i] = reason
            elif p.session_hash is not None:
                live.add(p.session_hash)
        if live:
            await self.store.touch_sessions(sorted(live), now)
        return ended

    def issue_token(self, principal: Principal, now: datetime) -> tuple[str, datetime]:
        ttl = self.settings.token_ttl_s
        expires = _whole_seconds(now + timedelta(seconds=ttl))
        return self.signer.issue(principal.user, principal.role, now, ttl), expires

    async def record(
        self,
        now: datetime,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append an audit row; a failure is logged, not raised (the act already happened)."""
        try:
            await self.store.audit(
                at=now, actor=actor, action=action, target=target, address=address, detail=detail
            )
        except Exception as exc:  # the database may be down: say so loudly, keep serving
            log.error(logfmt("audit_not_written", action=action, actor=actor, error=repr(exc)))

    # --- pure parts -------------------------------------------------------------------------

    def _session_problem(self, row: StoredSession | None, now: datetime) -> str | None:
        if row is None:
            return "logged out"
        if row.user_disabled:
            return "account disabled"
        if now >= row.expires_at:
            return "session expired"
        if now >= row.last_seen + timedelta(seconds=self.settings.session_idle_s):
            return "session expired (idle)"
        return None

    def _from_session(
        self, row: StoredSession | None, address: str | None, now: datetime
    ) -> Principal | None:
        if row is None or self._session_problem(row, now) is not None:
            return None
        role = parse_role(row.role)
        if role is None:
            return None
        return Principal(
            user=row.user,
            role=role,
            via="session",
            ends_at=row.expires_at,
            address=address,
            session_hash=row.token_hash,
        )

    @staticmethod
    def _from_bearer(claims: Claims, user: User | None, address: str | None) -> Principal | None:
        if user is None or user.disabled:
            return None
        role = parse_role(user.role)
        if role is None:
            return None
        # The role may have changed since the token was issued: the lower of the two counts.
        effective = role if role.rank < claims.role.rank else claims.role
        return Principal(
            user=user.name,
            role=effective,
            via="bearer",
            ends_at=datetime.fromtimestamp(claims.expires, UTC),
            address=address,
        )


def _whole_seconds(at: datetime) -> datetime:
    """A token's expiry as it carries it (whole Unix seconds)."""
    return datetime.fromtimestamp(int(at.timestamp()), UTC)
