"""Accounts, browser sessions and the audit trail in PostgreSQL: the only module that touches the
``users``, ``sessions`` and ``audit`` tables (migration 5).

Roles are stored as their names (``viewer``, ``inspector``, ``operator``, ``analyst``,
``admin``; the table checks them); what a role may do is decided by
:mod:`dashboard_ws.security.roles`. Passwords arrive here already hashed
(:mod:`dashboard_ws.security.passwords`) and sessions by the SHA-256 of their token
(:mod:`dashboard_ws.security.sessions`): no secret is ever stored.

Writes that may find nothing (a name already taken, an unknown user) say so in their result
instead of raising: the caller turns that into a message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = [
    "ROLES",
    "USERNAME",
    "AuditRow",
    "StoredSession",
    "User",
    "add_user",
    "audit",
    "create_session",
    "delete_expired_sessions",
    "delete_session",
    "delete_sessions_of",
    "disable_user",
    "get_user",
    "list_users",
    "lookup_session",
    "lookup_sessions",
    "query_audit",
    "set_agency",
    "set_password_hash",
    "set_role",
    "touch_session",
    "touch_sessions",
]

ROLES = ("viewer", "inspector", "operator", "analyst", "admin")  # the users table's CHECK
MAX_AGENCY = 128  # the users table's CHECK on agency (a source identifier, migration 7)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")  # the users table's CHECK


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    updated_at: datetime
    password_hash: str | None  # never printed: repr hides it
    agency: str | None = None  # the source of the facts this user reports (docs/field.md)

    def __repr__(self) -> str:
        return (
            f"User(id={self.id}, name={self.name!r}, role={self.role!r}, disabled={self.disabled}"
            f", agency={self.agency!r})"
        )


@dataclass(frozen=True)
class StoredSession:
    """A session row with its user's current name, role and state."""

    token_hash: bytes
    user: str
    role: str
    user_disabled: bool
    created_at: datetime
    last_seen: datetime
    expires_at: datetime
    address: str | None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    address: str | None
    detail: dict[str, Any]


_USER_COLUMNS = "id, name, role, disabled, created_at, updated_at, password_hash, agency"


def _user(row: asyncpg.Record) -> User:
    return User(**dict(row))


async def add_user(
    conn: asyncpg.Connection,
    name: str,
    role: str,
    password_hash: str | None,
    now: datetime,
    agency: str | None = None,
) -> User | None:
    """Add a user; None when the name is taken."""
    row = await conn.fetchrow(
        f"""INSERT INTO users (name, role, password_hash, created_at, updated_at, agency)
            VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (name) DO NOTHING
            RETURNING {_USER_COLUMNS}""",
        name,
        role,
        password_hash,
        now,
        agency,
    )
    return _user(row) if row else None


async def set_agency(
    conn: asyncpg.Connection, name: str, agency: str | None, now: datetime
) -> tuple[str | None] | None:
    """Give ``name`` the ``agency`` (None: none); returns ``(the agency it had,)``, None when
    there is no such user."""
    row = await conn.fetchrow(
        """UPDATE users SET agency = $2, updated_at = $3 FROM users AS old
           WHERE users.id = old.id AND users.name = $1 RETURNING old.agency""",
        name,
        agency,
        now,
    )
    return None if row is None else (row["agency"],)


async def get_user(conn: asyncpg.Connection, name: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE name = $1", name)
    return _user(row) if row else None


async def list_users(conn: asyncpg.Connection) -> list[User]:
    rows = await conn.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
    return [_user(r) for r in rows]


async def disable_user(conn: asyncpg.Connection, name: str, now: datetime) -> bool:
    """Disable ``name`` and end its sessions; False when there is no such user."""
    async with conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET disabled = true, updated_at = $2 WHERE name = $1 RETURNING id",
            name,
            now,
        )
        if user_id is None:
            return False
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    return True


