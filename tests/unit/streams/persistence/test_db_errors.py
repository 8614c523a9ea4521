"""db.is_transient: which database errors a retry may heal (the server, the connection, a lost
race) and which it cannot (riskmon's SQL, refused data, authentication)."""

from __future__ import annotations

import socket

import asyncpg
import pytest

from streams.persistence import db

TRANSIENT = [
    # the network and the client's timeouts
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    socket.gaierror(-3, "Temporary failure in name resolution"),
    TimeoutError(),
    # the connection
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("cannot call Transaction.commit(): the underlying connection is closed"),
    # SQLSTATE class 08: connection exception
    asyncpg.PostgresConnectionError("connection exception"),
    asyncpg.ConnectionFailureError("connection failure"),
    asyncpg.ClientCannotConnectError("could not connect"),
    asyncpg.ConnectionRejectionError("rejected"),
    asyncpg.ProtocolViolationError("protocol violation"),
    # class 53: insufficient resources
    asyncpg.InsufficientResourcesError("insufficient resources"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.DiskFullError("could not extend file"),
    asyncpg.OutOfMemoryError("out of memory"),
    # 57014: statement_timeout cancelled it (every connection has one): an overloaded server or
    # a long lock; retried and counted as an outage, never a wait for ever
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    # 57P01-57P03: the server shuts down, crashed, or is starting
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    # the server ended an idle session
    asyncpg.IdleSessionTimeoutError("terminating connection due to idle-session timeout"),
    asyncpg.IdleInTransactionSessionTimeoutError("idle-in-transaction timeout"),
    # lost races: serialization failure, deadlock, lock not available
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.LockNotAvailableError("could not obtain lock"),
    # a concurrent migration invalidated a cached statement
    asyncpg.InvalidCachedStatementError("cached plan must not change result type"),
    asyncpg.OutdatedSchemaCacheError("type cache is outdated"),
]

PERMANENT = [
    # class 42: syntax error or access rule violation (our SQL)
    asyncpg.PostgresSyntaxError('syntax error at or near "SELEC"'),
    asyncpg.UndefinedTableError('relation "no_such_table" does not exist'),
    asyncpg.UndefinedColumnError('column "nope" does not exist'),
    asyncpg.UndefinedFunctionError("function nope() does not exist"),
    asyncpg.InsufficientPrivilegeError("permission denied for table events"),
    # class 22: data exception
    asyncpg.DataError("data exception"),
    asyncpg.InvalidTextRepresentationError("invalid input syntax for type integer"),
    asyncpg.NumericValueOutOfRangeError("value out of range"),
    asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    # class 23: integrity constraint violation
    asyncpg.IntegrityConstraintViolationError("integrity"),
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.NotNullViolationError("null value in column"),
    asyncpg.CheckViolationError("violates check constraint"),
    asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
    # authentication and the database's name
    asyncpg.InvalidPasswordError("password authentication failed"),
    asyncpg.InvalidAuthorizationSpecificationError("role does not exist"),
    asyncpg.InvalidCatalogNameError('database "riskmon" does not exist'),
    # other server errors
    asyncpg.FeatureNotSupportedError("not supported"),
    asyncpg.InternalServerError("internal error"),
    asyncpg.InFailedSQLTransactionError("current transaction is aborted"),
    asyncpg.PostgresError("an error without a SQLSTATE"),
    # misuse of the client: bugs
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.InterfaceError(
        "cannot call Connection.fetch(): the underlying connection has been released back "
        "to the pool"
    ),
    asyncpg.exceptions.ClientConfigurationError("invalid DSN"),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    # not a database error at all
    ValueError("invalid literal for int()"),
    KeyError("state"),
]


def label(error: BaseException) -> str:
    return f"{type(error).__name__}:{getattr(error, 'sqlstate', None) or ''}"


@pytest.mark.parametrize("error", TRANSIENT, ids=label)
def test_transient(error: BaseException) -> None:
    assert db.is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=label)
def test_permanent(error: BaseException) -> None:
    assert not db.is_transient(error)


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [
        ("08006", True),
        ("08P01", True),
        ("53300", True),
        ("57P01", True),
        ("57P02", True),
        ("57P03", True),
        ("40001", True),
        ("40P01", True),
        ("55P03", True),
        ("42601", False),
        ("42P01", False),
        ("42703", False),
        ("22001", False),
        ("22P02", False),
        ("23505", False),
        ("23502", False),
        ("28P01", False),
        ("3D000", False),
        ("XX000", False),
    ],
)
def test_server_errors_by_sqlstate(sqlstate: str, transient: bool) -> None:
    """As the server sends them: asyncpg picks the class from the SQLSTATE."""
    error = asyncpg.PostgresError.new({"C": sqlstate, "M": "from the server", "S": "ERROR"})
    assert error.sqlstate == sqlstate
    assert db.is_transient(error) is transient


def test_every_transient_class_is_caught_by_database_errors() -> None:
    """The retry loops catch DATABASE_ERRORS, then ask is_transient: nothing transient escapes."""
    for error in TRANSIENT:
        assert isinstance(error, db.DATABASE_ERRORS), label(error)
