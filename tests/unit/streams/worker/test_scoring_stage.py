"""ScoringStage in-process: ownership over assign/revoke signals, restore from checkpoints, saves
and the checkpoint outage, against :class:`MemoryCheckpointStore` (no Kafka, no PostgreSQL).

The stage's I/O is what it is handed: the sends and seeks go to lists here, dead letters too. The
ownership passed to each batch is the consumer's :class:`Ownership` (granted partitions), never
Faust's ``assignment()``, which keeps listing revoked partitions until the next assignment lands.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faust.types import TP

from streams.city.config import CityConfig, load_city_config
from streams.contract import DeadLetter, Incident, LocatedEvent, ScoreUpdate
from streams.contract.deadletters import RawRecord
from streams.metrics import WorkerMetrics
from streams.persistence.checkpoints import (
    CheckpointStore,
    CheckpointUnavailable,
    MemoryCheckpointStore,
)
from streams.pipeline.alerting import AlertingContext
from streams.pipeline.scoring import PartitionScorer
from streams.settings import Settings
from streams.worker.alert_stage import AlertStage
from streams.worker.app import create_app
from streams.worker.delivery import Delivery
from streams.worker.outage import SaveOutage
from streams.worker.ownership import Ownership
from streams.worker.scoring_stage import (
    CheckpointMismatch,
    ScoringStage,
    checkpoint_usable,
    owned,
    resume_positions,
)

SETTINGS = Settings(partitions=2)
LOCATED = SETTINGS.topics.located
CONFIG: CityConfig = load_city_config()
P0, P1 = TP(LOCATED, 0), TP(LOCATED, 1)


class Io:
    """What the stage sent, sought and dead-lettered, in order."""

    def __init__(self) -> None:
        self.updates: list[ScoreUpdate] = []
        self.seeks: list[tuple[TP, int]] = []
        self.dead: list[DeadLetter] = []

    async def send(self, updates: Sequence[ScoreUpdate]) -> None:
        self.updates.extend(updates)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        self.dead.extend(letters)


class FailingStore:
    """A :class:`CheckpointStore` in memory whose first ``failures`` saves raise
    CheckpointUnavailable (as the PostgreSQL store does when the server cannot be reached)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.memory = MemoryCheckpointStore()
        self.attempts: list[int] = []

    async def load(self, partition: int) -> dict[str, Any] | None:
        return await self.memory.load(partition)

    async def load_now(self, partition: int) -> dict[str, Any] | None:
        return await self.memory.load(partition)

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None:
        self.attempts.append(partition)
        if self.failures > 0:
            self.failures -= 1
            raise CheckpointUnavailable("connection refused")
        await self.memory.save(partition, state, saved_at)


def stage_of(store: CheckpointStore) -> tuple[ScoringStage, Io, WorkerMetrics]:
    io = Io()
    metrics = WorkerMetrics(process=False)
    stage = ScoringStage(SETTINGS, CONFIG, store, metrics, send=io.send, seek=io.seek)
    return stage, io, metrics


def code_of(partition: int) -> str:
    return CONFIG.city.codes_of_partition(partition, SETTINGS.partitions)[0]


def fire(partition: int, offset: int, at: datetime) -> RawRecord:
    """A located fire in the first district of ``partition``, as read at ``offset``."""
    code = code_of(partition)
    incident = Incident(
        id=f"F{partition}-{offset}",
        source="gimpo-fire",
        type="fire",
        severity=4,
        occurred_at=at,
        code=code,
    )
    event = LocatedEvent(
        kind="incident",
        district=code,
        received_at=at,
        origin=f"riskmon.incidents/0/{offset}",
        incident=incident,
    )
    return RawRecord(LOCATED, partition, offset, code.encode(), event.model_dump_json().encode())


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


NOW = datetime.now(UTC)


async def test_assignment_restores_each_located_partition_once_from_the_beginning() -> None:
    stage, io, _ = stage_of(MemoryCheckpointStore())
    assigned = {P0, P1, TP(SETTINGS.topics.incidents, 0)}
    await stage.on_assigned(assigned)
    await stage.on_assigned(assigned)  # Faust's seek asks again: nothing restored twice
    await stage.restore(0)

    assert sorted(stage.scorers) == [0, 1]
    assert io.seeks == [(P0, 0), (P1, 0)]
    districts = sum(len(CONFIG.city.codes_of_partition(p, 2)) for p in (0, 1))
    assert len(io.updates) == districts  # one "recovered" update per district, once
    assert {u.reason for u in io.updates} == {"recovered"}
    assert stage.positions(assigned) == {P0: 0, P1: 0}


