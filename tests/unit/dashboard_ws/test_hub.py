"""The hub: seq ordering, snapshots, coalesced scores messages, the snapshot-vs-live race, client
states."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard_ws.hub import (
    DRIVER_HISTORY,
    TRANSITIONS,
    ClientId,
    ClientState,
    Hub,
    InvalidTransition,
    NotYet,
    Outcome,
    Outgoing,
    UnknownClient,
    check_transition,
)
from streams.contract import WS_SERVER_MESSAGE, Driver, ScoresMessage, ScoreUpdate, SnapshotMessage
from tests.factories import alert, score_update

A, B, C = "4157025000", "4157051500", "4157056000"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    """The time each pop passes; ``late`` moves it well past the coalescing interval."""

    def __init__(self) -> None:
        self.now = T0

    def late(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def update(district: str, seq: int, value: float = 1.0) -> ScoreUpdate:
    return score_update(district, seq, value)


def live_client(hub: Hub) -> ClientId:
    cid = hub.add_client()
    hub.take_snapshot(cid)
    hub.go_live(cid)
    return cid


CLOCK = Clock()


def pop(hub: Hub, cid: ClientId) -> Outgoing | None:
    """The client's next message, at a time when a scores message is always due."""
    out = hub.pop_next(cid, CLOCK.late())
    assert not isinstance(out, NotYet)
    return out


def frame(text: str) -> list[tuple[str, int]]:
    decoded = WS_SERVER_MESSAGE.validate_json(text)
    assert isinstance(decoded, ScoresMessage)
    got = [(u.district, u.seq) for u in decoded.districts]
    assert [d for d, _ in got] == sorted({d for d, _ in got}), "sorted, one entry per district"
    return got


def drain(hub: Hub, cid: ClientId) -> list[tuple[str, int]]:
    """Every district update the client takes now, frame after frame."""
    out = []
    while (msg := pop(hub, cid)) is not None:
        updates = frame(msg.text)
        assert msg.updates == len(updates)
        out += updates
    return out


def frames(hub: Hub, cid: ClientId) -> list[list[tuple[str, int]]]:
    """The scores messages the client takes now, one list each."""
    out = []
    while (msg := pop(hub, cid)) is not None:
        out.append(frame(msg.text))
    return out


def snapshot_seqs(text: str) -> dict[str, int]:
    decoded = WS_SERVER_MESSAGE.validate_json(text)
    assert isinstance(decoded, SnapshotMessage)
    return {u.district: u.seq for u in decoded.districts}


# --- latest per district ------------------------------------------------------------------------


def test_keeps_an_update_only_when_its_seq_is_higher() -> None:
    hub = Hub()
    assert hub.offer(update(A, 1)).outcome is Outcome.ACCEPTED
    assert hub.offer(update(A, 3, value=3.0)).outcome is Outcome.ACCEPTED
    assert hub.offer(update(A, 3, value=9.0)).outcome is Outcome.STALE
    assert hub.offer(update(A, 2)).outcome is Outcome.STALE
    held = hub.latest(A)
    assert held is not None
    assert (held.seq, held.composite.value) == (3, 3.0)
    assert (hub.stats.accepted, hub.stats.stale) == (2, 2)


def test_snapshot_has_every_district_sorted_by_code() -> None:
    hub = Hub()
    for district, seq in [(C, 1), (A, 4), (B, 2), (A, 5)]:
        hub.offer(update(district, seq))
    snap = hub.snapshot()
    assert [(u.district, u.seq) for u in snap.districts] == [(A, 5), (B, 2), (C, 1)]
    assert snapshot_seqs(hub.take_snapshot(hub.add_client())) == {A: 5, B: 2, C: 1}


def test_ingest_counts_bad_records_and_never_raises() -> None:
    hub = Hub()
    bad = [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"district": "1"}',
        json.dumps({**update(A, 1).model_dump(mode="json"), "seq": -1}).encode(),
    ]
    for raw in bad:
        offer = hub.ingest(raw)
        assert offer.outcome is Outcome.INVALID
        assert offer.reason
    assert hub.stats.invalid == len(bad)
    assert hub.district_count == 0
    assert hub.ingest(update(A, 1).model_dump_json().encode()).outcome is Outcome.ACCEPTED
    assert hub.district_count == 1


