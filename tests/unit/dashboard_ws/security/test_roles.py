"""The roles table: every action × every role, and the order of roles."""

from __future__ import annotations

import pytest

from dashboard_ws.security.roles import (
    MINIMUM_ROLE,
    Action,
    Role,
    may,
    may_anonymously,
    parse_role,
)

V, IN, OP, AN, AD = Role.VIEWER, Role.INSPECTOR, Role.OPERATOR, Role.ANALYST, Role.ADMIN

# Who may do each action, written out (not derived from the table it checks).
EXPECTED: dict[Action, set[Role]] = {
    Action.LIVE_SCORES: {V, IN, OP, AN, AD},
    Action.LIVE_ALERTS: {V, IN, OP, AN, AD},
    Action.SESSION_SELF: {V, IN, OP, AN, AD},
    Action.HISTORY_READ: {V, IN, OP, AN, AD},
    Action.ACKNOWLEDGE: {OP, AN, AD},
    Action.RESOLVE_NOTE: {OP, AN, AD},
    Action.CAP_PUBLISH: {OP, AN, AD},
    Action.EVENTS_EXACT: {AN, AD},
    Action.DEAD_LETTERS: {AD},
    Action.METRICS: {AD},
    Action.USERS_ADMIN: {AD},
    Action.AUDIT_READ: {AD},
    Action.WHATIF_READ: {AN, AD},
    Action.FIELD_REPORT: {IN, OP, AN, AD},
    Action.PUBLIC_READ: {V, IN, OP, AN, AD},
}


def test_every_action_has_a_minimum_role_and_an_expectation() -> None:
    assert set(MINIMUM_ROLE) == set(Action) == set(EXPECTED)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_may(role: Role, action: Action) -> None:
    assert may(role, action) is (role in EXPECTED[action])


def test_only_the_public_read_needs_no_login() -> None:
    assert [a for a in Action if may_anonymously(a)] == [Action.PUBLIC_READ]


def test_roles_are_ordered_viewer_inspector_operator_analyst_admin() -> None:
    assert [r.rank for r in (V, IN, OP, AN, AD)] == [0, 1, 2, 3, 4]


def test_a_higher_role_has_every_right_of_a_lower_one() -> None:
    for action in Action:
        for lower in Role:
            for higher in Role:
                if higher.rank >= lower.rank and may(lower, action):
                    assert may(higher, action)


def test_parse_role() -> None:
    assert parse_role("analyst") is Role.ANALYST
    assert parse_role("inspector") is Role.INSPECTOR
    assert parse_role("root") is None
    assert parse_role("Admin") is None  # stored names are exact
