"""score_batch's fast paths: duplicates found through key hashes, events split by exact class.

The property tests (test_properties.py) hold the batch twin equal to the incremental state on
random event lists; these tests reach the branches random lists seldom or never take.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from indices import (
    District,
    DistrictState,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    InvalidEvent,
    ModelParams,
    ReadingIn,
    score_batch,
)
from indices.batch import _first_rows

T0 = 1_795_000_000.0
PARAMS = ModelParams()
DISTRICT = District("4157056000", "장기동", population=40_000, area_km2=4.0)


def incidents_with_repeats(n: int, seed: int) -> list[IncidentIn]:
    """``n`` incidents over n // 2 keys: each key's later copies conflict with its first."""
    rng = random.Random(seed)
    return [
        IncidentIn(f"src:{rng.randrange(n // 2)}", "fire", rng.randint(1, 5), T0 - rng.random())
        for _ in range(n)
    ]


def first_rows_by_dict(incidents: list[IncidentIn]) -> list[int]:
    first: dict[str, int] = {}
    for row, incident in enumerate(incidents):
        first.setdefault(incident.key, row)
    return sorted(first.values())


@pytest.mark.parametrize(
    "hash_of",
    [hash, lambda key: 0, len, lambda key: hash(key) % 7],
    ids=["builtin", "all-collide", "length", "seven-buckets"],
)
def test_first_rows_are_the_first_of_each_key_even_when_hashes_collide(hash_of: object) -> None:
    incidents = incidents_with_repeats(400, seed=3)
    rows = _first_rows([e.key for e in incidents], hash_of)  # type: ignore[arg-type]
    assert rows.tolist() == first_rows_by_dict(incidents)
    assert rows.dtype == np.int64


def test_first_rows_of_distinct_keys_are_every_row() -> None:
    incidents = [IncidentIn(f"src:{i}", "theft", 2, T0) for i in range(50)]
    assert _first_rows([e.key for e in incidents]).tolist() == list(range(50))
    assert _first_rows([]).tolist() == []


def test_the_first_of_conflicting_incidents_counts_wherever_it_lies() -> None:
    later = IncidentIn("119:7", "fire", 5, T0)
    first = dataclasses.replace(later, severity=1)
    state = DistrictState.new()
    for event in (first, later):
        state.apply(event, PARAMS)
    assert score_batch(DISTRICT, [first, later], PARAMS, T0) == state.evaluate(DISTRICT, PARAMS, T0)
    assert score_batch(DISTRICT, [first, later], PARAMS, T0).domains["fire"].intensity == 1.0


def test_an_uncounted_type_does_not_take_its_key_from_a_counted_one() -> None:
    params = ModelParams(incident_domain={"fire": "fire"})
    theft = IncidentIn("agency:1", "theft", 5, T0)  # not counted: apply rejects it
    fire = IncidentIn("agency:1", "fire", 2, T0)  # same key, counted
    state = DistrictState.new()
    for event in (theft, fire):
        state.apply(event, params)
    batch = score_batch(DISTRICT, [theft, fire], params, T0)
    assert batch == state.evaluate(DISTRICT, params, T0)
    assert batch.domains["fire"].intensity == 2.0


@dataclasses.dataclass(frozen=True, slots=True)
class TaggedIncident(IncidentIn):
    """A caller's own subclass: still an incident, taken by the general path."""

    tag: str = ""


def test_subclasses_of_event_types_are_scored_like_their_base() -> None:
    events: list[object] = [
        TaggedIncident("119:1", "fire", 3, T0 - 60.0, tag="x"),
        IncidentIn("119:1", "fire", 5, T0),  # a conflict: the subclass instance came first
        IncidentIn("112:2", "theft", 2, T0),
        ReadingIn("aws-1", "wind_ms", 21.0, T0),
        FacilityIn("city:f1", "cctv-1", "cctv", True, T0),
        InspectionIn("city:i1", "bridge-1", "D", T0),
    ]
    plain = [IncidentIn("119:1", "fire", 3, T0 - 60.0), *events[1:]]
    assert score_batch(DISTRICT, events, PARAMS, T0) == score_batch(  # type: ignore[arg-type]
        DISTRICT,
        plain,  # type: ignore[arg-type]
        PARAMS,
        T0,
    )


def test_casualties_beyond_the_bound_are_refused() -> None:
    with pytest.raises(InvalidEvent, match=r"casualties must be 0\.\.100000"):
        IncidentIn("119:big", "fire", 5, T0, casualties=100_001)
    heavy = IncidentIn("119:heavy", "fire", 5, T0, casualties=100_000)
    state = DistrictState.new()
    state.apply(heavy, PARAMS)
    assert score_batch(DISTRICT, [heavy], PARAMS, T0) == state.evaluate(DISTRICT, PARAMS, T0)


def test_facts_sharing_a_key_keep_the_first_in_the_batch_as_in_the_state() -> None:
    facts = [
        FacilityIn("city:1", "cctv-1", "cctv", True, T0 - 10),
        InspectionIn("city:1", "bridge-1", "E", T0 - 5),  # same key: a conflict, dropped
        FacilityIn("city:2", "cctv-2", "cctv", True, T0 - 5),
        FacilityIn("city:2", "cctv-2", "cctv", True, T0 - 5),  # a duplicate
    ]
    state = DistrictState.new()
    for fact in facts:
        state.apply(fact, PARAMS)
    batch = score_batch(DISTRICT, facts, PARAMS, T0)
    assert batch == state.evaluate(DISTRICT, PARAMS, T0)