def test_ingest_names_the_bad_field() -> None:
    raw = json.dumps({**update(A, 1).model_dump(mode="json"), "seq": -1}).encode()
    assert Hub().ingest(raw).reason.startswith("seq:")


# --- per-client queues --------------------------------------------------------------------------


def test_wakes_a_client_only_when_its_queue_was_empty() -> None:
    hub = Hub()
    cid = live_client(hub)
    assert hub.offer(update(A, 1)).wake == (cid,)
    assert hub.offer(update(B, 1)).wake == ()
    assert drain(hub, cid) == [(A, 1), (B, 1)]
    assert hub.offer(update(A, 2)).wake == (cid,)


def test_slow_client_holds_at_most_one_message_per_district() -> None:
    hub = Hub()
    slow = live_client(hub)
    for seq in range(1, 101):
        for district in (A, B, C):
            hub.offer(update(district, seq))
        assert hub.pending_count(slow) <= 3
    assert hub.stats.coalesced == 3 * 99
    assert frames(hub, slow) == [[(A, 100), (B, 100), (C, 100)]]  # one message, newest states


def test_one_message_carries_every_changed_district_sorted_with_its_newest_state() -> None:
    hub = Hub()
    cid = live_client(hub)
    hub.offer(update(C, 1))
    hub.offer(update(A, 1))
    hub.offer(update(C, 2, value=7.0))
    out = pop(hub, cid)
    assert out is not None
    assert (out.key, out.updates) == ("scores", 2)
    decoded = WS_SERVER_MESSAGE.validate_json(out.text)
    assert isinstance(decoded, ScoresMessage)
    assert [(u.district, u.seq, u.composite.value) for u in decoded.districts] == [
        (A, 1, 1.0),
        (C, 2, 7.0),
    ]
    assert decoded.at == CLOCK.now
    assert pop(hub, cid) is None


def test_at_most_one_scores_message_per_interval() -> None:
    hub = Hub(coalesce_s=0.1)
    cid = live_client(hub)
    hub.offer(update(A, 1))
    out = hub.pop_next(cid, T0)  # the first goes at once
    assert isinstance(out, Outgoing)
    assert hub.pop_next(cid, T0) is None
    assert hub.offer(update(B, 1)).wake == (cid,)
    wait = hub.pop_next(cid, T0 + timedelta(milliseconds=30))
    assert isinstance(wait, NotYet)
    assert wait.wait_s == pytest.approx(0.07)
    assert hub.offer(update(A, 2)).wake == ()  # joins the waiting message
    wait = hub.pop_next(cid, T0 + timedelta(milliseconds=99))
    assert isinstance(wait, NotYet)
    out = hub.pop_next(cid, T0 + timedelta(milliseconds=100))
    assert isinstance(out, Outgoing)
    assert frame(out.text) == [(A, 2), (B, 1)]
    hub.offer(update(C, 1))
    assert isinstance(hub.pop_next(cid, T0 + timedelta(milliseconds=150)), NotYet)


def test_a_clock_set_back_does_not_hold_scores_longer_than_the_interval() -> None:
    hub = Hub(coalesce_s=0.1)
    cid = live_client(hub)
    hub.offer(update(A, 1))
    assert isinstance(hub.pop_next(cid, T0), Outgoing)
    hub.offer(update(A, 2))
    assert isinstance(hub.pop_next(cid, T0 - timedelta(hours=1)), Outgoing)
    hub.offer(update(A, 3))
    wait = hub.pop_next(cid, T0 - timedelta(hours=1) + timedelta(milliseconds=1))
    assert isinstance(wait, NotYet)
    assert 0 < wait.wait_s <= 0.1


def test_clients_taking_the_same_districts_share_one_text() -> None:
    hub = Hub()
    first, second, third = live_client(hub), live_client(hub), live_client(hub)
    hub.offer(update(A, 1))
    hub.offer(update(B, 1))
    a, b = pop(hub, first), pop(hub, second)
    assert a is not None
    assert b is not None
    assert a.text is b.text  # encoded once
    assert hub.stats.frames_built == 1
    hub.offer(update(A, 2))  # a new state: a new message for the client still waiting
    c = pop(hub, third)
    assert c is not None
    assert frame(c.text) == [(A, 2), (B, 1)]
    assert hub.stats.frames_built == 2


