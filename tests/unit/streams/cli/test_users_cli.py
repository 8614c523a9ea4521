"""``riskmon users``: argument handling, password reading and refusals before any database."""

from __future__ import annotations

import io

import pytest

from streams.cli.commands import COMMANDS
from streams.cli.main import _parser, command_of
from streams.cli.users import EXIT_USAGE, Refused, name_problem, read_password, users_add
from streams.settings import Settings


def test_the_users_actions_parse_to_their_commands() -> None:
    add = _parser().parse_args(["users", "add", "ana", "--role", "operator", "--password-stdin"])
    assert (command_of(add), add.name, add.role, add.password_stdin) == (
        "users add",
        "ana",
        "operator",
        True,
    )
    assert command_of(_parser().parse_args(["users", "list"])) == "users list"
    assert _parser().parse_args(["users", "disable", "ana"]).name == "ana"
    set_role = _parser().parse_args(["users", "set-role", "ana", "admin"])
    assert (command_of(set_role), set_role.role) == ("users set-role", "admin")
    assert {"users add", "users list", "users disable", "users set-role"} <= set(COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "add", "ana"],  # no role
        ["users", "add", "ana", "--role", "root"],
        ["users", "set-role", "ana", "superuser"],
        ["users", "disable"],
        ["users"],
    ],
)
def test_bad_arguments_are_refused_by_the_parser(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(argv)
    assert exited.value.code == 2


def test_a_password_from_stdin_is_its_first_line() -> None:
    assert read_password(True, stdin=io.StringIO("a long passphrase \r\nrest\n")) == (
        "a long passphrase "
    )


def test_a_short_password_is_refused() -> None:
    refused = read_password(True, stdin=io.StringIO("short\n"))
    assert refused == Refused("a password needs at least 12 characters", EXIT_USAGE)


def test_the_prompt_asks_twice_and_refuses_a_mismatch() -> None:
    answers = iter(["first long password", "first long passwore"])
    refused = read_password(False, ask=lambda prompt: next(answers))
    assert refused == Refused("the two passwords differ", EXIT_USAGE)
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "the same long password"

    assert read_password(False, ask=ask) == "the same long password"
    assert prompts == ["password: ", "password again: "]


@pytest.mark.parametrize("name", ["Ana", "a b", "", "-x", "x" * 65, "ana;drop"])
def test_bad_names_are_refused(name: str) -> None:
    assert name_problem(name) is not None


def test_good_names_pass() -> None:
    assert name_problem("ana.kim@gimpo-1") is None


def test_add_refuses_a_short_password_before_touching_a_database_and_never_echoes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("tiny-secret\n"))
    args = _parser().parse_args(["users", "add", "ana", "--role", "viewer", "--password-stdin"])
    # No RISKMON_PG_DSN: reaching the database would raise SettingMissing.
    assert users_add(args, Settings()) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert "at least 12" in err
    assert "tiny-secret" not in out + err