async def test_a_batch_of_a_granted_partition_not_restored_yet_restores_it_first() -> None:
    stage, io, metrics = stage_of(MemoryCheckpointStore())
    ownership = Ownership().assign({P0})
    await stage.batch([fire(0, 5, NOW), fire(0, 6, NOW)], NOW, ownership, io.dead_letter)

    assert io.seeks == [(P0, 0)]
    assert stage.scorers[0].next_offset == 7
    assert stage.dirty == {0}
    assert [u.reason for u in io.updates if u.reason != "recovered"] == ["events"]
    assert value(metrics, "riskmon_scoring_events_total", outcome="applied") == 2


async def test_revoked_mid_rebalance_the_partition_is_saved_released_and_never_restored() -> None:
    """Faust's assignment() still lists partition 1 after its revocation: a batch that waited,
    or Faust's seek, must not restore it (the new owner has it)."""
    store = MemoryCheckpointStore()
    stage, io, metrics = stage_of(store)
    ownership = Ownership().assign({P0, P1})
    await stage.on_assigned(ownership.granted)
    await stage.batch([fire(1, 0, NOW), fire(1, 1, NOW)], NOW, ownership, io.dead_letter)

    ownership = ownership.revoke({P1})
    await stage.on_revoked({P1})
    assert sorted(stage.scorers) == [0]
    assert store.states[1]["next_offset"] == 2  # saved at the revocation

    faust_assignment = {P0, P1}  # stale until the next assignment lands
    assert owned(1, (), Ownership().assign(faust_assignment), LOCATED)  # what went wrong before
    assert not owned(1, stage.scorers.keys(), ownership, LOCATED)

    sent = len(io.updates)
    await stage.batch([fire(1, 2, NOW)], NOW, ownership, io.dead_letter)
    await stage.on_assigned(ownership.granted)  # Faust's seek_to_committed, mid-rebalance
    assert sorted(stage.scorers) == [0]
    assert len(io.updates) == sent
    assert value(metrics, "riskmon_not_owned_records_total", topic=LOCATED) == 1
    assert stage.positions(ownership.granted) == {P0: 0}


async def test_restore_from_a_checkpoint_of_the_same_model_resumes_at_its_offset() -> None:
    store = MemoryCheckpointStore()
    before, io, _ = stage_of(store)
    ownership = Ownership().assign({P0})
    await before.batch(
        [fire(0, 0, NOW), fire(0, 1, NOW), fire(0, 2, NOW)], NOW, ownership, io.dead_letter
    )
    await before.save_dirty()

    after, io_after, _ = stage_of(store)  # a restarted worker
    await after.on_assigned({P0})
    scorer = after.scorers[0]
    assert scorer.next_offset == store.states[0]["next_offset"] == 3
    assert io_after.seeks == [(P0, 3)]
    assert after.positions({P0, P1}) == {P0: 3}  # P1 not restored: Faust's to place
    code = code_of(0)
    assert scorer.slots[code].state.to_dict() == before.scorers[0].slots[code].state.to_dict()
    recovered = next(u for u in io_after.updates if u.district == code)
    assert recovered.domains["fire"].risk > 0


async def test_a_checkpoint_of_another_model_is_refused_by_default_and_left_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryCheckpointStore()
    before, io, _ = stage_of(store)
    await before.batch(
        [fire(0, 0, NOW), fire(0, 1, NOW)], NOW, Ownership().assign({P0}), io.dead_letter
    )
    await before.save_dirty()
    store.states[0]["model_fingerprint"] = "an older model"
    saved = dict(store.states[0])

    after, io_after, _ = stage_of(store)
    with pytest.raises(CheckpointMismatch, match="riskmon db rebuild-checkpoints"):
        await after.on_assigned({P0})
    assert after.scorers == {}
    assert io_after.seeks == []
    assert store.states[0] == saved
    assert CheckpointMismatch.retriable is False