def test_a_burst_ends_in_few_messages_at_the_interval_with_every_final_state() -> None:
    """1,000 updates of 14 districts within 0.5 s; the writer polls every 10 ms."""
    hub = Hub(coalesce_s=0.1)
    cid = live_client(hub)
    districts = [f"41570{n:05d}" for n in range(14)]
    sent: list[tuple[datetime, list[tuple[str, int]]]] = []
    seen: dict[str, int] = {}
    final: dict[str, int] = {}
    for step in range(1000):
        now = T0 + timedelta(microseconds=500 * step)
        hub.offer(update(districts[step % 14], step + 1))
        final[districts[step % 14]] = step + 1
        if step % 20 == 0:  # every 10 ms
            out = hub.pop_next(cid, now)
            if isinstance(out, Outgoing):
                sent.append((now, frame(out.text)))
    end = T0 + timedelta(seconds=1)
    out = hub.pop_next(cid, end)
    assert isinstance(out, Outgoing)
    sent.append((end, frame(out.text)))
    assert len(sent) <= 7  # 0.5 s at one per 100 ms, and the last
    for (at, _), (later, _) in itertools.pairwise(sent):
        assert later - at >= timedelta(milliseconds=100)
    for _, updates in sent:
        for district, seq in updates:
            assert seq > seen.get(district, 0)
            seen[district] = seq
    assert seen == final
    assert len(final) == 14
    assert hub.pop_next(cid, end) is None


def test_fast_client_is_not_affected_by_a_slow_one() -> None:
    hub = Hub()
    fast, slow = live_client(hub), live_client(hub)
    seen = []
    for seq in (1, 2, 3):
        hub.offer(update(A, seq))
        seen += drain(hub, fast)
    assert seen == [(A, 1), (A, 2), (A, 3)]
    assert drain(hub, slow) == [(A, 3)]


def test_stale_update_reaches_no_client() -> None:
    hub = Hub()
    cid = live_client(hub)
    hub.offer(update(A, 5))
    drain(hub, cid)
    assert hub.offer(update(A, 4)).wake == ()
    assert drain(hub, cid) == []


# --- snapshot versus live -----------------------------------------------------------------------


def test_update_before_the_snapshot_is_in_it_and_not_queued() -> None:
    hub = Hub()
    hub.offer(update(A, 1))
    cid = hub.add_client()
    assert hub.offer(update(A, 2)).wake == ()  # CONNECTING: the snapshot will carry it
    assert snapshot_seqs(hub.take_snapshot(cid)) == {A: 2}
    hub.go_live(cid)
    assert drain(hub, cid) == []


def test_update_between_snapshot_and_live_is_delivered_after_the_snapshot() -> None:
    hub = Hub()
    hub.offer(update(A, 1))
    cid = hub.add_client()
    assert snapshot_seqs(hub.take_snapshot(cid)) == {A: 1}
    # the shell is still writing the snapshot when these arrive
    assert hub.offer(update(A, 2)).wake == (cid,)
    hub.offer(update(B, 7))
    hub.go_live(cid)
    assert drain(hub, cid) == [(A, 2), (B, 7)]


