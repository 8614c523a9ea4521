"""What the ``riskmon`` command prints instead of a traceback when the cause is outside the code:
a bad or missing setting, or a server it cannot reach (pure: no I/O).

:func:`explain` turns such an exception into one line naming the setting to fix and an exit
status; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from streams.city.config import CityConfigError
from streams.ops.topics import TopicMismatch
from streams.persistence.db import AUTH_ERRORS, NOT_READY_ERRORS
from streams.settings import SettingMissing

__all__ = ["EXIT_CONFIG", "EXIT_UNREACHABLE", "Explained", "explain", "redact_dsn"]

EXIT_CONFIG = 2  # a setting or file to fix
EXIT_UNREACHABLE = 3  # a server to start or reach; retrying later may succeed

PG_AUTH = AUTH_ERRORS


@dataclass(frozen=True)
class Explained:
    message: str
    status: int


def explain(
    error: BaseException, *, kafka_bootstrap: str | None = None, pg_dsn: str | None = None
) -> Explained | None:
    """One line for an error the user can act on, or None for a bug (keep the traceback)."""
    if isinstance(error, ValidationError) and error.title == "Settings":
        return Explained(_settings_problem(error), EXIT_CONFIG)
    if isinstance(error, SettingMissing | CityConfigError | TopicMismatch):
        return Explained(str(error), EXIT_CONFIG)
    if isinstance(error, KafkaConnectionError):
        return Explained(
            f"cannot reach Kafka at {kafka_bootstrap} (RISKMON_KAFKA_BOOTSTRAP): {error}; is the "
            "broker running, and does it advertise an address this host can reach? (TLS/SASL: "
            "RISKMON_KAFKA_SECURITY_PROTOCOL, RISKMON_KAFKA_SASL_*)",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, KafkaError):
        return Explained(f"Kafka at {kafka_bootstrap} refused: {error!r}", EXIT_UNREACHABLE)
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return Explained(
            f"{error}; another process listens there: choose another port (--port, "
            "RISKMON_GATEWAY_PORT, RISKMON_METRICS_PORT) or stop it",
            EXIT_CONFIG,
        )
    where = f"PostgreSQL at {redact_dsn(pg_dsn)} (RISKMON_PG_DSN)"
    if pg_dsn and isinstance(error, FileNotFoundError) and error.filename is None:
        # asyncpg's refused connection to a unix socket (host=/path): no file was named
        return Explained(
            f"cannot reach {where}: its socket is not there ({error.strerror}); is the server "
            "running and the DSN right?",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return Explained(f"{error.strerror}: {error.filename}", EXIT_CONFIG)
    if isinstance(error, PG_AUTH):
        return Explained(f"{where} refused: {error}", EXIT_CONFIG)
    unreachable: tuple[type[BaseException], ...] = (
        ConnectionError,
        socket.gaierror,
        TimeoutError,
        *NOT_READY_ERRORS,
    )
    if pg_dsn and isinstance(error, unreachable):
        reason = str(error) or type(error).__name__
        return Explained(
            f"cannot reach {where}: {reason}; is the server running and the DSN right?",
            EXIT_UNREACHABLE,
        )
    return None


def redact_dsn(dsn: str | None) -> str:
    """``host:port/database`` of a DSN, without user or password."""
    if not dsn:
        return "(not set)"
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "(an unreadable DSN)"
    return f"{host}:{port}{parts.path or '/'}"


def _settings_problem(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        name = "RISKMON_" + "__".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{name}={item.get('input')!r}: {item['msg']}")
    return "bad setting " + "; ".join(problems)
