"""The identity ledger: one (source, id) in one district city-wide, bounded, exact over its
checkpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from indices import ModelParams
from streams.contract import Incident, LocatedEvent
from streams.pipeline.identity import (
    IdentityLedger,
    forget_after_s,
    identity_of,
    identity_partition,
)
from tests.unit.streams.pipeline.test_scoring import CODES, T0, located, reading

PARAMS = ModelParams()
A, B = CODES[0], CODES[1]


def moved(event: LocatedEvent, code: str) -> LocatedEvent:
    """``event`` re-sent with a location in district ``code``."""
    assert event.incident is not None
    incident = event.incident.model_copy(update={"code": code})
    return event.model_copy(update={"district": code, "incident": incident})


def test_a_copy_placed_in_another_district_is_refused_naming_both() -> None:
    ledger = IdentityLedger(0)
    first = located(A, 1)
    outcome = ledger.process(
        [(0, first), (1, first), (2, moved(first, B)), (3, located(B, 2))], PARAMS, 100
    )
    assert [o for o, _ in outcome.forward] == [0, 1, 3]  # the same district: the scorer decides
    assert [(c.offset, c.error) for c in outcome.conflicts] == [(2, "conflict")]
    reason = outcome.conflicts[0].reason
    assert A in reason
    assert B in reason
    assert "gimpo-fire:E1" in reason
    assert outcome.counts == {"first": 2, "again": 1, "moved": 1}
    assert ledger.next_offset == 4


def test_readings_have_no_identity_and_pass() -> None:
    ledger = IdentityLedger(0)
    rain = reading(A, 5.0, T0)
    assert identity_of(rain) is None
    assert ledger.process([(0, rain)], PARAMS, 100).forward == [(0, rain)]
    assert ledger.seen == {}


def test_redelivered_offsets_are_skipped_and_gaps_reported() -> None:
    ledger = IdentityLedger(0)
    ledger.process([(0, located(A, 1))], PARAMS, 100)
    outcome = ledger.process([(0, located(A, 1)), (5, located(A, 2))], PARAMS, 100)
    assert outcome.counts["redelivered"] == 1
    assert [(g.start, g.end) for g in outcome.gaps] == [(1, 5)]


def test_identities_are_forgotten_after_their_horizon_and_capped() -> None:
    ledger = IdentityLedger(0)
    ledger.process([(0, located(A, 1)), (1, located(A, 2, kind="theft"))], PARAMS, 100)
    fire_until = T0.timestamp() + PARAMS.horizon_s("fire")
    assert ledger.prune(fire_until - 1) == 0
    assert ledger.prune(fire_until + 1) == 1  # the fire; the theft (crime) matters longer
    assert list(ledger.seen) == ["incident:gimpo-fire:E2"]
    full = ledger.process([(2, located(A, 3)), (3, located(A, 4))], PARAMS, 2)
    assert [c.error for c in full.conflicts] == ["state_full"]
    assert len(ledger.seen) == 2


def test_an_incident_type_the_city_does_not_count_is_not_remembered() -> None:
    params = ModelParams(
        incident_domain={k: v for k, v in PARAMS.incident_domain.items() if k != "fire"}
    )
    event = located(A, 1)
    assert forget_after_s(event, params) is None
    ledger = IdentityLedger(0)
    assert ledger.process([(0, event)], params, 100).forward == [(0, event)]
    assert ledger.seen == {}


def test_the_checkpoint_round_trips_and_a_foreign_one_is_refused() -> None:
    ledger = IdentityLedger(3)
    ledger.process([(0, located(A, 1)), (1, located(B, 2))], PARAMS, 100)
    again = IdentityLedger.from_checkpoint(ledger.to_checkpoint())
    assert (again.partition, again.next_offset, again.seen) == (3, 2, ledger.seen)
    with pytest.raises(ValueError, match="format"):
        IdentityLedger.from_checkpoint({**ledger.to_checkpoint(), "format": 99})


def test_the_partition_is_stable_and_spreads() -> None:
    ids = [f"incident:gimpo-fire:E{n}" for n in range(400)]
    parts = [identity_partition(i, 4) for i in ids]
    assert parts == [identity_partition(i, 4) for i in ids]
    assert set(parts) == {0, 1, 2, 3}
    assert identity_partition("incident:gimpo-fire:E1", 4) == 2  # CRC-32, fixed for ever


def test_the_identity_is_the_source_and_id_not_the_content() -> None:
    event = located(A, 1)
    assert identity_of(event) == "incident:gimpo-fire:E1"
    later = Incident(
        id="E1", source="gimpo-fire", type="fire", severity=3,
        occurred_at=T0 + timedelta(days=1), code=A,
    )  # fmt: skip
    assert identity_of(event.model_copy(update={"incident": later})) == identity_of(event)
