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

# What a database call can raise because of the server, the connection or the SQL: catch these,
# then ask is_transient() whether to retry. Anything else is a bug in riskmon's Python code.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS, TLS
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)

# SQLSTATE classes and codes after which the same statement may succeed on a retry: the server
# or the connection failed, not the statement. Everything else (42 syntax or undefined object,
# 22 data, 23 integrity, 28 authorization, 3D no such database, XX internal, ...) is permanent.
TRANSIENT_SQLSTATE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "53",  # insufficient resources: too many connections, disk full, out of memory
    }
)
TRANSIENT_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up or shutting down
        "57P05",  # idle_session_timeout: the server ended the session
        "25P03",  # idle_in_transaction_session_timeout: the server ended the session
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "57014",  # query_canceled: statement_timeout (an overloaded server, a lock held long)
        "55P03",  # lock_not_available
    }
)


def is_transient(error: BaseException) -> bool:
    """True when a retry of the failed database operation may succeed (the server is down,
    restarting or overloaded, the connection was lost, a transaction lost a race); False when it
    cannot (an error in riskmon's SQL, data PostgreSQL refuses, a wrong password): those must
    reach a person instead of being retried for ever.

    >>> is_transient(ConnectionRefusedError(111, "Connection refused"))
    True
    >>> is_transient(asyncpg.UndefinedTableError('relation "no_such_table" does not exist'))
    False
    >>> is_transient(asyncpg.InternalClientError("cannot switch to state 15; another operation"
    ...     " (2) is in progress"))
    True
    """
    if isinstance(error, asyncpg.InvalidCachedStatementError | asyncpg.OutdatedSchemaCacheError):
        return True  # a concurrent migration changed a cached statement's types; re-prepared
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", None) or ""
        return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
    if isinstance(error, asyncpg.InternalClientError) and "cannot switch to state" in str(error):
        # the server went away mid-protocol and left the connection in an impossible state
        # (seen when PostgreSQL stopped under a sink write): a new connection heals it
        return True
    if isinstance(error, asyncpg.InterfaceError):
        # "connection is closed", "the underlying connection is closed", "connection was
        # closed in the middle of operation"; not misuse such as "another operation is in
        # progress" or a value asyncpg cannot encode, which are bugs.
        message = str(error)
        return "connection is closed" in message or "connection was closed" in message
    return isinstance(error, OSError | TimeoutError)


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database (handles unix-socket DSNs with ?host=...)."""
    base, _, query = dsn.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")


async def answers(dsn: str, timeout_s: float = 3.0) -> bool:
    """True when a PostgreSQL server accepts a connection at ``dsn``."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except DATABASE_ERRORS:  # any answer but a connection is a no
        return False
    await conn.close()
    return True


# No call waits for ever: a statement over this is cancelled by the server (statement_timeout)
# and the client gives up a little later (command_timeout), raising a transient error the
# callers already handle (retry, 503, outage counting). Generous: retention's batched deletes
# and the sink's largest batches take a few seconds on a slow disk.
STATEMENT_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0


async def connect(
    dsn: str, *, statement_timeout_s: float = STATEMENT_TIMEOUT_S
) -> asyncpg.Connection:
    """A connection whose statements time out after ``statement_timeout_s`` seconds."""
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=statement_timeout_s + 5.0,
        server_settings={"statement_timeout": str(int(statement_timeout_s * 1000))},
    )
    return conn


async def connect_waiting(dsn: str, timeout_s: float = 30.0) -> asyncpg.Connection:
    """:func:`connect`, waiting up to ``timeout_s`` for a server that is starting (refused or
    not answering), with backoff and one log line per attempt. Permanent errors
    (:func:`is_transient`: authentication, an unknown database) fail at once: waiting would not
    help."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = 0.5
    while True:
        try:
            return await connect(dsn)
        except DATABASE_ERRORS as error:
            waited = loop.time() - started
            if not is_transient(error) or waited + delay > timeout_s:
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
