"""PostgreSQL connections and migrations: connect (or wait for a server that is starting), apply
the numbered migrations of :mod:`streams.persistence.migrations` once each.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from streams.persistence.migrations import MIGRATIONS

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x7269736B6D6F6E  # "riskmon"

Connection = asyncpg.Connection  # for the layers above, which never import asyncpg themselves

# Server answers that a retry cannot change: wrong password or role, no such database.
AUTH_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)
# The server is starting or shutting down: a retry soon may succeed.
NOT_READY_ERRORS: tuple[type[BaseException], ...] = (asyncpg.CannotConnectNowError,)

# Errors after which a retry may succeed (server down, restarting, connection lost).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database (handles unix-socket DSNs with ?host=...)."""
    base, _, query = dsn.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")


async def answers(dsn: str, timeout_s: float = 3.0) -> bool:
    """True when a PostgreSQL server accepts a connection at ``dsn``."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except TRANSIENT_ERRORS:
        return False
    await conn.close()
    return True


async def connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=10)
    return conn


async def connect_waiting(dsn: str, timeout_s: float = 30.0) -> asyncpg.Connection:
    """:func:`connect`, waiting up to ``timeout_s`` for a server that is starting (refused or
    not answering), with backoff and one log line per attempt. Authentication and unknown
    databases fail at once: waiting would not help."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = 0.5
    while True:
        try:
            return await connect(dsn)
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as error:
            waited = loop.time() - started
            if waited + delay > timeout_s:
                raise
            log.warning(
                "waiting for postgresql waited_s=%.1f timeout_s=%.0f error=%r",
                waited,
                timeout_s,
                str(error),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def migrate(conn: asyncpg.Connection, *, upto: int | None = None) -> list[int]:
    """Apply pending migrations (those up to ``upto``, to test an upgrade from an older
    schema); returns the versions applied now. Safe to run concurrently."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version not in done and (upto is None or version <= upto):
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
    if applied_now:
        log.info("database migrated versions=%s", applied_now)
    return applied_now


async def current_epoch(conn: asyncpg.Connection) -> int:
    epoch: int = await conn.fetchval("SELECT max(epoch) FROM stream_epochs")
    return epoch
