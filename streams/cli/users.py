"""``riskmon users``: accounts of the gateway (add, list, disable, set-role), in PostgreSQL.

    riskmon users add NAME --role ROLE [--agency AGENCY] [--password-stdin]
    riskmon users list
    riskmon users disable NAME
    riskmon users set-role NAME ROLE
    riskmon users set-agency NAME AGENCY      ("-" for none)

``--agency`` names the source (e.g. ``gimpo-safety``) of the safety facts the user reports from the
field page (docs/field.md); an inspector without one cannot report.

``add`` asks for the password twice (without echo), or reads one line from standard input with
``--password-stdin`` (for scripts: ``printf '%s\\n' "$PW" | riskmon users add ...``). The password
is hashed here (argon2id, :mod:`dashboard_ws.security.passwords`) and never printed or logged.
Every change is an audit row with the actor ``cli``. Exit status: 0 done, 1 refused (the name is
taken, no such user), 2 a bad argument (name, role, password).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO, TypeVar

from dashboard_ws.security.roles import Role
from streams.settings import Settings

if TYPE_CHECKING:  # imported when a users command runs: `riskmon score` loads no argon2
    from streams.persistence.db import Connection

EXIT_REFUSED = 1
EXIT_USAGE = 2
ACTOR = "cli"
ROLE_NAMES = [role.value for role in Role]
T = TypeVar("T")


@dataclass(frozen=True)
class Refused:
    """Why a users command did nothing, and its exit status."""

    message: str
    status: int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``users`` command and its actions."""
    users = sub.add_parser(
        "users", help="accounts of the gateway: add, list, disable, set-role, set-agency"
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user (asks for the password twice)")
    add.add_argument("name", help="lower-case letters, digits and . _ @ - (at most 64)")
    add.add_argument("--role", required=True, choices=ROLE_NAMES)
    add.add_argument(
        "--agency",
        help="the source of the facts the user reports from the field (e.g. gimpo-safety)",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    actions.add_parser("list", help="every user with role and state")
    disable = actions.add_parser("disable", help="disable a user and end its sessions")
    disable.add_argument("name")
    set_role = actions.add_parser("set-role", help="change a user's role")
    set_role.add_argument("name")
    set_role.add_argument("role", choices=ROLE_NAMES)
    set_agency = actions.add_parser("set-agency", help="change a user's agency ('-' for none)")
    set_agency.add_argument("name")
    set_agency.add_argument("agency")


def read_password(
    from_stdin: bool,
    *,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] = getpass.getpass,
) -> str | Refused:
    """The new password: the first line of ``stdin``, or asked twice; checked by the policy."""
    from dashboard_ws.security.passwords import password_problem

    if from_stdin:
        line = (stdin or sys.stdin).readline()
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = ask("password: ")
        if ask("password again: ") != password:
            return Refused("the two passwords differ", EXIT_USAGE)
    problem = password_problem(password)
    return Refused(problem, EXIT_USAGE) if problem else password


def name_problem(name: str) -> Refused | None:
    """Why ``name`` cannot be a user name (the users table checks the same pattern)."""
    from streams.persistence.accounts import USERNAME

    if USERNAME.fullmatch(name):
        return None
    return Refused(
        f"bad user name {name[:80]!r}: 1-64 lower-case letters, digits and . _ @ -, "
        "starting with a letter or digit",
        EXIT_USAGE,
    )


def agency_problem(agency: str) -> Refused | None:
    """Why ``agency`` cannot be a user's agency: it becomes the ``source`` of published facts,
    so it follows the contract's identifier rule (1-128 characters, no NUL), and it must not
    start or end with a space."""
    from streams.persistence.accounts import MAX_AGENCY

    if 0 < len(agency) <= MAX_AGENCY and "\x00" not in agency and agency == agency.strip():
        return None
    return Refused(
        f"bad agency {agency[:80]!r}: 1-{MAX_AGENCY} characters without NUL or surrounding "
        "spaces, e.g. gimpo-safety",
        EXIT_USAGE,
    )


def _refuse(refusal: Refused) -> int:
    print(f"riskmon users: {refusal.message}", file=sys.stderr)
    return refusal.status


def _with_database(settings: Settings, work: Callable[[Connection], Awaitable[T]]) -> T:
    """Run ``work`` on a migrated database connection, in one transaction."""
    from streams.persistence import db

    async def run() -> T:
        conn = await db.connect_waiting(settings.require_pg_dsn(), timeout_s=10.0)
        try:
            await db.migrate(conn)
            async with conn.transaction():
                return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard_ws.security.passwords import PasswordHasher
    from streams.persistence import accounts

    bad_name = name_problem(args.name)
    if bad_name:
        return _refuse(bad_name)
    bad_agency = agency_problem(args.agency) if args.agency is not None else None
    if bad_agency:
        return _refuse(bad_agency)
    password = read_password(args.password_stdin)
    if isinstance(password, Refused):
        return _refuse(password)
    password_hash = PasswordHasher().hash(password)

    async def store(conn: Connection) -> bool:
        now = datetime.now(UTC)
        user = await accounts.add_user(
            conn, args.name, args.role, password_hash, now, agency=args.agency
        )
        if user is None:
            return False
        detail = {"role": args.role}
        if args.agency is not None:
            detail["agency"] = args.agency
        await accounts.audit(
            conn, at=now, actor=ACTOR, action="user.add", target=args.name, detail=detail
        )
        return True

    if not _with_database(settings, store):
        return _refuse(Refused(f"a user named {args.name!r} exists already", EXIT_REFUSED))
    agency = f", agency {args.agency}" if args.agency is not None else ""
    print(f"added {args.name} ({args.role}{agency})")
    return 0


def users_list(args: argparse.Namespace, settings: Settings) -> int:
    from streams.persistence import accounts

    users = _with_database(settings, accounts.list_users)
    width = max([len(u.name) for u in users] + [4])
    agencies = max([len(u.agency or "-") for u in users] + [6])
    print(f"{'NAME':<{width}}  {'ROLE':<9}  {'STATE':<8}  {'AGENCY':<{agencies}}  CREATED")
    for user in users:
        state = "disabled" if user.disabled else "active"
        created = user.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        agency = user.agency or "-"
        print(f"{user.name:<{width}}  {user.role:<9}  {state:<8}  {agency:<{agencies}}  {created}")
    return 0


def users_disable(args: argparse.Namespace, settings: Settings) -> int:
    from streams.persistence import accounts

    bad_name = name_problem(args.name)
    if bad_name:
        return _refuse(bad_name)

    async def change(conn: Connection) -> bool:
        now = datetime.now(UTC)
        if not await accounts.disable_user(conn, args.name, now):
            return False
        await accounts.audit(conn, at=now, actor=ACTOR, action="user.disable", target=args.name)
        return True

    if not _with_database(settings, change):
        return _refuse(Refused(f"no user named {args.name!r}", EXIT_REFUSED))
    print(f"disabled {args.name}; its sessions ended")
    return 0


def users_set_role(args: argparse.Namespace, settings: Settings) -> int:
    from streams.persistence import accounts

    bad_name = name_problem(args.name)
    if bad_name:
        return _refuse(bad_name)

    async def change(conn: Connection) -> str | None:
        now = datetime.now(UTC)
        old = await accounts.set_role(conn, args.name, args.role, now)
        if old is not None and old != args.role:
            # a new role starts with a new login: open sockets close at the gateway's next check
            await accounts.delete_sessions_of(conn, args.name)
        if old is not None:
            await accounts.audit(
                conn,
                at=now,
                actor=ACTOR,
                action="user.set_role",
                target=args.name,
                detail={"from": old, "to": args.role},
            )
        return old

    old = _with_database(settings, change)
    if old is None:
        return _refuse(Refused(f"no user named {args.name!r}", EXIT_REFUSED))
    print(f"{args.name}: {old} -> {args.role}; its sessions ended")
    return 0


def users_set_agency(args: argparse.Namespace, settings: Settings) -> int:
    from streams.persistence import accounts

    bad_name = name_problem(args.name)
    if bad_name:
        return _refuse(bad_name)
    agency: str | None = None if args.agency == "-" else args.agency
    bad_agency = agency_problem(agency) if agency is not None else None
    if bad_agency:
        return _refuse(bad_agency)

    async def change(conn: Connection) -> tuple[str | None] | None:
        now = datetime.now(UTC)
        old = await accounts.set_agency(conn, args.name, agency, now)
        if old is not None:
            await accounts.audit(
                conn,
                at=now,
                actor=ACTOR,
                action="user.set_agency",
                target=args.name,
                detail={"from": old[0], "to": agency},
            )
        return old

    old = _with_database(settings, change)
    if old is None:
        return _refuse(Refused(f"no user named {args.name!r}", EXIT_REFUSED))
    print(f"{args.name}: agency {old[0] or '-'} -> {agency or '-'}")
    return 0
