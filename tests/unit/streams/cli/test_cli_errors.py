"""The riskmon command's one-line answers to errors outside the code (bad settings, unreachable
servers), and its tracebacks for everything else."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from streams.city.config import CityConfigError
from streams.cli.errors import EXIT_CONFIG, EXIT_UNREACHABLE, explain
from streams.settings import SettingMissing, Settings

ROOT = Path(__file__).resolve().parents[4]
DSN = "postgresql://riskmon:s3cret@db.example:6543/riskmon"


def settings_error(**env: str) -> ValidationError:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises(ValidationError) as caught:
            Settings()
    return caught.value


def test_a_bad_setting_names_its_variable_and_value() -> None:
    explained = explain(settings_error(RISKMON_PARTITIONS="abc"))
    assert explained is not None
    assert explained.status == EXIT_CONFIG
    assert explained.message.startswith("bad setting RISKMON_PARTITIONS='abc': ")
    assert "integer" in explained.message


def test_every_bad_setting_is_named() -> None:
    error = settings_error(RISKMON_PARTITIONS="0", RISKMON_KAFKA_SECURITY_PROTOCOL="TLS")
    explained = explain(error)
    assert explained is not None
    assert "RISKMON_PARTITIONS='0'" in explained.message
    assert "RISKMON_KAFKA_SECURITY_PROTOCOL='TLS'" in explained.message


@pytest.mark.parametrize(
    "error",
    [SettingMissing("RISKMON_PG_DSN is not set"), CityConfigError("city.toml: [weights] fire: …")],
)
def test_missing_settings_and_bad_city_files_are_configuration(error: Exception) -> None:
    explained = explain(error)
    assert explained is not None
    assert (explained.status, explained.message) == (EXIT_CONFIG, str(error))


def test_unreachable_kafka_names_the_bootstrap_and_the_security_settings() -> None:
    explained = explain(KafkaConnectionError("Unable to bootstrap"), kafka_bootstrap="k:9092")
    assert explained is not None
    assert explained.status == EXIT_UNREACHABLE
    assert "k:9092 (RISKMON_KAFKA_BOOTSTRAP)" in explained.message
    assert "RISKMON_KAFKA_SECURITY_PROTOCOL" in explained.message


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connect call failed"), TimeoutError(), socket.gaierror(-2, "x")],
)
def test_unreachable_postgresql_hides_the_password(error: Exception) -> None:
    explained = explain(error, pg_dsn=DSN)
    assert explained is not None
    assert explained.status == EXIT_UNREACHABLE
    assert "db.example:6543/riskmon (RISKMON_PG_DSN)" in explained.message
    assert "s3cret" not in explained.message
    assert explained.message.split(": ", 1)[1]  # a reason even for an empty TimeoutError


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InvalidPasswordError("password authentication failed for user riskmon"),
        asyncpg.InvalidCatalogNameError('database "riskmon" does not exist'),
    ],
)
def test_refused_credentials_or_database_are_configuration(error: Exception) -> None:
    explained = explain(error, pg_dsn=DSN)
    assert explained is not None
    assert explained.status == EXIT_CONFIG
    assert str(error) in explained.message
    assert "s3cret" not in explained.message


@pytest.mark.parametrize("error", [KeyError("x"), ValueError("bug"), AssertionError()])
def test_other_errors_are_bugs_and_keep_their_traceback(error: Exception) -> None:
    assert explain(error, pg_dsn=DSN, kafka_bootstrap="k:9092") is None


def test_a_network_error_without_a_database_configured_is_not_blamed_on_it() -> None:
    assert explain(ConnectionRefusedError(111, "refused"), pg_dsn=None) is None


def test_a_port_in_use_says_how_to_choose_another() -> None:
    error = OSError(errno.EADDRINUSE, "error while attempting to bind on address: in use")
    explained = explain(error, pg_dsn=DSN)
    assert explained is not None
    assert explained.status == EXIT_CONFIG
    assert "--port" in explained.message
    assert "PostgreSQL" not in explained.message


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/in.csv"),
        PermissionError(errno.EACCES, "Permission denied", "/data/in.csv"),
    ],
)
def test_a_file_problem_names_the_file_not_the_database(error: OSError) -> None:
    explained = explain(error, pg_dsn=DSN)
    assert explained is not None
    assert explained.status == EXIT_CONFIG
    assert explained.message.endswith(": /data/in.csv")
    assert "PostgreSQL" not in explained.message


def riskmon(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RISKMON_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_prints_one_line_and_exits_2_for_a_bad_setting() -> None:
    done = riskmon("db", "migrate", RISKMON_PARTITIONS="many")
    assert done.returncode == EXIT_CONFIG
    assert done.stderr.strip().splitlines() == [
        "riskmon db: bad setting RISKMON_PARTITIONS='many': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_the_command_says_which_setting_is_missing() -> None:
    done = riskmon("db", "migrate")
    assert done.returncode == EXIT_CONFIG
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("riskmon db: RISKMON_PG_DSN is not set")


def test_a_refused_unix_socket_of_postgresql_is_unreachable_not_a_missing_file() -> None:
    refused = FileNotFoundError(2, "No such file or directory")
    said = explain(refused, pg_dsn="postgresql://postgres@/db?host=/run/pg")
    assert said is not None
    assert said.status == EXIT_UNREACHABLE
    assert "cannot reach PostgreSQL" in said.message
    missing = explain(FileNotFoundError(2, "No such file or directory", "city.toml"), pg_dsn="x")
    assert missing is not None
    assert missing.status == EXIT_CONFIG