def test_snapshot_text_follows_accepted_updates() -> None:
    hub = Hub()
    hub.offer(update(A, 1))
    first = hub.take_snapshot(hub.add_client())
    assert hub.take_snapshot(hub.add_client()) is first  # encoded once while nothing changed
    hub.offer(update(A, 0))  # stale: same snapshot
    assert hub.take_snapshot(hub.add_client()) is first
    hub.offer(update(A, 2))
    assert snapshot_seqs(hub.take_snapshot(hub.add_client())) == {A: 2}


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.sampled_from([A, B, C]), st.integers(0, 12)),
        st.tuples(st.just("add"), st.just(""), st.just(0)),
        st.tuples(
            st.sampled_from(["snapshot", "live", "pop", "remove"]), st.just(""), st.integers(0, 4)
        ),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_any_interleaving_delivers_increasing_seqs_and_ends_on_the_latest(
    ops: list[tuple[str, str, int]],
) -> None:
    hub = Hub()
    clients: list[ClientId] = []
    seen: dict[ClientId, dict[str, int]] = {}

    def receive(cid: ClientId, district: str, seq: int) -> None:
        assert seq > seen[cid].get(district, -1), "a district's seq went backwards"
        seen[cid][district] = seq

    def pick(n: int) -> ClientId | None:
        alive = [c for c in clients if c in seen]
        return alive[n % len(alive)] if alive else None

    for op, district, n in ops:
        if op == "offer":
            hub.offer(update(district, n))
            continue
        if op == "add":
            cid = hub.add_client()
            clients.append(cid)
            seen[cid] = {}
            continue
        cid_or_none = pick(n)
        if cid_or_none is None:
            continue
        cid, state = cid_or_none, hub.state(cid_or_none)
        if op == "snapshot" and state is ClientState.CONNECTING:
            for d, seq in snapshot_seqs(hub.take_snapshot(cid)).items():
                receive(cid, d, seq)
        elif op == "live" and state is ClientState.SNAPSHOT_SENT:
            hub.go_live(cid)
        elif op == "pop" and state is ClientState.LIVE and (msg := pop(hub, cid)):
            for d, seq in frame(msg.text):
                receive(cid, d, seq)
        elif op == "remove":
            hub.remove_client(cid)
            del seen[cid]
        assert all(hub.pending_count(c) <= 3 for c in seen)

    latest = {u.district: u.seq for u in hub.snapshot().districts}
    for cid in seen:  # let every remaining client catch up: it must end on the hub's latest
        if hub.state(cid) is ClientState.CONNECTING:
            for d, seq in snapshot_seqs(hub.take_snapshot(cid)).items():
                receive(cid, d, seq)
        if hub.state(cid) is ClientState.SNAPSHOT_SENT:
            hub.go_live(cid)
        for d, seq in drain(hub, cid):
            receive(cid, d, seq)
        assert seen[cid] == latest


# --- client states ------------------------------------------------------------------------------


def test_transition_table() -> None:
    S = ClientState
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (S.CONNECTING, S.SNAPSHOT_SENT),
        (S.CONNECTING, S.CLOSED),
        (S.SNAPSHOT_SENT, S.LIVE),
        (S.SNAPSHOT_SENT, S.CLOSED),
        (S.LIVE, S.CLOSED),
    }
    for a, b in itertools.product(S, S):
        if (a, b) in allowed:
            check_transition(a, b)
        else:
            with pytest.raises(InvalidTransition):
                check_transition(a, b)


def test_a_client_moves_through_its_states() -> None:
    hub = Hub()
    cid = hub.add_client()
    assert hub.state(cid) is ClientState.CONNECTING
    hub.take_snapshot(cid)
    assert hub.state(cid) is ClientState.SNAPSHOT_SENT
    hub.go_live(cid)
    assert hub.state(cid) is ClientState.LIVE
    hub.remove_client(cid)
    assert hub.client_count == 0


@pytest.mark.parametrize("skip_to", ["live", "pop"])
def test_going_live_needs_the_snapshot_first(skip_to: str) -> None:
    hub = Hub()
    cid = hub.add_client()
    with pytest.raises(InvalidTransition, match="CONNECTING client cannot become LIVE"):
        hub.go_live(cid) if skip_to == "live" else hub.pop_next(cid, T0)


def test_invalid_moves_raise_and_leave_the_state_alone() -> None:
    hub = Hub()
    cid = hub.add_client()
    hub.take_snapshot(cid)
    with pytest.raises(InvalidTransition):
        hub.take_snapshot(cid)
    with pytest.raises(InvalidTransition):
        hub.pop_next(cid, T0)  # not live yet
    assert hub.state(cid) is ClientState.SNAPSHOT_SENT
    hub.go_live(cid)
    with pytest.raises(InvalidTransition):
        hub.go_live(cid)
    assert hub.state(cid) is ClientState.LIVE