async def set_role(conn: asyncpg.Connection, name: str, role: str, now: datetime) -> str | None:
    """Give ``name`` the ``role``; returns the role it had, None when there is no such user."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """UPDATE users SET role = $2, updated_at = $3 FROM users AS old
           WHERE users.id = old.id AND users.name = $1 RETURNING old.role""",
        name,
        role,
        now,
    )


async def set_password_hash(
    conn: asyncpg.Connection, name: str, password_hash: str, now: datetime
) -> bool:
    """Store a new hash (a rehash with new parameters, or a new password)."""
    updated = await conn.fetchval(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE name = $1 RETURNING id",
        name,
        password_hash,
        now,
    )
    return updated is not None


async def create_session(
    conn: asyncpg.Connection,
    token_hash: bytes,
    user: str,
    *,
    created_at: datetime,
    expires_at: datetime,
    address: str | None,
) -> bool:
    """Store a session of ``user``; False when there is no such user or it is disabled."""
    inserted = await conn.fetchval(
        """INSERT INTO sessions (token_hash, user_id, created_at, last_seen, expires_at, address)
           SELECT $1, id, $3, $3, $4, $5 FROM users WHERE name = $2 AND NOT disabled
           RETURNING user_id""",
        token_hash,
        user,
        created_at,
        expires_at,
        address,
    )
    return inserted is not None


async def lookup_session(conn: asyncpg.Connection, token_hash: bytes) -> StoredSession | None:
    """The session with this token digest and its user's current role and state."""
    row = await conn.fetchrow(
        """SELECT s.token_hash, u.name AS user, u.role, u.disabled AS user_disabled,
                  s.created_at, s.last_seen, s.expires_at, s.address
           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1""",
        token_hash,
    )
    return StoredSession(**dict(row)) if row else None


async def lookup_sessions(
    conn: asyncpg.Connection, token_hashes: list[bytes]
) -> dict[bytes, StoredSession]:
    """The sessions among ``token_hashes`` that still exist, by digest (one query)."""
    rows = await conn.fetch(
        """SELECT s.token_hash, u.name AS user, u.role, u.disabled AS user_disabled,
                  s.created_at, s.last_seen, s.expires_at, s.address
           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ANY($1)""",
        token_hashes,
    )
    return {bytes(r["token_hash"]): StoredSession(**dict(r)) for r in rows}


async def touch_sessions(conn: asyncpg.Connection, token_hashes: list[bytes], now: datetime) -> int:
    """Record a use at ``now`` of every session among ``token_hashes``; how many exist."""
    result: str = await conn.execute(
        "UPDATE sessions SET last_seen = greatest(last_seen, $2) WHERE token_hash = ANY($1)",
        token_hashes,
        now,
    )
    return int(result.split()[-1])


async def delete_expired_sessions(conn: asyncpg.Connection, now: datetime, idle_s: float) -> int:
    """Forget sessions past their absolute end or idle longer than ``idle_s``; how many."""
    result: str = await conn.execute(
        """DELETE FROM sessions
           WHERE expires_at <= $1 OR last_seen <= $1 - make_interval(secs => $2)""",
        now,
        idle_s,
    )
    return int(result.split()[-1])


async def touch_session(conn: asyncpg.Connection, token_hash: bytes, now: datetime) -> bool:
    """Record a use of the session at ``now``; False when it no longer exists."""
    updated = await conn.fetchval(
        """UPDATE sessions SET last_seen = greatest(last_seen, $2) WHERE token_hash = $1
           RETURNING 1""",
        token_hash,
        now,
    )
    return updated is not None


async def delete_session(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    """Log out: False when there was no such session."""
    deleted = await conn.fetchval(
        "DELETE FROM sessions WHERE token_hash = $1 RETURNING 1", token_hash
    )
    return deleted is not None


async def delete_sessions_of(conn: asyncpg.Connection, name: str) -> int:
    """End every session of ``name`` (a role change, a new password); how many ended."""
    result: str = await conn.execute(
        "DELETE FROM sessions USING users WHERE sessions.user_id = users.id AND users.name = $1",
        name,
    )
    return int(result.split()[-1])


async def audit(
    conn: asyncpg.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str | None = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append an audit row (who did what, to what, from where, when); its id."""
    row_id: int = await conn.fetchval(
        """INSERT INTO audit (at, actor, action, target, address, detail)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id""",
        at,
        actor,
        action,
        target,
        address,
        json.dumps(detail or {}),
    )
    return row_id


async def query_audit(
    conn: asyncpg.Connection,
    *,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditRow]:
    """The newest audit rows first, at most ``limit``, optionally of one actor or action."""
    rows = await conn.fetch(
        """SELECT id, at, actor, action, target, address, detail FROM audit
           WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
           ORDER BY at DESC, id DESC LIMIT $3""",
        actor,
        action,
        max(0, limit),
    )
    return [AuditRow(**{**dict(r), "detail": json.loads(r["detail"])}) for r in rows]
