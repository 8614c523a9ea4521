"""Where the gateway keeps accounts, sessions and the audit trail: the :class:`AccountStore`
protocol, its PostgreSQL implementation (:class:`PgAccountStore`, the only one in production) and
an in-memory twin (:class:`MemoryAccountStore`) for tests of the gateway without a database.

The rows are :mod:`streams.persistence.accounts`' (:class:`User`, :class:`StoredSession`,
:class:`AuditRow`); the SQL lives there too.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from streams.persistence import accounts
from streams.persistence.accounts import AuditRow, StoredSession, User

__all__ = ["AccountStore", "MemoryAccountStore", "PgAccountStore"]

POOL_MAX = 2
TIMEOUT_S = 5.0


class AccountStore(Protocol):
    async def get_user(self, name: str) -> User | None: ...

    async def set_password_hash(self, name: str, password_hash: str, now: datetime) -> None: ...

    async def create_session(
        self,
        token_hash: bytes,
        user: str,
        *,
        created_at: datetime,
        expires_at: datetime,
        address: str | None,
    ) -> bool: ...

    async def lookup_session(self, token_hash: bytes) -> StoredSession | None: ...

    async def lookup_sessions(self, token_hashes: list[bytes]) -> dict[bytes, StoredSession]: ...

    async def touch_sessions(self, token_hashes: list[bytes], now: datetime) -> None: ...

    async def delete_session(self, token_hash: bytes) -> bool: ...

    async def delete_expired_sessions(self, now: datetime, idle_s: float) -> int: ...

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    async def query_audit(
        self, *, limit: int, actor: str | None = None, action: str | None = None
    ) -> list[AuditRow]: ...

    async def close(self) -> None: ...


class PgAccountStore:
    """The accounts in PostgreSQL through a small pool of its own (opened on first use)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=POOL_MAX,
                    timeout=TIMEOUT_S,
                    command_timeout=TIMEOUT_S,
                    server_settings={"statement_timeout": str(int(TIMEOUT_S * 1000))},
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def get_user(self, name: str) -> User | None:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.get_user(conn, name)

    async def set_password_hash(self, name: str, password_hash: str, now: datetime) -> None:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            await accounts.set_password_hash(conn, name, password_hash, now)

    async def create_session(
        self,
        token_hash: bytes,
        user: str,
        *,
        created_at: datetime,
        expires_at: datetime,
        address: str | None,
    ) -> bool:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.create_session(
                conn,
                token_hash,
                user,
                created_at=created_at,
                expires_at=expires_at,
                address=address,
            )

    async def lookup_session(self, token_hash: bytes) -> StoredSession | None:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.lookup_session(conn, token_hash)

    async def lookup_sessions(self, token_hashes: list[bytes]) -> dict[bytes, StoredSession]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.lookup_sessions(conn, token_hashes)

    async def touch_sessions(self, token_hashes: list[bytes], now: datetime) -> None:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            await accounts.touch_sessions(conn, token_hashes, now)

    async def delete_session(self, token_hash: bytes) -> bool:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.delete_session(conn, token_hash)

    async def delete_expired_sessions(self, now: datetime, idle_s: float) -> int:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.delete_expired_sessions(conn, now, idle_s)

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            await accounts.audit(
                conn,
                at=at,
                actor=actor,
                action=action,
                target=target,
                address=address,
                detail=detail,
            )

    async def query_audit(
        self, *, limit: int, actor: str | None = None, action: str | None = None
    ) -> list[AuditRow]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=TIMEOUT_S) as conn:
            return await accounts.query_audit(conn, limit=limit, actor=actor, action=action)


class MemoryAccountStore:
    """The same in a process's memory (tests; never production: nothing survives a restart)."""

    def __init__(self, users: list[User] | None = None) -> None:
        self.users: dict[str, User] = {u.name: u for u in users or []}
        self.sessions: dict[bytes, tuple[str, datetime, datetime, datetime, str | None]] = {}
        self.audit_rows: list[AuditRow] = []
        self._ids = itertools.count(1)

    async def close(self) -> None:
        pass

    async def get_user(self, name: str) -> User | None:
        return self.users.get(name)

    async def set_password_hash(self, name: str, password_hash: str, now: datetime) -> None:
        if name in self.users:
            self.users[name] = replace(
                self.users[name], password_hash=password_hash, updated_at=now
            )

    async def create_session(
        self,
        token_hash: bytes,
        user: str,
        *,
        created_at: datetime,
        expires_at: datetime,
        address: str | None,
    ) -> bool:
        found = self.users.get(user)
        if found is None or found.disabled:
            return False
        self.sessions[token_hash] = (user, created_at, created_at, expires_at, address)
        return True

    async def lookup_session(self, token_hash: bytes) -> StoredSession | None:
        return (await self.lookup_sessions([token_hash])).get(token_hash)

    async def lookup_sessions(self, token_hashes: list[bytes]) -> dict[bytes, StoredSession]:
        found: dict[bytes, StoredSession] = {}
        for token_hash in token_hashes:
            row = self.sessions.get(token_hash)
            if row is None or row[0] not in self.users:
                continue
            user = self.users[row[0]]
            found[token_hash] = StoredSession(
                token_hash=token_hash,
                user=user.name,
                role=user.role,
                user_disabled=user.disabled,
                created_at=row[1],
                last_seen=row[2],
                expires_at=row[3],
                address=row[4],
            )
        return found

    async def touch_sessions(self, token_hashes: list[bytes], now: datetime) -> None:
        for token_hash in token_hashes:
            row = self.sessions.get(token_hash)
            if row is not None:
                self.sessions[token_hash] = (row[0], row[1], max(row[2], now), row[3], row[4])

    async def delete_session(self, token_hash: bytes) -> bool:
        return self.sessions.pop(token_hash, None) is not None

    async def delete_expired_sessions(self, now: datetime, idle_s: float) -> int:
        gone = [
            h
            for h, row in self.sessions.items()
            if row[3] <= now or (now - row[2]).total_seconds() >= idle_s
        ]
        for h in gone:
            del self.sessions[h]
        return len(gone)

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.audit_rows.append(
            AuditRow(next(self._ids), at, actor, action, target, address, dict(detail or {}))
        )

    async def query_audit(
        self, *, limit: int, actor: str | None = None, action: str | None = None
    ) -> list[AuditRow]:
        rows = sorted(  # as PostgreSQL's: newest first, then the later row
            (
                r
                for r in self.audit_rows
                if (actor is None or r.actor == actor) and (action is None or r.action == action)
            ),
            key=lambda r: (r.at, r.id),
            reverse=True,
        )
        return rows[: max(0, limit)]
