"""PendingAcks: which client hears the worker's decision on its acknowledgement, and when not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard_ws.acks import PendingAcks, decode_client_message, to_ack
from streams.contract import AckRequest, AckResult

JANGGI = "4157056000"
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def request(alert_id: str = "a1", request_id: str | None = "r1") -> AckRequest:
    return AckRequest(alert_id=alert_id, district=JANGGI, who="kim", request_id=request_id)


def result(ack_id: str | None, outcome: str = "applied", **extra: object) -> AckResult:
    return AckResult.model_validate(
        {
            "ack_id": ack_id,
            "alert_id": "a1",
            "district": JANGGI,
            "who": "kim",
            "outcome": outcome,
            "decided_at": AT,
            **extra,
        }
    )


def test_the_decision_goes_to_the_client_that_asked_once() -> None:
    pending: PendingAcks[str] = PendingAcks()
    pending.add("x1", "alice", request(request_id="r1"), now=0.0)
    pending.add("x2", "bob", request(request_id="r2"), now=0.0)
    rejected = result(
        "x2", "rejected", code="already_acknowledged", reason="kim acknowledged it at 09:00"
    )
    client, message = pending.decide(rejected) or (None, None)
    assert client == "bob"
    assert message is not None
    assert (message.type, message.status, message.request_id) == ("ack_result", "rejected", "r2")
    assert message.code == "already_acknowledged"
    assert message.reason == "kim acknowledged it at 09:00"
    assert pending.decide(rejected) is None  # redelivered: told once
    assert "x1" in pending
    assert "x2" not in pending
    assert len(pending) == 1


def test_results_of_other_gateways_or_without_ack_id_are_ignored() -> None:
    pending: PendingAcks[str] = PendingAcks()
    pending.add("x1", "alice", request(), now=0.0)
    assert pending.decide(result("someone-elses")) is None
    assert pending.decide(result(None)) is None  # published to alert-acks by another tool
    assert len(pending) == 1


def test_a_client_has_a_cap_freed_by_decisions_and_by_leaving() -> None:
    pending: PendingAcks[str] = PendingAcks(per_client=2)
    pending.add("x1", "alice", request(), now=0.0)
    pending.add("x2", "alice", request(), now=0.0)
    assert not pending.admit("alice")
    assert pending.admit("bob")  # the cap is per client
    pending.decide(result("x1"))
    assert pending.admit("alice")
    pending.add("x3", "alice", request(), now=0.0)
    pending.add("y1", "bob", request(), now=0.0)
    assert pending.drop_client("alice") == 2
    assert pending.admit("alice")
    assert pending.decide(result("x3")) is None  # alice left: nobody to tell
    assert "y1" in pending


def test_old_decisions_are_no_longer_waited_for_and_their_clients_are_told() -> None:
    pending: PendingAcks[str] = PendingAcks(wait_s=60.0)
    pending.add("old", "alice", request(), now=0.0)
    pending.add("new", "alice", request(), now=30.0)
    pending.add("bob's", "bob", request(), now=10.0)
    assert pending.next_expiry() == 60.0
    assert pending.expire(59.0) == []
    told = pending.expire(75.0)
    assert [(client, ack_id) for client, ack_id, _ in told] == [("alice", "old"), ("bob", "bob's")]
    for _, _, message in told:
        assert (message.status, message.alert_id, message.code) == ("timed_out", "a1", None)
        assert message.reason is not None
        assert "60 s" in message.reason
    assert "old" not in pending
    assert "new" in pending
    assert pending.next_expiry() == 90.0
    assert pending.decide(result("old")) is None  # a late decision is not told twice
    assert pending.admit("bob")


def test_forget_after_a_failed_publish_frees_the_slot() -> None:
    pending: PendingAcks[str] = PendingAcks(per_client=1)
    pending.add("x1", "alice", request(), now=0.0)
    assert pending.forget("x1") is not None
    assert pending.forget("x1") is None
    assert pending.admit("alice")
    assert len(pending) == 0


def test_adding_the_same_ack_id_twice_counts_it_once() -> None:
    pending: PendingAcks[str] = PendingAcks(per_client=2)
    pending.add("x1", "alice", request(), now=0.0)
    pending.add("x1", "alice", request(), now=1.0)
    assert pending.admit("alice")
    assert len(pending) == 1


def test_to_ack_carries_the_ack_id_the_request_and_the_authenticated_user() -> None:
    decoded = decode_client_message(
        '{"type": "ack", "alert_id": "a1", "district": "4157056000", "who": "mallory",'
        ' "note": "119 on the way", "request_id": "r-9"}'
    )
    assert isinstance(decoded, AckRequest)
    ack = to_ack(decoded, "kim", AT, ack_id="x1")  # the client's "who" is not believed
    assert (ack.ack_id, ack.alert_id, ack.who, ack.note, ack.at) == (
        "x1",
        "a1",
        "kim",
        "119 on the way",
        AT,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"type": "ack", "alert_id": "a1", "district": "4157056000", "who": ""}', "who: String"),
        (
            '{"type": "ack", "alert_id": "a1", "district": "4157056000", "who": "k",'
            f' "request_id": "{"r" * 101}"}}',
            "request_id: String should have at most 100 characters",
        ),
        ("not json", "message: Invalid JSON"),
    ],
)
def test_bad_requests_are_explained(text: str, reason: str) -> None:
    decoded = decode_client_message(text)
    assert isinstance(decoded, str)
    assert decoded.startswith(reason)
