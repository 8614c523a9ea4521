"""Update supersedes, Cancel withdraws, expires ends: the same end state in every arrival order,
redeliveries change nothing, and the state survives a round trip through JSON."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cap import CapAlert, CapLedger, LedgerChange, parse_cap

from .spec_examples import gimpo_alert

KST = timezone(timedelta(hours=9))
SENDER = "kma@korea.kr"
NOW = datetime(2026, 7, 15, 15, 0, tzinfo=KST)


def message(
    identifier: str,
    msg_type: str = "Alert",
    refs: tuple[str, ...] = (),
    *,
    sent_minute: int = 0,
    expires: str | None = "2026-07-15T20:00:00+09:00",
    status: str = "Actual",
) -> CapAlert:
    sent = f"2026-07-15T14:{sent_minute:02d}:00+09:00"
    references = " ".join(f"{SENDER},{r},2026-07-15T14:00:00+09:00" for r in refs) or None
    text = gimpo_alert(
        identifier,
        sent=sent,
        msg_type=msg_type,
        references=references,
        expires=expires,
        status=status,
    )
    return parse_cap(text.encode()).alert


A = message("A")
U1 = message("U1", "Update", ("A",), sent_minute=10)
U2 = message("U2", "Update", ("U1",), sent_minute=20)  # names only its predecessor
C = message("C", "Cancel", ("U2",), sent_minute=30)


def run(messages: list[CapAlert], now: datetime = NOW) -> CapLedger:
    ledger = CapLedger()
    for alert in messages:
        ledger.apply(alert, now)
    return ledger


def test_an_alert_starts_and_its_update_supersedes_it() -> None:
    ledger = CapLedger()
    assert ledger.apply(A, NOW) == [LedgerChange((SENDER, "A"), "started", "alert")]
    assert ledger.apply(U1, NOW) == [
        LedgerChange((SENDER, "A"), "ended", "superseded", by=(SENDER, "U1")),
        LedgerChange((SENDER, "U1"), "started", "update"),
    ]
    assert ledger.active() == [(SENDER, "U1")]


def test_a_cancel_withdraws_and_never_starts() -> None:
    ledger = run([A])
    assert ledger.apply(message("C", "Cancel", ("A",)), NOW) == [
        LedgerChange((SENDER, "A"), "ended", "cancelled", by=(SENDER, "C"))
    ]
    assert ledger.active() == []


@pytest.mark.parametrize("order", list(itertools.permutations([A, U1, U2])))
def test_an_update_chain_ends_with_the_last_update_in_any_order(
    order: tuple[CapAlert, ...],
) -> None:
    ledger = run(list(order))
    assert ledger.active() == [(SENDER, "U2")]
    states = {key[1]: entry.state for key, entry in ledger.entries.items()}
    assert states == {"A": "superseded", "U1": "superseded", "U2": "active"}


@pytest.mark.parametrize("order", list(itertools.permutations([A, U1, U2, C])))
def test_a_cancel_at_the_end_of_a_chain_withdraws_it_in_any_order(
    order: tuple[CapAlert, ...],
) -> None:
    ledger = run(list(order))
    assert ledger.active() == []
    assert ledger.entries[(SENDER, "U2")].state == "cancelled"
    assert ledger.entries[(SENDER, "C")].state == "inert"


def test_what_starts_and_ends_balances_in_any_order() -> None:
    """Whatever the order, every alert that started has ended exactly once, or is active."""
    for order in itertools.permutations([A, U1, U2]):
        ledger = CapLedger()
        changes = [c for alert in order for c in ledger.apply(alert, NOW)]
        started = [c.key for c in changes if c.change == "started"]
        ended = [c.key for c in changes if c.change == "ended"]
        assert sorted(started) == sorted([*ended, *ledger.active()])
        assert len(set(ended)) == len(ended)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([A, U1, U2, C]), min_size=1, max_size=10))
def test_redeliveries_change_nothing(messages: list[CapAlert]) -> None:
    once = run(list(dict.fromkeys(messages)))
    again = run(messages)
    assert again.to_dict() == once.to_dict()


def test_a_redelivery_reports_no_change() -> None:
    ledger = run([A, U1])
    assert ledger.apply(A, NOW) == []
    assert ledger.apply(U1, NOW) == []
    assert ledger.active() == [(SENDER, "U1")]


def test_expires_ends_the_effect_once() -> None:
    ledger = run([A])
    end = datetime(2026, 7, 15, 20, 0, tzinfo=KST)
    assert ledger.advance(end - timedelta(seconds=1)) == []
    assert ledger.advance(end) == [LedgerChange((SENDER, "A"), "ended", "expired")]
    assert ledger.advance(end + timedelta(hours=1)) == []
    assert ledger.active() == []


def test_an_alert_that_has_already_expired_never_starts() -> None:
    late = datetime(2026, 7, 15, 21, 0, tzinfo=KST)
    ledger = CapLedger()
    assert ledger.apply(A, late) == []
    assert ledger.entries[(SENDER, "A")].state == "expired"


def test_without_expires_the_default_ttl_applies() -> None:
    ledger = CapLedger(default_ttl=timedelta(hours=2))
    ledger.apply(message("A", expires=None), NOW)
    sent = datetime(2026, 7, 15, 14, 0, tzinfo=KST)
    assert ledger.entries[(SENDER, "A")].ends_at == sent + timedelta(hours=2)
    assert ledger.advance(sent + timedelta(hours=2)) == [
        LedgerChange((SENDER, "A"), "ended", "expired")
    ]


def test_tests_and_exercises_never_touch_real_alerts() -> None:
    ledger = run([A])
    exercise = message("X", "Cancel", ("A",), status="Exercise")
    assert ledger.apply(exercise, NOW) == []
    assert ledger.active() == [(SENDER, "A")]
    assert ledger.apply(message("T", status="Test"), NOW) == []


def test_old_entries_are_forgotten_after_retention() -> None:
    ledger = CapLedger(retention=timedelta(days=1))
    ledger.apply(A, NOW)
    end = datetime(2026, 7, 15, 20, 0, tzinfo=KST)
    ledger.advance(end)
    assert (SENDER, "A") in ledger.entries
    ledger.advance(end + timedelta(days=1))
    assert ledger.entries == {}


def test_the_state_round_trips_through_json_midway() -> None:
    ledger = run([U2, A])
    restored = CapLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    assert restored.to_dict() == ledger.to_dict()
    for alert in (U1, C):
        assert restored.apply(alert, NOW) == ledger.apply(alert, NOW)
    assert restored.to_dict() == ledger.to_dict()
    assert restored.active() == [] == ledger.active()
