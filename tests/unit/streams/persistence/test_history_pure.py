"""The pure parts of history storage: step filling, history rows of an update, event keys."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from streams.contract import (
    FacilityFact,
    HistoryPoint,
    Incident,
    InspectionFact,
    LocatedEvent,
    ScoreUpdate,
    SensorReading,
)
from streams.persistence.reads import Bucket, fill_steps
from streams.persistence.writes import event_key, points_of
from tests.factories import score_update

T0 = datetime(2026, 11, 25, tzinfo=UTC)
M = timedelta(minutes=1)
KST = timezone(timedelta(hours=9))
CODE = "4157056000"
SEEN = datetime(2026, 11, 24, 12, 5, tzinfo=UTC)


def summary(points: list[HistoryPoint]) -> list[tuple[object, ...]]:
    """(value, min, max, grade, updates) of each point."""
    return [(p.value, p.min, p.max, p.grade, p.updates) for p in points]


# --- fill_steps ----------------------------------------------------------------------------------


def test_no_carry_and_no_buckets_gives_empty_points() -> None:
    points = fill_steps(T0, T0 + 3 * M, M, None, [])
    assert [p.t for p in points] == [T0, T0 + M, T0 + 2 * M]
    assert summary(points) == [(None, None, None, None, 0)] * 3


def test_a_carry_alone_holds_for_every_step() -> None:
    points = fill_steps(T0, T0 + 4 * M, M, (2.5, 2), [])
    assert summary(points) == [(2.5, 2.5, 2.5, 2, 0)] * 4


def test_a_carry_without_grade_keeps_grade_none() -> None:
    points = fill_steps(T0, T0 + 2 * M, M, (7.0, None), [])
    assert summary(points) == [(7.0, 7.0, 7.0, None, 0)] * 2


def test_buckets_in_the_middle_carry_forward() -> None:
    buckets = [Bucket(T0 + M, 5.0, 3, 4.0, 6.0, 2), Bucket(T0 + 3 * M, 1.0, 1, 1.0, 7.0, 1)]
    points = fill_steps(T0, T0 + 5 * M, M, None, buckets)
    assert [p.t for p in points] == [T0 + i * M for i in range(5)]
    assert summary(points) == [
        (None, None, None, None, 0),
        (5.0, 4.0, 6.0, 3, 2),  # no value before it: the bucket's own min and max
        (5.0, 5.0, 5.0, 3, 0),
        (1.0, 1.0, 7.0, 1, 1),  # carried 5.0 lies inside [1, 7]
        (1.0, 1.0, 1.0, 1, 0),
    ]


def test_the_order_of_buckets_does_not_matter() -> None:
    buckets = [Bucket(T0 + 2 * M, 3.0, 2, 3.0, 3.0, 1), Bucket(T0, 1.0, 1, 1.0, 1.0, 1)]
    points = fill_steps(T0, T0 + 3 * M, M, None, buckets)
    assert [p.value for p in points] == [1.0, 1.0, 3.0]


@pytest.mark.parametrize(
    ("carry", "low", "high"),
    [
        (9.0, 4.0, 9.0),  # carried value above the bucket raises max
        (1.0, 1.0, 6.0),  # below it lowers min
        (5.0, 4.0, 6.0),  # inside it changes nothing
    ],
)
def test_a_bucket_min_and_max_include_the_value_carried_in(
    carry: float, low: float, high: float
) -> None:
    points = fill_steps(T0, T0 + 2 * M, M, (carry, 4), [Bucket(T0 + M, 5.0, 3, 4.0, 6.0, 2)])
    assert summary(points) == [(carry, carry, carry, 4, 0), (5.0, low, high, 3, 2)]


def test_the_value_carried_into_a_bucket_is_the_previous_buckets_last() -> None:
    buckets = [Bucket(T0, 8.0, 4, 2.0, 8.0, 3), Bucket(T0 + M, 3.0, 2, 3.0, 4.0, 1)]
    points = fill_steps(T0, T0 + 2 * M, M, (0.5, 1), buckets)
    # the first step holds 0.5 carried in; the second starts from 8.0 (the first's last)
    assert summary(points) == [(8.0, 0.5, 8.0, 4, 3), (3.0, 3.0, 8.0, 2, 1)]


def test_the_docstring_example() -> None:
    points = fill_steps(T0, T0 + 3 * M, M, (2.0, 1), [Bucket(T0 + M, 5.0, 3, 4.0, 6.0, 2)])
    assert [(p.value, p.min, p.max, p.updates) for p in points] == [
        (2.0, 2.0, 2.0, 0),
        (5.0, 2.0, 6.0, 2),
        (5.0, 5.0, 5.0, 0),
    ]


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (3 * M, M),
        (3 * M + timedelta(seconds=1), M),
        (timedelta(seconds=59), M),
        (timedelta(hours=24), M),
        (timedelta(hours=1), 7 * M),
        (timedelta(days=7), timedelta(hours=1)),
        (timedelta(seconds=1), timedelta(seconds=1)),
    ],
)
def test_the_number_of_points_is_the_steps_started_in_the_range(
    span: timedelta, step: timedelta
) -> None:
    points = fill_steps(T0, T0 + span, step, None, [])
    assert len(points) == math.ceil(span / step)
    assert points[0].t == T0
    assert points[-1].t < T0 + span
    assert all(b.t - a.t == step for a, b in pairwise(points))


@pytest.mark.parametrize("end", [T0, T0 - M])
def test_an_empty_range_has_no_points(end: datetime) -> None:
    assert fill_steps(T0, end, M, (1.0, 1), [Bucket(T0, 2.0, 1, 2.0, 2.0, 1)]) == []


def test_buckets_off_the_step_grid_are_ignored() -> None:
    # Observed behaviour: a bucket counts only when its start is exactly a step start. The database
    # aligns buckets with date_bin(step, as_of, start), so off-grid starts do not occur there.
    buckets = [
        Bucket(T0 + timedelta(seconds=30), 9.0, 5, 9.0, 9.0, 4),
        Bucket(T0 + M + timedelta(microseconds=1), 9.0, 5, 9.0, 9.0, 4),
    ]
    points = fill_steps(T0, T0 + 3 * M, M, (1.0, 1), buckets)
    assert summary(points) == [(1.0, 1.0, 1.0, 1, 0)] * 3


def test_buckets_outside_the_range_are_ignored() -> None:
    buckets = [Bucket(T0 - M, 9.0, 5, 9.0, 9.0, 1), Bucket(T0 + 2 * M, 8.0, 5, 8.0, 8.0, 1)]
    points = fill_steps(T0, T0 + 2 * M, M, None, buckets)
    assert summary(points) == [(None, None, None, None, 0)] * 2


def test_a_bucket_start_in_another_offset_matches_the_same_instant() -> None:
    start_kst = T0.astimezone(KST)
    points = fill_steps(
        start_kst, start_kst + 2 * M, M, None, [Bucket(T0 + M, 3.0, 2, 3.0, 3.0, 1)]
    )
    assert summary(points) == [(None, None, None, None, 0), (3.0, 3.0, 3.0, 2, 1)]
    assert points[1].t == T0 + M


# --- points_of -----------------------------------------------------------------------------------


def test_points_of_the_factory_update() -> None:
    update = score_update(CODE, 1, 2.5)
    assert points_of(update) == [
        ("composite", 2.5, 1),
        ("safety", 5.0, None),
        ("fire", 2.5, 1),
        ("group:calamity", 2.5, 1),
    ]


def test_points_of_name_every_domain_and_group_in_order() -> None:
    data = score_update(CODE, 7, 4.0).model_dump()
    data["composite"] = {"value": 6.5, "grade": 4}
    data["safety"] = 3.25
    data["domains"]["traffic"] = dict(data["domains"]["fire"], risk=1.5, grade=1)
    data["domains"]["crime"] = dict(data["domains"]["fire"], risk=8.0, grade=5)
    data["groups"]["natural"] = {"hazard": 2.0, "risk": 2.25, "grade": 2}
    data["groups"]["crime"] = {"hazard": 8.0, "risk": 7.75, "grade": 5}
    assert points_of(ScoreUpdate.model_validate(data)) == [
        ("composite", 6.5, 4),
        ("safety", 3.25, None),
        ("crime", 8.0, 5),
        ("fire", 4.0, 1),
        ("traffic", 1.5, 1),
        ("group:calamity", 4.0, 1),
        ("group:crime", 7.75, 5),
        ("group:natural", 2.25, 2),
    ]


def test_points_of_an_update_without_domains_or_groups() -> None:
    data = score_update(CODE, 1, 0.0).model_dump()
    data["domains"] = {}
    data["groups"] = {}
    data["delta"]["domains"] = {}
    assert points_of(ScoreUpdate.model_validate(data)) == [
        ("composite", 0.0, 1),
        ("safety", 5.0, None),
    ]


# --- event_key -----------------------------------------------------------------------------------


def reading_event(
    value: float,
    *,
    sensor_id: str = "rain-1",
    observed_at: datetime = SEEN,
    received_at: datetime = SEEN,
    origin: str = "readings/0/1",
) -> LocatedEvent:
    sensor = SensorReading(
        sensor_id=sensor_id, kind="rainfall_mm_1h", value=value, observed_at=observed_at, code=CODE
    )
    return LocatedEvent(
        kind="reading", district=CODE, received_at=received_at, origin=origin, reading=sensor
    )


def test_a_readings_key_names_sensor_time_and_value() -> None:
    assert event_key(reading_event(12.5)) == (
        "reading",
        "sensor-network",
        "rain-1@2026-11-24T12:05:00+00:00=12.5",
        "rainfall_mm_1h",
        SEEN,
    )


def test_an_identical_resend_of_a_reading_has_the_same_key() -> None:
    first = reading_event(12.5)
    again = reading_event(12.5, received_at=SEEN + M, origin="readings/0/9")
    assert event_key(again) == event_key(first)


@pytest.mark.parametrize(
    "other",
    [
        reading_event(12.6),
        reading_event(12.5, sensor_id="rain-2"),
        reading_event(12.5, observed_at=SEEN + timedelta(seconds=1)),
    ],
)
def test_a_reading_differing_in_value_sensor_or_time_has_another_key(other: LocatedEvent) -> None:
    assert event_key(other)[2] != event_key(reading_event(12.5))[2]
    assert event_key(other) != event_key(reading_event(12.5))


def test_an_integer_reading_value_keys_like_its_float() -> None:
    assert event_key(reading_event(3)) == event_key(reading_event(3.0))


def test_a_resend_with_the_time_in_another_offset_has_the_same_key() -> None:
    kst = reading_event(12.5, observed_at=SEEN.astimezone(KST))
    assert event_key(kst) == event_key(reading_event(12.5))


def test_an_incidents_key_is_its_id() -> None:
    incident = Incident(
        id="E42", source="gimpo-fire", type="fire", severity=3, occurred_at=SEEN, code=CODE
    )
    located = LocatedEvent(
        kind="incident",
        district=CODE,
        received_at=SEEN + M,
        origin="incidents/1/5",
        incident=incident,
    )
    assert event_key(located) == ("incident", "gimpo-fire", "E42", "fire", SEEN)


def test_an_inspection_facts_key_is_its_id() -> None:
    fact = InspectionFact(
        id="I-7", source="gimpo-build", structure_id="S1", grade="D", effective_at=SEEN, code=CODE
    )
    located = LocatedEvent(
        kind="safety", district=CODE, received_at=SEEN, origin="safety/0/2", safety=fact
    )
    assert event_key(located) == ("safety", "gimpo-build", "I-7", "inspection", SEEN)


def test_a_facility_facts_key_is_its_id() -> None:
    fact = FacilityFact(
        id="F-3",
        source="gimpo-police",
        facility_id="cctv-88",
        facility="cctv",
        action="added",
        effective_at=SEEN,
        lat=37.6,
        lon=126.7,
    )
    located = LocatedEvent(
        kind="safety", district=CODE, received_at=SEEN, origin="safety/0/3", safety=fact
    )
    assert event_key(located) == ("safety", "gimpo-police", "F-3", "facility", SEEN)
