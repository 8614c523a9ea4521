"""Which CAP alerts are in effect: Update supersedes, Cancel withdraws, ``expires`` ends.

:class:`CapLedger` is a pure state machine over messages keyed by ``(sender, identifier)``. Feed it
every parsed message with :meth:`CapLedger.apply` and the time with :meth:`CapLedger.advance`;
both return the :class:`LedgerChange` s to act on (an alert ``started`` or ``ended``). The clock is
an argument; the state round-trips through :meth:`CapLedger.to_dict` / :meth:`from_dict` (JSON).

The rules, which give the same end state in any arrival order and make a redelivery a no-op:

* a message already seen (same key) changes nothing;
* ``Alert``: starts, unless a Cancel or Update that names it arrived before it, or it has
  already expired;
* ``Update``: every message it ``references`` ends (``superseded``) — also one not seen yet, which
  will then never start — and the Update itself starts like an Alert. References are applied
  even when the Update itself is already superseded, so a chain A ← U1 ← U2 ends with U2 alone
  whatever order the three arrive in;
* ``Cancel``: every referenced message ends (``cancelled``); the Cancel itself never starts;
* ``Ack`` and ``Error`` are remembered (a redelivery stays a no-op) and change nothing;
* messages whose ``status`` is not ``Actual`` (Exercise, System, Test, Draft) are ignored: a test
  must never end a real alert;
* an alert ends (``expired``) at the latest ``expires`` of its info blocks, or ``default_ttl``
  after ``sent`` when none has one; :meth:`advance` reports it once;
* the ledger forgets a message ``retention`` after its end (a redelivery later than that would
  be seen as new; brokers do not keep duplicates that long).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from streams.cap.model import CapAlert

__all__ = ["CapLedger", "LedgerChange", "LedgerEntry"]

Key = tuple[str, str]
EntryState = Literal["active", "superseded", "cancelled", "expired", "inert"]
DEFAULT_TTL = timedelta(hours=6)
RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class LedgerChange:
    """An alert starts or ends; ``by`` is the Update or Cancel that ended it."""

    key: Key
    change: Literal["started", "ended"]
    reason: Literal["alert", "update", "superseded", "cancelled", "expired"]
    by: Key | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One message the ledger has seen (``seen=False``: only named by a later message)."""

    key: Key
    state: EntryState
    ends_at: datetime
    seen: bool = True
    msg_type: str = ""
    ended_by: Key | None = None


def _key_text(key: Key) -> str:
    return f"{key[0]},{key[1]}"  # CAP identifiers and senders never hold a comma


def _key_of(text: str) -> Key:
    sender, identifier = text.split(",")
    return (sender, identifier)


class CapLedger:
    """The alerts in effect and the messages seen; see the module's docstring for the rules."""

    def __init__(self, default_ttl: timedelta = DEFAULT_TTL, retention: timedelta = RETENTION):
        self.default_ttl = default_ttl
        self.retention = retention
        self.entries: dict[Key, LedgerEntry] = {}

    # -- reading ------------------------------------------------------------------------------
    def active(self) -> list[Key]:
        """The keys of the alerts in effect (as of the last apply/advance), sorted."""
        return sorted(k for k, e in self.entries.items() if e.state == "active")

    def ends_at(self, alert: CapAlert) -> datetime:
        """When ``alert``'s effect ends: its latest ``expires``, else ``sent + default_ttl``."""
        expires = [info.expires for info in alert.infos if info.expires is not None]
        return max(expires) if expires else alert.sent + self.default_ttl

    # -- changing -----------------------------------------------------------------------------
    def apply(self, alert: CapAlert, now: datetime) -> list[LedgerChange]:
        """Take one message in at ``now``; returns what started and ended (expiries first)."""
        changes = self.advance(now)
        if alert.status != "Actual" or (alert.key in self.entries and self.entries[alert.key].seen):
            return changes
        ends_at = self.ends_at(alert)
        if alert.msg_type in ("Update", "Cancel"):
            reason: Literal["superseded", "cancelled"] = (
                "cancelled" if alert.msg_type == "Cancel" else "superseded"
            )
            for ref in alert.references:
                changes += self._end(ref.key, reason, alert.key, ends_at)
        earlier = self.entries.get(alert.key)  # named by a later message that came first
        if alert.msg_type not in ("Alert", "Update"):
            state: EntryState = "inert"
        elif earlier is not None:
            state = earlier.state
        elif ends_at <= now:
            state = "expired"
        else:
            state = "active"
            kind: Literal["alert", "update"] = "update" if alert.msg_type == "Update" else "alert"
            changes.append(LedgerChange(alert.key, "started", kind))
        self.entries[alert.key] = LedgerEntry(
            key=alert.key,
            state=state,
            ends_at=max(ends_at, earlier.ends_at) if earlier else ends_at,
            seen=True,
            msg_type=alert.msg_type,
            ended_by=earlier.ended_by if earlier else None,
        )
        return changes

    def _end(
        self,
        key: Key,
        reason: Literal["superseded", "cancelled"],
        by: Key,
        ends_at: datetime,
    ) -> list[LedgerChange]:
        entry = self.entries.get(key)
        if entry is None:  # not seen yet: remember, so it never starts
            self.entries[key] = LedgerEntry(key, reason, ends_at, seen=False, ended_by=by)
            return []
        if entry.state == "active":
            self.entries[key] = replace(entry, state=reason, ended_by=by)
            return [LedgerChange(key, "ended", reason, by)]
        if entry.state == "superseded" and reason == "cancelled":
            self.entries[key] = replace(entry, state="cancelled", ended_by=by)
        return []

    def advance(self, now: datetime) -> list[LedgerChange]:
        """End the alerts whose time is up at ``now`` and forget old entries."""
        changes = []
        for key in sorted(self.entries):
            entry = self.entries[key]
            if entry.state == "active" and entry.ends_at <= now:
                self.entries[key] = replace(entry, state="expired")
                changes.append(LedgerChange(key, "ended", "expired"))
            elif entry.state != "active" and entry.ends_at + self.retention <= now:
                del self.entries[key]
        return changes

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "default_ttl_s": self.default_ttl.total_seconds(),
            "retention_s": self.retention.total_seconds(),
            "entries": [
                {
                    "key": _key_text(e.key),
                    "state": e.state,
                    "ends_at": e.ends_at.isoformat(),
                    "seen": e.seen,
                    "msg_type": e.msg_type,
                    "ended_by": None if e.ended_by is None else _key_text(e.ended_by),
                }
                for _, e in sorted(self.entries.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CapLedger:
        ledger = cls(
            default_ttl=timedelta(seconds=float(data["default_ttl_s"])),
            retention=timedelta(seconds=float(data["retention_s"])),
        )
        for row in data["entries"]:
            key = _key_of(row["key"])
            ledger.entries[key] = LedgerEntry(
                key=key,
                state=row["state"],
                ends_at=datetime.fromisoformat(row["ends_at"]),
                seen=bool(row["seen"]),
                msg_type=str(row["msg_type"]),
                ended_by=None if row["ended_by"] is None else _key_of(row["ended_by"]),
            )
        return ledger
