"""The hub's bounds: answers waiting for one client, scores from the future, alerts that jump."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard_ws.hub import (
    ALERT_SEQ_STEP,
    ClientId,
    GatewayError,
    Hub,
    Outcome,
    Outgoing,
    QueueFull,
)
from tests.factories import alert, score_update

A, B, C = "4157025000", "4157051500", "4157056000"
LATER = datetime(2100, 1, 1, tzinfo=UTC)  # past any coalescing interval: a pop never waits


def live_client(hub: Hub) -> ClientId:
    cid = hub.add_client()
    hub.take_snapshot(cid)
    hub.go_live(cid)
    return cid


def keys(hub: Hub, cid: ClientId) -> list[str]:
    out = []
    while isinstance(msg := hub.pop_next(cid, LATER), Outgoing):
        out.append(msg.key)
    return out


# --- answers to one client ----------------------------------------------------------------------


def test_one_answer_beyond_the_bound_raises_queue_full_and_changes_nothing() -> None:
    hub = Hub(max_answers=3)
    cid = live_client(hub)
    for n in range(3):
        hub.tell(cid, f"answer:{n}", "{}")
    with pytest.raises(QueueFull) as raised:
        hub.tell(cid, "answer:3", "{}")
    assert isinstance(raised.value, GatewayError)
    assert not raised.value.retriable
    assert hub.pending_count(cid) == 3
    assert keys(hub, cid) == ["answer:0", "answer:1", "answer:2"]


def test_the_default_bound() -> None:
    hub = Hub()
    cid = live_client(hub)
    for n in range(hub.max_answers):
        hub.tell(cid, f"answer:{n}", "{}")
    with pytest.raises(QueueFull):
        hub.tell(cid, "one more", "{}")
    assert hub.max_answers == 256


def test_replacing_a_waiting_answer_takes_no_more_room() -> None:
    hub = Hub(max_answers=2)
    cid = live_client(hub)
    hub.tell(cid, "ack:1", '"queued"')
    hub.tell(cid, "ack:2", '"queued"')
    assert hub.tell(cid, "ack:1", '"applied"') is False  # full, but ack:1 waits already
    with pytest.raises(QueueFull):
        hub.tell(cid, "ack:3", "{}")
    texts = []
    while isinstance(msg := hub.pop_next(cid, LATER), Outgoing):
        texts.append((msg.key, msg.text))
    assert texts == [("ack:2", '"queued"'), ("ack:1", '"applied"')]


def test_taking_answers_makes_room_again() -> None:
    hub = Hub(max_answers=2)
    cid = live_client(hub)
    hub.tell(cid, "answer:1", "{}")
    hub.tell(cid, "answer:2", "{}")
    out = hub.pop_next(cid, LATER)
    assert isinstance(out, Outgoing)
    assert out.key == "answer:1"
    hub.tell(cid, "answer:3", "{}")
    with pytest.raises(QueueFull):
        hub.tell(cid, "answer:4", "{}")
    assert keys(hub, cid) == ["answer:2", "answer:3"]
    for n in range(2):  # all taken: the whole room is back
        hub.tell(cid, f"again:{n}", "{}")


def test_scores_and_alerts_do_not_count_against_the_answers() -> None:
    hub = Hub(max_answers=2)
    cid = live_client(hub)
    for district in (A, B, C):
        hub.offer(score_update(district, 1))
    hub.offer_alert(alert("a1", 1))
    hub.tell(cid, "answer:1", "{}")
    hub.tell(cid, "answer:2", "{}")
    assert hub.pending_count(cid) == 6
    with pytest.raises(QueueFull):
        hub.tell(cid, "answer:3", "{}")
    # Taking the scores and the alert gives answers no room: only taken answers do.
    for _ in range(2):
        out = hub.pop_next(cid, LATER)
        assert isinstance(out, Outgoing)
        assert out.key in ("scores", "alert:a1")
    with pytest.raises(QueueFull):
        hub.tell(cid, "answer:3", "{}")


def test_answers_before_the_snapshot_count_too_and_clients_are_bounded_apart() -> None:
    hub = Hub(max_answers=1)
    waiting, other = hub.add_client(), live_client(hub)
    hub.tell(waiting, "answer:1", "{}")
    with pytest.raises(QueueFull):
        hub.tell(waiting, "answer:2", "{}")
    hub.tell(other, "answer:1", "{}")  # another client has its own room
    hub.take_snapshot(waiting)
    hub.go_live(waiting)
    assert keys(hub, waiting) == ["answer:1"]
    hub.tell(waiting, "answer:2", "{}")


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("tell"), st.integers(min_value=0, max_value=6)),
            st.tuples(st.just("score"), st.sampled_from([A, B, C])),
            st.tuples(st.just("pop"), st.just(0)),
        ),
        max_size=80,
    )
)
def test_answers_waiting_never_exceed_the_bound(steps: list[tuple[str, object]]) -> None:
    hub = Hub(max_answers=3)
    cid = live_client(hub)
    seq = 0
    waiting: set[str] = set()  # the answer keys the model expects to wait
    scores: set[str] = set()
    for op, arg in steps:
        if op == "tell":
            key = f"answer:{arg}"
            if key not in waiting and len(waiting) >= 3:
                with pytest.raises(QueueFull):
                    hub.tell(cid, key, "{}")
            else:
                hub.tell(cid, key, "{}")
                waiting.add(key)
        elif op == "score":
            seq += 1
            hub.offer(score_update(str(arg), seq))
            scores.add(str(arg))
        else:
            out = hub.pop_next(cid, LATER)
            if isinstance(out, Outgoing):
                waiting.discard(out.key)
                if out.key == "scores":  # every changed district at once
                    assert out.updates == len(scores)
                    scores.clear()
        assert hub.pending_count(cid) == len(waiting) + len(scores)


# --- scores from the future ---------------------------------------------------------------------


def test_a_score_beyond_max_seq_is_refused_as_future_and_the_held_one_stays() -> None:
    hub = Hub()
    cid = live_client(hub)
    assert hub.offer(score_update(A, 5), max_seq=10).outcome is Outcome.ACCEPTED
    hub.pop_next(cid, LATER)
    offer = hub.offer(score_update(A, 11, value=9.0), max_seq=10)
    assert (offer.outcome, offer.district, offer.seq, offer.wake) == (Outcome.FUTURE, A, 11, ())
    assert offer.reason
    held = hub.latest(A)
    assert held is not None
    assert (held.seq, held.composite.value) == (5, 1.0)
    assert hub.pending_count(cid) == 0  # no client hears of it
    assert (hub.stats.future, hub.stats.accepted, hub.stats.stale) == (1, 1, 0)
    # A genuine later update is not shadowed by the refused one.
    assert hub.offer(score_update(A, 6), max_seq=10).outcome is Outcome.ACCEPTED
    assert hub.offer(score_update(A, 10), max_seq=10).outcome is Outcome.ACCEPTED  # at the bound


def test_a_future_score_of_a_new_district_is_not_held() -> None:
    hub = Hub()
    assert hub.offer(score_update(B, 100), max_seq=99).outcome is Outcome.FUTURE
    assert hub.latest(B) is None
    assert hub.district_count == 0
    assert hub.snapshot().districts == []
    assert hub.offer(score_update(B, 100)).outcome is Outcome.ACCEPTED  # no bound given


def test_ingest_passes_max_seq_on() -> None:
    hub = Hub()
    raw = score_update(C, 50).model_dump_json().encode()
    assert hub.ingest(raw, max_seq=49).outcome is Outcome.FUTURE
    assert hub.ingest(raw, max_seq=50).outcome is Outcome.ACCEPTED
    assert hub.stats.future == 1


# --- alerts jumping ahead -----------------------------------------------------------------------


def test_an_alert_jumping_too_far_past_the_held_seq_is_refused() -> None:
    hub = Hub()
    cid = live_client(hub)
    assert hub.offer_alert(alert("a1", 3)).outcome is Outcome.ACCEPTED
    hub.pop_next(cid, LATER)
    offer = hub.offer_alert(alert("a1", 3 + ALERT_SEQ_STEP + 1, value=9.0))
    assert (offer.outcome, offer.seq, offer.wake) == (Outcome.FUTURE, 3 + ALERT_SEQ_STEP + 1, ())
    assert hub.stats.future == 1
    assert [a.value for a in hub.open_alerts()] == [7.0]  # the held one stays
    assert hub.pending_count(cid) == 0
    # The refused seq did not become the held one: the next genuine message is accepted.
    assert hub.offer_alert(alert("a1", 4)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("a1", 4 + ALERT_SEQ_STEP)).outcome is Outcome.ACCEPTED


def test_a_new_alert_may_start_at_most_one_step_in() -> None:
    hub = Hub()
    assert hub.offer_alert(alert("new", ALERT_SEQ_STEP + 1)).outcome is Outcome.FUTURE
    assert hub.open_alerts() == []
    assert hub.offer_alert(alert("new", ALERT_SEQ_STEP)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("other", 1)).outcome is Outcome.ACCEPTED
    assert hub.stats.future == 1


def test_the_step_counts_from_pending_and_resolved_alerts_too() -> None:
    hub = Hub()
    assert hub.offer_alert(alert("p", 500, "pending")).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("p", 500 + ALERT_SEQ_STEP)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("r", 2, "resolved")).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("r", 3 + ALERT_SEQ_STEP)).outcome is Outcome.FUTURE
    assert hub.offer_alert(alert("r", 2 + ALERT_SEQ_STEP)).outcome is Outcome.ACCEPTED
    assert hub.offer_alert(alert("r", 2 + ALERT_SEQ_STEP)).outcome is Outcome.STALE


def test_ingest_alert_refuses_a_jump_too() -> None:
    hub = Hub()
    raw = alert("a1", ALERT_SEQ_STEP + 5).model_dump_json().encode()
    assert hub.ingest_alert(raw).outcome is Outcome.FUTURE
    assert hub.stats.future == 1
