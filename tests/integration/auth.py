"""Users and credentials for tests that talk to a real gateway.

``add_user`` stores a user (an argon2id hash when a password is given: a real login then works);
``bearer`` signs a token with the test settings' ``auth_secret`` (as the gateway's own login
would), for the many tests whose subject is not the login; ``ws_headers`` turns it into the
websocket handshake's header.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard_ws.auth.store import MemoryAccountStore
from dashboard_ws.security.passwords import PasswordHasher
from dashboard_ws.security.roles import Role
from dashboard_ws.security.sessions import TokenSigner
from streams.persistence import accounts, db
from streams.persistence.accounts import User
from streams.settings import Settings

TEST_SECRET = "riskmon tests: a token secret of at least 32 bytes"


async def add_user(pg_dsn: str, name: str, role: str, password: str | None = None) -> None:
    """Add ``name`` with ``role`` (migrating the database first if needed)."""
    hashed = PasswordHasher().hash(password) if password is not None else None
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        added = await accounts.add_user(conn, name, role, hashed, datetime.now(UTC))
        assert added is not None, f"user {name} exists already"
    finally:
        await conn.close()


def bearer(settings: Settings, name: str, role: str, ttl_s: float = 3600.0) -> str:
    """A bearer token for ``name`` the gateway of ``settings`` accepts (the user must exist)."""
    assert settings.auth_secret is not None, "give the settings auth_secret=TEST_SECRET"
    signer = TokenSigner(settings.auth_secret.get_secret_value().encode())
    return signer.issue(name, Role(role), datetime.now(UTC), ttl_s)


def ws_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_headers(
    settings: Settings, name: str = "operator-kim", role: str = "operator"
) -> dict[str, str]:
    """Add a user without a password and return handshake headers with its bearer token."""
    await add_user(settings.require_pg_dsn(), name, role)
    return ws_headers(bearer(settings, name, role))


def memory_accounts() -> MemoryAccountStore:
    """Accounts for a gateway whose test is not about accounts: kim (operator) and root
    (admin), without passwords (use :func:`bearer`)."""
    now = datetime.now(UTC)
    return MemoryAccountStore(
        [
            User(1, "kim", "operator", False, now, now, None),
            User(2, "root", "admin", False, now, now, None),
        ]
    )
