"""The ``riskmon`` command table: every command the parser accepts has exactly one handler."""

from __future__ import annotations

import argparse

from streams.cli.commands import COMMANDS
from streams.cli.main import _parser, command_of


def _accepted_commands(parser: argparse.ArgumentParser) -> set[str]:
    """Every key the parser can produce: ``command`` or ``command action``."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    keys = set()
    for name, command in sub.choices.items():
        actions = [a for a in command._actions if a.dest == "action" and a.choices]
        if actions:
            keys |= {f"{name} {choice}" for choice in actions[0].choices}
        else:
            keys.add(name)
    return keys


def test_every_command_of_the_parser_has_a_handler_and_no_handler_is_orphaned() -> None:
    assert _accepted_commands(_parser()) == set(COMMANDS)


def test_command_of_names_the_action_of_db() -> None:
    assert command_of(_parser().parse_args(["db", "new-epoch"])) == "db new-epoch"
    assert command_of(_parser().parse_args(["worker"])) == "worker"
