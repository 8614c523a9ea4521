"""PartitionScorer: one update per district per batch, idempotent, resumable from a checkpoint."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from indices import ModelParams, StateLimits, score_batch
from streams.contract import Incident, LocatedEvent, SensorReading
from streams.pipeline.scoring import PartitionScorer, ScoringContext, to_model_event
from tests.cities import exact_gimpo

CITY = exact_gimpo()
CTX = ScoringContext(CITY.model_districts(), ModelParams())
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CODES = list(CITY.codes)


def located(
    code: str,
    n: int,
    *,
    source: str = "gimpo-fire",
    kind: str = "fire",
    severity: int = 3,
    at: datetime = T0,
) -> LocatedEvent:
    incident = Incident(
        id=f"E{n}", source=source, type=kind, severity=severity, occurred_at=at, code=code
    )
    return LocatedEvent(
        kind="incident", district=code, received_at=at, origin=f"x/0/{n}", incident=incident
    )


def reading(code: str, value: float, at: datetime) -> LocatedEvent:
    sensor = SensorReading(
        sensor_id=f"rain-{code}", kind="rainfall_mm_1h", value=value, observed_at=at, code=code
    )
    return LocatedEvent(
        kind="reading", district=code, received_at=at, origin="r/0/0", reading=sensor
    )


def test_one_update_per_touched_district_naming_its_events() -> None:
    scorer = PartitionScorer(0, CODES)
    batch = [(0, located(CODES[0], 1)), (1, located(CODES[0], 2)), (2, located(CODES[1], 3))]
    outcome = scorer.process(batch, CTX, T0 + timedelta(minutes=1))
    assert sorted(u.district for u in outcome.updates) == sorted(CODES[:2])
    first = next(u for u in outcome.updates if u.district == CODES[0])
    assert {d.event_id for d in first.drivers} == {"gimpo-fire:E1", "gimpo-fire:E2"}
    assert first.domains["fire"].risk > 0
    assert first.delta.domains["fire"] == 0.0
    assert all(d.contribution > 0 for d in first.drivers)
    assert first.events == 2
    assert outcome.counts == {"applied": 3}


def test_fire_risk_rises_and_delta_says_so() -> None:
    scorer = PartitionScorer(0, CODES)
    before = scorer.publish_all(CTX, T0)
    base = next(u for u in before if u.district == CODES[0])
    after = scorer.process([(0, located(CODES[0], 1, severity=5))], CTX, T0).updates[0]
    assert after.domains["fire"].risk > base.domains["fire"].risk
    assert after.delta.domains["fire"] == after.domains["fire"].risk - base.domains["fire"].risk
    assert after.seq > base.seq


def test_redelivered_offsets_and_duplicate_ids_never_count_twice() -> None:
    scorer = PartitionScorer(0, CODES)
    scorer.process([(0, located(CODES[0], 1)), (1, located(CODES[0], 2))], CTX, T0)
    again = scorer.process(
        [(0, located(CODES[0], 1)), (1, located(CODES[0], 2)), (2, located(CODES[0], 1))], CTX, T0
    )
    assert again.counts == {"redelivered": 2, "duplicate": 1}
    assert again.updates == []


def test_conflicting_content_under_a_known_id_is_reported() -> None:
    scorer = PartitionScorer(0, CODES)
    scorer.process([(0, located(CODES[0], 1, severity=2))], CTX, T0)
    outcome = scorer.process([(1, located(CODES[0], 1, severity=5))], CTX, T0)
    assert outcome.counts == {"conflict": 1}
    assert "gimpo-fire:E1" in outcome.conflicts[0].reason


def test_checkpoint_resume_equals_uninterrupted_run_and_batch_twin() -> None:
    rng = random.Random(5)
    stream = []
    for offset in range(400):
        code = rng.choice(CODES[:5])
        at = T0 + timedelta(minutes=rng.uniform(-600, 0))
        if rng.random() < 0.2:
            stream.append((offset, reading(code, rng.uniform(0, 70), at)))
        else:
            n = rng.randrange(300)  # ids repeat: duplicates
            stream.append(
                (
                    offset,
                    located(
                        code,
                        n,
                        kind=rng.choice(["fire", "theft"]),
                        severity=1 + n % 5,
                        at=T0 - timedelta(minutes=n),
                    ),
                )
            )
    now = T0 + timedelta(minutes=5)
    straight = PartitionScorer(0, CODES)
    for start in range(0, 400, 50):
        straight.process(stream[start : start + 50], CTX, now)
    resumed = PartitionScorer(0, CODES)
    resumed.process(stream[:170], CTX, now)
    snapshot = json.loads(json.dumps(resumed.to_checkpoint("test")))
    resumed = PartitionScorer.from_checkpoint(snapshot, CODES)
    resumed.process(stream[120:], CTX, now)  # overlaps: redelivery after the crash
    for code in CODES[:5]:
        events = [to_model_event(e.event) for _, e in stream if e.district == code]
        oracle = score_batch(CTX.districts[code], events, CTX.params, now.timestamp())
        for scorer in (straight, resumed):
            got = scorer.slots[code].state.evaluate(
                CTX.districts[code], CTX.params, now.timestamp()
            )
            assert abs(got.composite - oracle.composite) < 1e-9
            assert got.events == oracle.events
            for name, domain in oracle.domains.items():
                assert abs(got.domains[name].risk - domain.risk) < 1e-9


def test_tick_publishes_only_what_moved() -> None:
    scorer = PartitionScorer(0, CODES)
    scorer.publish_all(CTX, T0)
    assert scorer.tick(CTX, T0 + timedelta(seconds=1), 0.001) == []
    scorer.process([(0, located(CODES[2], 1, severity=5))], CTX, T0)
    later = scorer.tick(CTX, T0 + timedelta(hours=6), 0.001)
    assert [u.district for u in later] == [CODES[2]]
    assert later[0].reason == "tick"
    assert later[0].delta.composite < 0


def test_seq_strictly_increases_even_if_the_clock_steps_back() -> None:
    scorer = PartitionScorer(0, CODES)
    seqs = [scorer.publish_all(CTX, T0 - timedelta(seconds=s))[0].seq for s in (0, 10, 20)]
    assert seqs[0] < seqs[1] < seqs[2]


def test_an_unknown_district_is_reported_and_the_batch_goes_on() -> None:
    """A located event of a district the city does not have (another configuration, or forged)
    is dead-lettered as unknown_district; the events around it are scored; nothing raises."""
    scorer = PartitionScorer(0, CODES)
    stranger = located(CODES[0], 2).model_copy(update={"district": "9999999999"})
    batch = [(0, located(CODES[0], 1)), (1, stranger), (2, located(CODES[1], 3))]
    outcome = scorer.process(batch, CTX, T0)
    assert [u.district for u in outcome.updates] == [CODES[0], CODES[1]]
    assert [(c.offset, c.error) for c in outcome.conflicts] == [(1, "unknown_district")]
    assert "9999999999" in outcome.conflicts[0].reason
    assert outcome.counts["unknown_district"] == 1
    assert scorer.next_offset == 3
    assert "9999999999" not in scorer.slots  # no state for it, no checkpoint of it


def test_ids_beyond_a_districts_state_limit_are_dead_lettered_as_state_full() -> None:
    """A sender making up incident ids cannot grow a district's state without bound: past the
    limit each new id is refused with a reason; known ones and other districts go on."""
    ctx = ScoringContext(CTX.districts, CTX.params, StateLimits(max_incidents=3))
    scorer = PartitionScorer(0, CODES)
    batch = [(n, located(CODES[0], n)) for n in range(5)] + [(5, located(CODES[1], 9))]
    outcome = scorer.process(batch, ctx, T0)
    assert [(c.offset, c.error) for c in outcome.conflicts] == [
        (3, "state_full"),
        (4, "state_full"),
    ]
    assert "RISKMON_STATE_MAX_" in outcome.conflicts[0].reason
    assert outcome.counts["over_capacity"] == 2
    assert scorer.slots[CODES[0]].state.sizes()["incidents"] == 3
    assert [u.district for u in outcome.updates] == [CODES[0], CODES[1]]


def test_offsets_with_a_gap_are_detected() -> None:
    scorer = PartitionScorer(0, CODES)
    scorer.process([(0, located(CODES[0], 1)), (1, located(CODES[0], 2))], CTX, T0)
    outcome = scorer.process([(5, located(CODES[0], 3)), (6, located(CODES[0], 4))], CTX, T0)
    assert [(g.start, g.end) for g in outcome.gaps] == [(2, 5)]
    assert outcome.counts["gap"] == 1
    contiguous = scorer.process([(7, located(CODES[0], 5))], CTX, T0)
    assert contiguous.gaps == []