async def test_with_rebuild_set_another_models_checkpoint_is_ignored_and_the_log_reread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryCheckpointStore()
    before, io, _ = stage_of(store)
    await before.batch(
        [fire(0, 0, NOW), fire(0, 1, NOW)], NOW, Ownership().assign({P0}), io.dead_letter
    )
    await before.save_dirty()
    store.states[0]["model_fingerprint"] = "an older model"

    rebuild = SETTINGS.model_copy(update={"checkpoint_mismatch": "rebuild"})
    io_after = Io()
    after = ScoringStage(
        rebuild, CONFIG, store, WorkerMetrics(process=False), send=io_after.send, seek=io_after.seek
    )
    with caplog.at_level(logging.WARNING, logger="riskmon.worker"):
        await after.on_assigned({P0})
    assert after.scorers[0].next_offset == 0
    assert io_after.seeks == [(P0, 0)]
    assert after.positions({P0}) == {P0: 0}
    assert "reason=model_changed" in caplog.text
    code = code_of(0)
    assert (
        after.scorers[0].slots[code].state.to_dict()
        != before.scorers[0].slots[code].state.to_dict()
    )


def test_checkpoint_usable_says_why_not() -> None:
    codes = CONFIG.city.codes_of_partition(0, 2)
    saved = PartitionScorer(0, codes, next_offset=41).to_checkpoint("fp")
    assert checkpoint_usable(None, "fp", codes) == "none"
    assert checkpoint_usable(saved, "other", codes) == "model_changed"
    usable = checkpoint_usable(saved, "fp", codes)
    assert isinstance(usable, PartitionScorer)
    assert usable.next_offset == 41
    # other districts: the city's list or the partition count changed
    assert checkpoint_usable(saved, "fp", codes[:-1]) == "city_changed"
    assert checkpoint_usable(saved, "fp", [*codes, "4157099999"]) == "city_changed"
    # a checkpoint older than the city fingerprint: judged by its districts
    legacy = {k: v for k, v in saved.items() if k != "city_fingerprint"}
    assert isinstance(checkpoint_usable(legacy, "fp", codes), PartitionScorer)
    assert checkpoint_usable(legacy, "fp", codes[1:]) == "city_changed"


def test_resume_positions_cover_only_held_partitions_of_the_topic() -> None:
    granted = {P0, P1, TP("riskmon.incidents", 0)}
    assert resume_positions(granted, LOCATED, {0: 12, 3: 9}) == {P0: 12}


async def test_save_dirty_saves_only_the_partitions_that_changed() -> None:
    store = MemoryCheckpointStore()
    stage, io, metrics = stage_of(store)
    ownership = Ownership().assign({P0, P1})
    await stage.on_assigned(ownership.granted)
    await stage.batch([fire(1, 0, NOW)], NOW, ownership, io.dead_letter)

    await stage.save_dirty()
    assert sorted(store.states) == [1]
    assert stage.dirty == set()
    store.states.clear()
    await stage.save_dirty()  # nothing changed since
    assert store.states == {}
    assert value(metrics, "riskmon_checkpoints_total") == 1


async def test_a_failing_store_is_one_outage_logged_once_and_retried_until_saved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingStore(failures=3)
    stage, io, metrics = stage_of(store)
    ownership = Ownership().assign({P0, P1})
    await stage.batch([fire(0, 0, NOW), fire(1, 0, NOW)], NOW, ownership, io.dead_letter)

    with caplog.at_level(logging.INFO, logger="riskmon.worker"):
        await stage.save_dirty()  # both fail
        first = stage.outage
        assert first.failing
        assert first.failures == 2
        assert stage.dirty == {0, 1}

        await stage.save_dirty()  # 0 fails (the third), 1 is saved: still an outage
        assert stage.outage.since == first.since
        assert stage.outage.failures == 3
        assert stage.dirty == {0}
        assert sorted(store.memory.states) == [1]

        await stage.save_dirty()  # every dirty partition saved: the outage is over
    assert stage.outage == SaveOutage()
    assert stage.dirty == set()
    assert sorted(store.memory.states) == [0, 1]
    assert store.attempts == [0, 1, 0, 1, 0]
    assert value(metrics, "riskmon_checkpoint_failures_total") == 3
    assert value(metrics, "riskmon_checkpoints_total") == 2
    assert caplog.text.count("checkpoint failed partition=") == 1
    assert caplog.text.count("checkpoints saved again") == 1


