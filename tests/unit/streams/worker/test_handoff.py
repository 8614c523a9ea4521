"""The in-process hand-off: the identity stage's side of it, and which partitions the worker
stops reading and reads again (the scoring stage's side is in test_scoring_stage.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from faust.types import TP

from streams.city.config import load_city_config
from streams.contract import DeadLetter, Incident, LocatedEvent
from streams.contract.deadletters import RawRecord
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import MemoryCheckpointStore
from streams.settings import Settings
from streams.worker.handoff import ReadSwitch
from streams.worker.identity_stage import IdentityStage
from streams.worker.ownership import Ownership

SETTINGS = Settings(partitions=2)
TOPIC = SETTINGS.topics.identity
CONFIG = load_city_config()
NOW = datetime.now(UTC)
A, B = CONFIG.city.codes[0], CONFIG.city.codes[1]


class Io:
    def __init__(self) -> None:
        self.forwarded: list[LocatedEvent] = []
        self.dead: list[DeadLetter] = []
        self.seeks: list[tuple[TP, int]] = []

    async def forward(self, events: Sequence[LocatedEvent]) -> None:
        self.forwarded.extend(events)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        self.dead.extend(letters)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def fire(code: str, ident: str = "F1") -> LocatedEvent:
    incident = Incident(
        id=ident, source="gimpo-fire", type="fire", severity=3, occurred_at=NOW, code=code
    )
    return LocatedEvent(
        kind="incident",
        district=code,
        received_at=NOW,
        origin="riskmon.incidents/0/0",
        incident=incident,
    )


def raw(offset: int, located: LocatedEvent, partition: int = 0) -> RawRecord:
    return RawRecord(TOPIC, partition, offset, b"k", located.model_dump_json().encode())


async def stage() -> tuple[IdentityStage, Io, WorkerMetrics]:
    io = Io()
    metrics = WorkerMetrics(process=False)
    held = IdentityStage(
        SETTINGS, CONFIG.params, MemoryCheckpointStore(), metrics, forward=io.forward, seek=io.seek
    )
    await held.on_assigned({TP(TOPIC, 0)})
    return held, io, metrics


def count(metrics: WorkerMetrics, outcome: str) -> float:
    labels = {"stage": "identity", "outcome": outcome}
    return metrics.registry.get_sample_value("riskmon_worker_handoff_records_total", labels) or 0.0


async def test_a_hand_off_is_decided_as_the_topic_would_decide_it_and_never_twice() -> None:
    identity, io, metrics = await stage()
    moved = fire(B)  # the same identity placed in another district: a conflict

    reads = await identity.handoff({0: [(0, fire(A)), (1, moved)]}, NOW, io.dead_letter)

    assert reads == {0: (2, 2)}
    assert [e.district for e in io.forwarded] == [A]
    assert [(d.error, d.offset) for d in io.dead] == [("conflict", 1)]
    # Read back from the topic (and an unreadable record at a handed-off offset): skipped.
    ownership = Ownership().assign({TP(TOPIC, 0)})
    broken = RawRecord(TOPIC, 0, 1, b"k", b"{not json")
    await identity.batch([raw(0, fire(A)), broken], NOW, ownership, io.dead_letter)
    assert len(io.forwarded) == 1
    assert len(io.dead) == 1
    assert count(metrics, "applied") == 2
    assert count(metrics, "read_again") == 2


async def test_a_hand_off_behind_or_past_the_ledger_is_left_to_the_topic() -> None:
    identity, io, metrics = await stage()
    ownership = Ownership().assign({TP(TOPIC, 0)})
    await identity.batch([raw(0, fire(A, "F1"))], NOW, ownership, io.dead_letter)

    past = await identity.handoff({0: [(2, fire(A, "F3"))]}, NOW, io.dead_letter)
    elsewhere = await identity.handoff({1: [(0, fire(A, "F4"))]}, NOW, io.dead_letter)

    assert past == {0: (1, 3)}  # offsets 1 and 2 are for the agent to read
    assert elsewhere == {}  # partition 1 is not held here
    assert [e.incident.id for e in io.forwarded if e.incident] == ["F1"]
    assert count(metrics, "left") == 2


def test_the_switch_pauses_what_came_whole_and_reads_again_on_a_gap_or_a_longer_log() -> None:
    switch = ReadSwitch()
    p0, p1 = TP(TOPIC, 0), TP(TOPIC, 1)

    assert switch.settle(TOPIC, {0: (5, 5), 1: (3, 3)}) == ({p0, p1}, {})
    assert switch.settle(TOPIC, {0: (9, 9)}) == (set(), {})  # paused already
    assert switch.settle(TOPIC, {1: (40, 44)}) == (set(), {p1: 40})  # a gap: read from 40
    assert switch.paused == {p0}
    assert switch.settle(TOPIC, {1: (44, 44)}) == ({p1}, {})  # the agent read them
    # The timer: the log of partition 0 ends where its stage stands, nothing to read.
    assert switch.recheck({p0: 50, p1: 44}, {p0: 50, p1: 44}) == {}
    # Another worker wrote into it: read again from where the stage stands.
    assert switch.recheck({p0: 53, p1: 44}, {p0: 50, p1: 44}) == {p0: 50}
    assert switch.paused == {p1}
    assert switch.release() == {p1}
    assert switch.paused == set()


def test_records_left_out_of_order_keep_the_partition_read_until_the_agent_has_them() -> None:
    """The identity stage's forwards of a batch land after its readings in riskmon.located; if
    they are handed over first they are left, and the readings taken whole afterwards must not
    pause the partition while the forwards are still unread."""
    switch = ReadSwitch()
    p0 = TP(TOPIC, 0)
    switch.settle(TOPIC, {0: (10, 10)})  # paused
    assert switch.settle(TOPIC, {0: (10, 15)}) == (set(), {p0: 10})  # 10..14 left: read
    assert switch.settle(TOPIC, {0: (12, 12)}) == (set(), {})  # 10, 11 taken; 12..14 unread
    assert switch.paused == set()
    assert switch.settle(TOPIC, {0: (17, 17)}) == ({p0}, {})  # the agent read 12..14
    switch.forget([p0])
    assert switch.paused == set()
    assert switch.owed == {}


def test_the_workers_own_records_in_flight_are_not_taken_for_anyone_elses() -> None:
    switch = ReadSwitch()
    p0 = TP(TOPIC, 0)
    switch.settle(TOPIC, {0: (50, 50)})
    with switch.flying([p0, p0, p0]):  # three sent, not confirmed and handed off yet
        assert switch.recheck({p0: 53}, {p0: 50}) == {}
        assert switch.recheck({p0: 54}, {p0: 50}) == {p0: 50}  # one more than ours
    assert switch.inflight == {}
    switch.settle(TOPIC, {0: (50, 50)})
    assert switch.recheck({p0: 53}, {p0: 50}) == {p0: 50}
