"""Replay's pure core reproduces what the live scorer published, from the stored events alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from indices import ModelParams
from streams.contract import Incident, LocatedEvent, ScoreUpdate, SensorReading
from streams.pipeline.scoring import PartitionScorer, ScoringContext
from streams.replay.recompute import Instant, Ordered, default_model_version, replay_district
from tests.cities import exact_gimpo

CITY = exact_gimpo()
PARAMS = ModelParams()
CTX = ScoringContext(CITY.model_districts(), PARAMS)
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TYPES = ["fire", "theft", "traffic_accident", "gas_leak", "assault"]


def random_event(rng: random.Random, n: int, code: str, at: datetime) -> LocatedEvent:
    occurred = at - timedelta(seconds=rng.uniform(0, 3600))  # late and out of order
    if rng.random() < 0.2:
        reading = SensorReading(
            sensor_id=f"rain-{code}",
            kind="rainfall_mm_1h",
            value=rng.uniform(0, 60),
            observed_at=occurred,
            code=code,
        )
        return LocatedEvent(
            kind="reading", district=code, received_at=at, origin=f"x/0/{n}", reading=reading
        )
    # one in ten re-sends an earlier id: a duplicate must not count twice in either path
    ident = f"E{rng.randrange(n)}" if n and rng.random() < 0.1 else f"E{n}"
    incident = Incident(
        id=ident,
        source="gimpo-119",
        type=rng.choice(TYPES),
        severity=rng.randint(1, 5),
        occurred_at=occurred,
        code=code,
    )
    return LocatedEvent(
        kind="incident", district=code, received_at=at, origin=f"x/0/{n}", incident=incident
    )


def live_run(seed: int) -> tuple[list[ScoreUpdate], list[tuple[int, LocatedEvent]]]:
    """A scorer fed random batches and ticks, as the worker would; its updates and its log."""
    rng = random.Random(seed)
    codes = CITY.codes_of_partition(0, 2)
    scorer = PartitionScorer(0, codes)
    published = scorer.publish_all(CTX, T0)
    log: list[tuple[int, LocatedEvent]] = []
    now = T0
    for _ in range(40):
        now += timedelta(seconds=rng.uniform(1, 120))
        if rng.random() < 0.3:
            published += scorer.tick(CTX, now, 0.0)
            continue
        batch = []
        for _ in range(rng.randint(1, 12)):
            offset = len(log)
            log.append((offset, random_event(rng, offset, rng.choice(codes), now)))
            batch.append(log[-1])
        published += scorer.process(batch, CTX, now).updates
    return published, log


def replay_all(
    published: list[ScoreUpdate], log: list[tuple[int, LocatedEvent]], version: str
) -> dict[tuple[str, int], ScoreUpdate]:
    out = {}
    for code in sorted({u.district for u in published}):
        mine = sorted((u for u in published if u.district == code), key=lambda u: u.seq)
        instants = [
            Instant(u.as_of, u.seq, u.reason, (u.basis.next_offset,), u.basis)
            for u in mine
            if u.basis is not None
        ]
        events = [Ordered((offset,), e) for offset, e in log if e.district == code]
        for update in replay_district(CTX.districts[code], PARAMS, events, instants, version):
            out[code, update.seq] = update
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_reproduces_every_live_update_exactly(seed: int) -> None:
    published, log = live_run(seed)
    replayed = replay_all(published, log, published[0].model_version)
    assert len(replayed) == len(published)
    for live in published:
        again = replayed[live.district, live.seq]
        # the whole message, drivers and delta included, not only the values
        assert again == live


def test_replay_labels_its_model_version() -> None:
    published, log = live_run(4)
    version = default_model_version(PARAMS)
    assert version.startswith("riskmon-index/")
    assert "+" in version
    replayed = replay_all(published, log, version)
    assert {u.model_version for u in replayed.values()} == {version}


def test_cutoff_admits_only_events_below_the_basis() -> None:
    code = CITY.codes[0]
    events = [Ordered((n,), random_event(random.Random(n), n, code, T0)) for n in range(3)]
    fire = Incident(id="big", source="s", type="fire", severity=5, occurred_at=T0, code=code)
    events.append(
        Ordered(
            (3,),
            LocatedEvent(
                kind="incident", district=code, received_at=T0, origin="x/0/3", incident=fire
            ),
        )
    )
    before = Instant(T0, 1, "events", (3,), None)
    after = Instant(T0, 2, "events", (4,), None)
    first, second = replay_district(CTX.districts[code], PARAMS, events, [before, after], "v")
    assert "s:big" not in {d.event_id for d in first.drivers}
    assert [d.event_id for d in second.drivers] == ["s:big"]
    assert second.domains["fire"].risk > first.domains["fire"].risk


def test_replay_follows_a_worker_restarted_from_an_older_checkpoint() -> None:
    """SIGKILL after publishing past the last checkpoint: the restarted worker republishes from
    the checkpoint (fewer events), then reads the lost batches again. Replay gives every one of
    those updates the values the worker published."""
    rng = random.Random(9)
    codes = CITY.codes_of_partition(0, 2)
    scorer = PartitionScorer(0, codes)
    published = scorer.publish_all(CTX, T0)
    log: list[tuple[int, LocatedEvent]] = []
    now = T0
    batches: list[list[tuple[int, LocatedEvent]]] = []
    checkpoint = None
    for n in range(12):
        now += timedelta(seconds=30)
        batch = []
        for _ in range(6):
            offset = len(log)
            log.append((offset, random_event(rng, offset, rng.choice(codes), now)))
            batch.append(log[-1])
        batches.append(batch)
        published += scorer.process(batch, CTX, now).updates
        if n == 5:
            checkpoint = scorer.to_checkpoint("fp")
    assert checkpoint is not None
    # crash; restart from the checkpoint and read on from its offset
    now += timedelta(seconds=5)
    restarted = PartitionScorer.from_checkpoint(checkpoint, codes)
    published += restarted.publish_all(CTX, now, "recovered")
    for batch in batches[6:]:
        now += timedelta(seconds=1)
        published += restarted.process(batch, CTX, now).updates

    went_back = [u for u in published if u.reason == "recovered" and u.as_of == now - 6 * SECOND]
    assert went_back, "the restart republished every district"
    replayed = replay_all(published, log, published[0].model_version)
    assert len(replayed) == len(published)
    for live in published:
        again = replayed[live.district, live.seq]
        assert (again.composite, again.domains, again.groups, again.safety) == (
            live.composite,
            live.domains,
            live.groups,
            live.safety,
        )