async def test_a_revoked_partition_whose_save_fails_is_released_anyway() -> None:
    store = FailingStore(failures=1)
    stage, io, _ = stage_of(store)
    ownership = Ownership().assign({P0})
    await stage.batch([fire(0, 0, NOW)], NOW, ownership, io.dead_letter)
    await stage.on_revoked({P0})
    assert stage.scorers == {}
    assert stage.outage.failing
    assert store.memory.states == {}


class BuggyStore(MemoryCheckpointStore):
    """A store whose saves fail with a bug, not an outage (as a SQL error of our own would)."""

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None:
        raise ValueError("column next_ofset does not exist")


async def test_a_store_bug_is_not_an_outage_it_stops_the_stage_loudly() -> None:
    stage, io, metrics = stage_of(BuggyStore())
    await stage.batch([fire(0, 0, NOW)], NOW, Ownership().assign({P0}), io.dead_letter)
    with pytest.raises(ValueError, match="next_ofset"):
        await stage.save_dirty()
    assert not stage.outage.failing
    assert value(metrics, "riskmon_checkpoint_failures_total") == 0


async def test_ticks_publish_only_what_moved_and_mark_it_dirty() -> None:
    stage, io, _ = stage_of(MemoryCheckpointStore())
    ownership = Ownership().assign({P0, P1})
    await stage.on_assigned(ownership.granted)
    await stage.batch([fire(0, 0, NOW)], NOW, ownership, io.dead_letter)
    await stage.save_dirty()

    sent = len(io.updates)
    await stage.tick(NOW + timedelta(hours=6))  # the fire's risk has decayed
    ticked = io.updates[sent:]
    assert {u.reason for u in ticked} == {"tick"}
    assert code_of(0) in {u.district for u in ticked}
    assert 0 in stage.dirty


async def test_a_record_that_is_not_a_located_event_is_dead_lettered_and_the_rest_scored() -> None:
    stage, io, _ = stage_of(MemoryCheckpointStore())
    bad = RawRecord(LOCATED, 0, 0, b"k", b"{not json")
    await stage.batch([bad, fire(0, 1, NOW)], NOW, Ownership().assign({P0}), io.dead_letter)
    assert [(d.error, d.offset) for d in io.dead] == [("schema", 0)]
    assert stage.scorers[0].next_offset == 2