def test_removed_client_is_unknown_and_gets_nothing() -> None:
    hub = Hub()
    cid = live_client(hub)
    hub.offer(update(A, 1))
    hub.remove_client(cid)
    assert hub.offer(update(A, 2)).wake == ()
    for call in (hub.remove_client, hub.go_live, lambda c: hub.pop_next(c, T0), hub.state):
        with pytest.raises(UnknownClient):
            call(cid)


def test_alerts_join_the_snapshot_until_resolved_and_stale_seqs_are_dropped() -> None:
    hub = Hub()
    assert hub.offer_alert(alert("a1", 1)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("a1", 2)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("a1", 2)).outcome is Outcome.STALE
    hub.offer_alert(alert("a2", 1, district=B))
    assert [(a.id, a.seq) for a in hub.snapshot().alerts] == [("a1", 2), ("a2", 1)]
    hub.offer_alert(alert("a1", 3, "resolved", change="resolved"))
    assert [a.id for a in hub.snapshot().alerts] == ["a2"]
    assert hub.offer_alert(alert("a1", 2)).outcome is Outcome.STALE  # a replay cannot reopen it


def test_pending_alerts_reach_clients_and_a_withdrawal_clears_them() -> None:
    hub = Hub()
    cid = live_client(hub)
    pending = alert("a1", 1, "pending", change="opened")
    withdrawn = alert("a1", 2, "resolved", change="withdrawn").model_copy(update={"fired_at": None})
    assert hub.offer_alert(pending).wake == (cid,)
    assert [a.id for a in hub.snapshot().alerts] == ["a1"]
    sent = pop(hub, cid)
    assert sent is not None
    assert '"state":"pending"' in sent.text
    assert hub.offer_alert(withdrawn).wake == (cid,)
    sent = pop(hub, cid)
    assert sent is not None
    assert '"change":"withdrawn"' in sent.text
    assert hub.snapshot().alerts == []
    assert hub.offer_alert(pending).outcome is Outcome.STALE  # its seq is still tracked
    hub.offer_alert(alert("a2", 1, "pending", change="opened"))
    hub.offer_alert(alert("a2", 2))  # fires: replaces the pending one, in place
    assert [(a.id, a.state) for a in hub.snapshot().alerts] == [("a2", "firing")]


def test_alert_messages_reach_live_clients_and_coalesce_per_alert() -> None:
    hub = Hub()
    cid = live_client(hub)
    assert hub.offer_alert(alert("a1", 1)).wake == (cid,)
    hub.offer(update(A, 1))
    hub.offer_alert(alert("a1", 2, "acknowledged", change="acknowledged"))
    first, second = pop(hub, cid), pop(hub, cid)
    assert first is not None
    assert second is not None
    assert pop(hub, cid) is None
    assert first.key == "scores"
    decoded = WS_SERVER_MESSAGE.validate_json(second.text)
    assert decoded.type == "alert"
    assert decoded.alert.state == "acknowledged"  # the older pending version was replaced
    assert hub.stats.coalesced == 1


def test_bad_alert_records_are_counted_not_raised() -> None:
    hub = Hub()
    offer = hub.ingest_alert(b'{"id": 1}')
    assert offer.outcome is Outcome.INVALID
    assert "not an alert" in offer.reason
    assert hub.stats.invalid == 1


# --- answers to one client ----------------------------------------------------------------------


def test_an_answer_reaches_only_its_client_in_order_with_the_rest() -> None:
    hub = Hub()
    asker, other = live_client(hub), live_client(hub)
    hub.offer(update(A, 1))
    assert hub.tell(asker, "ack:x1", '{"type":"ack_result"}') is False  # queue not empty
    hub.offer(update(B, 1))
    hub.offer_alert(alert("a1", 1))
    texts = []
    while (msg := pop(hub, asker)) is not None:
        texts.append(msg.key if msg.updates == 0 else frame(msg.text))
    # B joins the scores message that waits ahead of the answer
    assert texts == [[(A, 1), (B, 1)], "ack:x1", "alert:a1"]
    out = pop(hub, other)
    assert out is not None
    assert frame(out.text) == [(A, 1), (B, 1)]
    assert [m.key for m in iter(lambda: pop(hub, other), None)] == ["alert:a1"]
    assert hub.tell(asker, "ack:x2", "{}") is True  # idle: wake its writer


