"""Who may do what: five roles in a strict order and one table ``{action: minimum role}``.

A role includes every right of the roles below it::

    viewer < inspector < operator < analyst < admin

Every route and websocket message of the gateway names one :class:`Action`; the gateway asks
:func:`may` before it answers. The table is data, so the unit tests walk every action × role and
docs/operations.md prints it. Where each action is used (the wiring comes later)::

    live.scores         GET /, /ws: the snapshot and score messages
    live.alerts         /ws: alert messages
    session.self        GET /auth/me, POST /auth/logout
    history.read        /api/districts/../history, /api/scores, /api/alerts (no exact locations)
    alert.acknowledge   /ws message ``ack`` (the acknowledger is the authenticated user)
    alert.resolve_note  /ws: a note on resolving an alert
    cap.publish         /api/cap/draft, /api/cap/published, POST /api/cap/approve (public
                        warnings: CAP 1.2 to riskmon.cap-out)
    events.exact        /api/events and any answer with exact coordinates or descriptions
    dead_letters.read   /api/dead-letters (the raw bytes of rejected inputs)
    metrics.read        GET /metrics
    users.admin         add, disable, change the role of users
    audit.read          GET /api/audit
    whatif.read         GET /api/whatif (the policy map: predicted effect of a change)
    field.report        POST /api/field/reports, GET /api/field/structures (dashboard_ws.field)
    public.read         GET /public, /open/districts.geojson: delayed grades only, for everyone
                        (in :data:`ANONYMOUS`: no login at all; docs/public.md)

>>> may(Role.OPERATOR, Action.ACKNOWLEDGE), may(Role.VIEWER, Action.ACKNOWLEDGE)
(True, False)
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

__all__ = ["ANONYMOUS", "MINIMUM_ROLE", "Action", "Role", "may", "may_anonymously", "parse_role"]


class Role(StrEnum):
    """A user's role; the value is what the ``users`` table and tokens store."""

    VIEWER = "viewer"
    INSPECTOR = "inspector"  # files field reports (inspections, facilities) from a phone
    OPERATOR = "operator"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer up to 4 for admin: a higher rank has every right of a lower one."""
        return _RANKS[self]


_RANKS = {role: rank for rank, role in enumerate(Role)}  # the order of definition


def parse_role(text: str) -> Role | None:
    """The role named ``text`` (as stored), or None for an unknown name."""
    try:
        return Role(text)
    except ValueError:
        return None


class Action(StrEnum):
    """Something a client asks the gateway to show or do."""

    LIVE_SCORES = "live.scores"
    LIVE_ALERTS = "live.alerts"
    SESSION_SELF = "session.self"
    HISTORY_READ = "history.read"
    ACKNOWLEDGE = "alert.acknowledge"
    RESOLVE_NOTE = "alert.resolve_note"
    CAP_PUBLISH = "cap.publish"
    EVENTS_EXACT = "events.exact"
    DEAD_LETTERS = "dead_letters.read"
    METRICS = "metrics.read"
    USERS_ADMIN = "users.admin"
    AUDIT_READ = "audit.read"
    WHATIF_READ = "whatif.read"
    FIELD_REPORT = "field.report"
    PUBLIC_READ = "public.read"


MINIMUM_ROLE: MappingProxyType[Action, Role] = MappingProxyType(
    {
        Action.LIVE_SCORES: Role.VIEWER,
        Action.LIVE_ALERTS: Role.VIEWER,
        Action.SESSION_SELF: Role.VIEWER,
        Action.HISTORY_READ: Role.VIEWER,
        Action.ACKNOWLEDGE: Role.OPERATOR,
        Action.RESOLVE_NOTE: Role.OPERATOR,
        Action.CAP_PUBLISH: Role.OPERATOR,
        Action.EVENTS_EXACT: Role.ANALYST,
        Action.DEAD_LETTERS: Role.ADMIN,
        Action.METRICS: Role.ADMIN,
        Action.USERS_ADMIN: Role.ADMIN,
        Action.AUDIT_READ: Role.ADMIN,
        Action.WHATIF_READ: Role.ANALYST,
        Action.FIELD_REPORT: Role.INSPECTOR,
        Action.PUBLIC_READ: Role.VIEWER,
    }
)
# The deliberately public actions: allowed without any login (their routes skip authentication;
# what they show is made safe for anyone by dashboard_ws.public.disclosure).
ANONYMOUS: frozenset[Action] = frozenset({Action.PUBLIC_READ})


def may(role: Role, action: Action) -> bool:
    """True when ``role`` is at least the minimum role of ``action``."""
    return role.rank >= MINIMUM_ROLE[action].rank


def may_anonymously(action: Action) -> bool:
    """True when ``action`` needs no login at all (:data:`ANONYMOUS`)."""
    return action in ANONYMOUS