async def test_the_alert_stage_decides_ownership_by_the_same_value() -> None:
    """Revoked while its batch waited, the alert input is left to its new owner: nothing is
    restored (no checkpoint read, no seek), the records are counted as not owned."""
    app = create_app(SETTINGS.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"}))
    metrics = WorkerMetrics(process=False)
    store = FailingStore(failures=0)
    delivery = Delivery(metrics, lambda out, exc: None)
    alerts = AlertStage(app, SETTINGS, AlertingContext.for_city(CONFIG), store, metrics, delivery)
    alert_input = TP(SETTINGS.topics.alert_input, 0)
    granted = Ownership().assign({alert_input, P0})
    assert alerts.owned(granted)

    revoked = granted.revoke({alert_input})
    assert not alerts.owned(revoked)
    await alerts.batch([object(), object()], NOW, revoked, Io().dead_letter)
    assert alerts.state is None
    assert value(metrics, "riskmon_not_owned_records_total", topic=alert_input.topic) == 2


class HeldSends(Io):
    """Sends that wait for :attr:`release` (a broker slow to confirm)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send(self, updates: Sequence[ScoreUpdate]) -> None:
        if any(u.reason == "events" for u in updates):
            self.waiting.set()
            await self.release.wait()
        self.updates.extend(updates)


async def test_a_checkpoint_waits_for_the_outputs_of_the_batch_in_flight() -> None:
    """A batch's state changes are checkpointed only once its outputs are confirmed: a crash
    between the two would otherwise skip outputs that were never delivered."""
    store = MemoryCheckpointStore()
    io = HeldSends()
    metrics = WorkerMetrics(process=False)
    stage = ScoringStage(SETTINGS, CONFIG, store, metrics, send=io.send, seek=io.seek)
    ownership = Ownership().assign({P0})
    await stage.on_assigned(ownership.granted)
    await stage.save_dirty()
    batch = asyncio.create_task(
        stage.batch([fire(0, 0, NOW), fire(0, 1, NOW)], NOW, ownership, io.dead_letter)
    )
    await io.waiting.wait()
    assert stage.scorers[0].next_offset == 2  # applied in memory, not yet confirmed
    save = asyncio.create_task(stage.save(0))
    await asyncio.sleep(0.05)
    assert not save.done()
    assert store.states.get(0, {}).get("next_offset", 0) == 0
    io.release.set()
    await batch
    assert await save
    assert store.states[0]["next_offset"] == 2


async def test_the_state_held_is_measured_at_each_checkpoint() -> None:
    stage, io, metrics = stage_of(MemoryCheckpointStore())
    ownership = Ownership().assign({P0})
    await stage.batch([fire(0, 0, NOW), fire(0, 1, NOW)], NOW, ownership, io.dead_letter)
    await stage.save_dirty()
    assert value(metrics, "riskmon_state_entries", kind="incidents") == 2
    assert value(metrics, "riskmon_state_entries", kind="sensors") == 0


class DownStore(MemoryCheckpointStore):
    """PostgreSQL away: a load waits for ever, one attempt fails at once, saves fail."""

    async def load(self, partition: int) -> dict[str, Any] | None:
        await asyncio.Event().wait()  # never set: the stage must not wait here
        raise AssertionError("unreachable")

    async def load_now(self, partition: int) -> dict[str, Any] | None:
        raise CheckpointUnavailable("connection refused")

    async def save(self, partition: int, state: Mapping[str, Any], saved_at: datetime) -> None:
        raise CheckpointUnavailable("connection refused")


async def test_a_partition_that_comes_back_during_an_outage_resumes_from_the_kept_state() -> None:
    """A rebalance while PostgreSQL is down revokes and re-grants a partition: it resumes at
    once from the state this worker kept (exact up to its next offset) instead of waiting."""
    store = MemoryCheckpointStore()
    stage, io, _ = stage_of(store)
    ownership = Ownership().assign({P0})
    await stage.batch([fire(0, 0, NOW), fire(0, 1, NOW)], NOW, ownership, io.dead_letter)
    await stage.save_dirty()
    await stage.batch([fire(0, 2, NOW)], NOW, ownership, io.dead_letter)  # not checkpointed

    down = DownStore()
    stage.checkpoints = down
    stage.writer.store = down
    await stage.on_revoked({P0})
    assert stage.scorers == {}
    await asyncio.wait_for(stage.on_assigned({P0}), 2)
    assert stage.scorers[0].next_offset == 3
    assert io.seeks[-1] == (P0, 3)

    # PostgreSQL back and another worker saved a newer checkpoint meanwhile: that one wins.
    await stage.on_revoked({P0})
    newer = dict(store.states[0], next_offset=9)
    store.states[0] = newer
    stage.checkpoints = store
    stage.writer.store = store
    await stage.on_assigned({P0})
    assert stage.scorers[0].next_offset == 9


# --- in-process hand-off ------------------------------------------------------------------------
def handed(*records: RawRecord) -> dict[int, list[tuple[int, LocatedEvent]]]:
    """``records`` as the worker hands them over once the broker confirmed them."""
    out: dict[int, list[tuple[int, LocatedEvent]]] = {}
    for raw in records:
        located = LocatedEvent.model_validate_json(raw.value or b"")
        out.setdefault(raw.partition, []).append((raw.offset, located))
    return out


async def test_a_hand_off_continuing_the_state_is_scored_and_its_records_are_not_read_twice() -> (
    None
):
    stage, io, metrics = stage_of(MemoryCheckpointStore())
    await stage.on_assigned({P0})
    records = [fire(0, offset, NOW) for offset in range(3)]

    reads = await stage.handoff(handed(*records), NOW, io.dead_letter)

    assert reads == {0: (3, 3)}  # taken whole: the agent need not read partition 0
    assert stage.scorers[0].next_offset == 3
    assert [u.reason for u in io.updates if u.reason != "recovered"] == ["events"]
    assert value(metrics, "riskmon_scoring_events_total", outcome="applied") == 3
    # The agent reads the same offsets later: skipped before decoding (even bytes that could
    # not be decoded), nothing counted twice, nothing published.
    sent = len(io.updates)
    unreadable = RawRecord(LOCATED, 0, 1, b"k", b"{not json")
    await stage.batch(
        [records[0], unreadable, records[2]], NOW, Ownership().assign({P0}), io.dead_letter
    )
    assert io.dead == []
    assert len(io.updates) == sent
    assert value(metrics, "riskmon_scoring_events_total", outcome="applied") == 3
    assert (
        value(metrics, "riskmon_worker_handoff_records_total", stage="score", outcome="read_again")
        == 3
    )


async def test_a_hand_off_past_a_missing_offset_is_left_to_the_topic() -> None:
    stage, io, metrics = stage_of(MemoryCheckpointStore())
    await stage.on_assigned({P0, P1})
    await stage.handoff(handed(fire(0, 0, NOW)), NOW, io.dead_letter)

    # Offset 1 of partition 0 was written by someone else: 2 and 3 wait for the agent.
    reads = await stage.handoff(
        handed(fire(0, 2, NOW), fire(0, 3, NOW), fire(1, 0, NOW)), NOW, io.dead_letter
    )

    assert reads == {0: (1, 4), 1: (1, 1)}
    assert stage.scorers[0].next_offset == 1
    assert stage.scorers[1].next_offset == 1
    assert (
        value(metrics, "riskmon_worker_handoff_records_total", stage="score", outcome="left") == 2
    )
    ownership = Ownership().assign({P0, P1})
    await stage.batch(
        [fire(0, 1, NOW), fire(0, 2, NOW), fire(0, 3, NOW)], NOW, ownership, io.dead_letter
    )
    assert stage.scorers[0].next_offset == 4


async def test_a_hand_off_the_agent_read_first_applies_only_what_is_new() -> None:
    stage, io, metrics = stage_of(MemoryCheckpointStore())
    ownership = Ownership().assign({P0})
    await stage.on_assigned({P0})
    await stage.batch([fire(0, 0, NOW), fire(0, 1, NOW)], NOW, ownership, io.dead_letter)

    reads = await stage.handoff(handed(*(fire(0, o, NOW) for o in range(4))), NOW, io.dead_letter)

    assert reads == {0: (4, 4)}
    assert stage.scorers[0].next_offset == 4
    assert value(metrics, "riskmon_scoring_events_total", outcome="applied") == 4
    assert (
        value(metrics, "riskmon_worker_handoff_records_total", stage="score", outcome="read_first")
        == 2
    )


async def test_a_hand_off_of_a_partition_not_held_here_is_left_whole() -> None:
    stage, io, _ = stage_of(MemoryCheckpointStore())
    await stage.on_assigned({P0})
    assert await stage.handoff(handed(fire(1, 0, NOW)), NOW, io.dead_letter) == {}
    assert 1 not in stage.scorers
    assert io.dead == []


@pytest.mark.parametrize("seed", range(6))
async def test_any_mix_of_hand_offs_and_topic_reads_scores_as_reading_the_topic_alone(
    seed: int,
) -> None:
    """The batch twin as oracle: however the records of a partition arrive (handed off, read,
    both, overlapping, out of turn), the state equals the one reading the log alone gives."""

    rng = random.Random(seed)
    log = [fire(0, offset, NOW + timedelta(seconds=offset)) for offset in range(120)]
    ownership = Ownership().assign({P0})
    oracle, oracle_io, _ = stage_of(MemoryCheckpointStore())
    await oracle.on_assigned({P0})
    await oracle.batch(log, NOW, ownership, oracle_io.dead_letter)

    stage, io, _ = stage_of(MemoryCheckpointStore())
    await stage.on_assigned({P0})
    read_to = handed_to = 0
    while stage.scorers[0].next_offset < len(log):
        if rng.random() < 0.5:  # the agent reads a batch from its position (maybe old)
            start = rng.randrange(0, read_to + 1)
            end = min(len(log), start + rng.randrange(1, 25))
            await stage.batch(log[start:end], NOW, ownership, io.dead_letter)
            read_to = max(read_to, end)
        else:  # a confirmed send is handed off: maybe overlapping, maybe past a gap
            start = max(0, handed_to + rng.randrange(-5, 4))
            end = min(len(log), start + rng.randrange(1, 25))
            if start < end:
                await stage.handoff(handed(*log[start:end]), NOW, io.dead_letter)
            handed_to = max(handed_to, end)
            if handed_to >= len(log):
                handed_to = 0

    def state(of: ScoringStage) -> dict[str, Any]:
        """The checkpoint without the update seqs (time-based: they differ between runs)."""
        data = of.scorers[0].to_checkpoint(of.fingerprint)
        for district in data["districts"].values():
            district.pop("seq")
        return data

    assert state(stage) == state(oracle)
    assert io.dead == []