def test_a_newer_answer_with_the_same_key_replaces_the_pending_one() -> None:
    hub = Hub()
    cid = live_client(hub)
    hub.tell(cid, "ack:x1", '"queued"')
    hub.tell(cid, "ack:x1", '"applied"')
    out = pop(hub, cid)
    assert out is not None
    assert out.text == '"applied"'
    assert pop(hub, cid) is None


def test_an_answer_before_the_snapshot_follows_it() -> None:
    hub = Hub()
    cid = hub.add_client()
    hub.tell(cid, "answer:1", '{"type":"request_error"}')
    assert snapshot_seqs(hub.take_snapshot(cid)) == {}
    hub.go_live(cid)
    out = pop(hub, cid)
    assert out is not None
    assert out.key == "answer:1"


def test_telling_a_removed_client_raises_and_has_client_says_why() -> None:
    hub = Hub()
    cid = live_client(hub)
    assert hub.has_client(cid)
    hub.remove_client(cid)
    assert not hub.has_client(cid)
    with pytest.raises(UnknownClient):
        hub.tell(cid, "answer:1", "{}")


def test_drivers_of_a_coalesced_update_are_carried_to_the_client_that_missed_it_only() -> None:
    hub = Hub()
    early, late = live_client(hub), live_client(hub)
    first = update(A, 1).model_copy(
        update={"drivers": [Driver(event_id="fire:1", type="fire", domain="fire", contribution=2)]}
    )
    second = update(A, 2).model_copy(
        update={"drivers": [Driver(event_id="fire:2", type="fire", domain="fire", contribution=1)]}
    )
    hub.offer(first)
    out = pop(hub, early)  # early gets the first update; late has not read yet
    assert out is not None
    hub.offer(second)
    for cid, expected in ((late, ["fire:2", "fire:1"]), (early, ["fire:2"])):
        message = pop(hub, cid)
        assert message is not None
        decoded = WS_SERVER_MESSAGE.validate_json(message.text)
        assert isinstance(decoded, ScoresMessage)
        assert [d.event_id for d in decoded.districts[0].drivers] == expected
    # nobody behind: nothing carried
    third = update(A, 3)
    hub.offer(third)
    assert hub.latest(A) is not None
    assert [d.event_id for d in hub.latest(A).drivers] == []  # type: ignore[union-attr]


def shared_text(hub: Hub, cid: ClientId) -> str:
    out = pop(hub, cid)
    assert out is not None
    return out.text


def fire(seq: int) -> ScoreUpdate:
    driver = Driver(event_id=f"fire:{seq}", type="fire", domain="fire", contribution=1)
    return update(A, seq).model_copy(update={"drivers": [driver]})


def test_clients_that_keep_up_share_one_message_while_one_far_behind_gets_the_drivers() -> None:
    hub = Hub()
    keeping_up = [live_client(hub) for _ in range(3)]
    behind = live_client(hub)
    for seq in range(1, DRIVER_HISTORY + 4):
        hub.offer(fire(seq))
        built = hub.stats.frames_built
        texts = {shared_text(hub, cid) for cid in keeping_up}
        assert len(texts) == 1
        assert hub.stats.frames_built == built + 1  # built once, shared
        (text,) = texts
        decoded = WS_SERVER_MESSAGE.validate_json(text)
        assert isinstance(decoded, ScoresMessage)
        assert [d.event_id for d in decoded.districts[0].drivers] == [f"fire:{seq}"]
    last = DRIVER_HISTORY + 3
    message = pop(hub, behind)
    assert message is not None
    decoded = WS_SERVER_MESSAGE.validate_json(message.text)
    assert isinstance(decoded, ScoresMessage)
    # the latest's own driver, then those of the updates remembered, newest first
    expected = [f"fire:{seq}" for seq in range(last, last - DRIVER_HISTORY, -1)]
    assert [d.event_id for d in decoded.districts[0].drivers] == expected
    assert decoded.districts[0].seq == last
