"""The public disclosure rule: which instant is published, and what of a district's scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard_ws.public.disclosure import (
    DELAY,
    MIN_POPULATION,
    PUBLIC_GRADES,
    PublicGrades,
    disclose,
    grades_of,
    publication,
    series_of_downsampled,
    series_of_update,
)
from indices import ModelParams
from streams.contract import DownsampledScores, Driver, ScoreUpdate
from tests.factories import score_update

KST = ZoneInfo("Asia/Seoul")
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(instants)
def test_the_published_instant_is_a_full_hour_at_least_an_hour_old(now: datetime) -> None:
    p = publication(now)
    assert p.as_of.minute == p.as_of.second == p.as_of.microsecond == 0
    assert p.as_of <= now - DELAY < p.as_of + timedelta(hours=1)
    assert p.published_at <= now < p.next_at
    assert p.next_at - p.published_at == timedelta(hours=1)


@given(instants, st.floats(min_value=0, max_value=7200))
def test_it_never_goes_back_and_changes_at_most_once_an_hour(now: datetime, later: float) -> None:
    first, second = publication(now), publication(now + timedelta(seconds=later))
    assert second.as_of >= first.as_of
    if second.as_of != first.as_of:  # a change: only at a publication boundary
        assert now + timedelta(seconds=later) >= first.next_at


def test_the_hour_is_the_same_instant_in_any_time_zone() -> None:
    utc = datetime(2026, 12, 5, 5, 30, tzinfo=UTC)
    assert publication(utc) == publication(utc.astimezone(KST))
    assert publication(utc).as_of == datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        publication(datetime(2026, 12, 5, 5, 30))


def rich_update(value: float, *, seq: int = 1) -> ScoreUpdate:
    """An update with groups, safety and the event-level parts the public must never see."""
    base = score_update("4157056000", seq, value)
    driver = Driver(event_id="gimpo-police:SECRET-1", type="assault", domain="crime",
                    contribution=3.0)  # fmt: skip
    return base.model_copy(
        update={
            "safety": 6.0,
            "groups": {
                "natural": base.groups["calamity"].model_copy(update={"risk": 1.0, "grade": 1}),
                "calamity": base.groups["calamity"],
                "crime": base.groups["calamity"].model_copy(update={"risk": 5.2, "grade": 4}),
            },
            "drivers": [driver],
            "contributors": {"crime": [driver]},
            "events": 7,
        }
    )


def test_an_update_is_reduced_to_its_composite_safety_and_groups() -> None:
    series = series_of_update(rich_update(3.0))
    assert set(series) == {"composite", "safety", "group:natural", "group:calamity",
                           "group:crime"}  # fmt: skip
    assert series["group:crime"] == (5.2, 4)
    assert series["safety"] == (6.0, None)


def test_grades_follow_the_model_and_safety_is_graded_like_a_risk() -> None:
    params = ModelParams()
    grades = grades_of(series_of_update(rich_update(3.0)), params)
    assert grades == PublicGrades(overall=1, safety=3, natural=1, calamity=1, crime=4)
    # safety 6.0 is 4.0 below the best: grade 3 with the default cuts (3.5 <= 4.0 < 5.0); a city
    # with other cuts grades it by its own
    stricter = ModelParams(grade_cuts=(1.0, 2.0, 3.0, 3.9))
    assert grades_of({"safety": (6.0, None)}, stricter).safety == 5
    # a value outside the model's scale or a grade outside 1-5 is not published
    assert grades_of({"safety": (11.0, None), "composite": (3.0, 9)}, params) == PublicGrades()


def test_incident_level_fields_do_not_change_what_is_published() -> None:
    params = ModelParams()
    plain = score_update("4157056000", 1, 3.0)
    rich = rich_update(3.0, seq=9)
    rich = rich.model_copy(update={"groups": plain.groups, "safety": plain.safety})
    later = rich.model_copy(update={"as_of": plain.as_of + timedelta(minutes=17)})
    assert {grades_of(series_of_update(u), params) for u in (plain, rich, later)} == {
        grades_of(series_of_update(plain), params)
    }


def test_downsampled_history_gives_the_same_grades_as_the_full_update() -> None:
    update = rich_update(5.5)
    points = {
        name: {"value": value, "grade": grade, "as_of": update.as_of.isoformat()}
        for name, (value, grade) in series_of_update(update).items()
    }
    points["fire"] = {"value": 5.5, "grade": 3, "as_of": update.as_of.isoformat()}
    scores = DownsampledScores.model_validate(
        {"district": update.district, "model_version": "test", "series": points}
    )
    params = ModelParams()
    assert grades_of(series_of_downsampled(scores), params) == grades_of(
        series_of_update(update), params
    )


def test_every_district_is_listed_small_ones_withheld_unknown_ones_empty() -> None:
    params = ModelParams()
    series = {"A": series_of_update(rich_update(7.0)), "C": series_of_update(rich_update(7.0))}
    public = disclose(series, {"A": 20_000, "B": 20_000, "C": MIN_POPULATION - 1}, params)
    assert set(public) == {"A", "B", "C"}
    assert public["A"].crime == 4
    assert not public["A"].withheld
    assert public["B"] == PublicGrades()
    assert public["C"] == PublicGrades(withheld=True)
    assert list(public["A"].as_dict()) == list(PUBLIC_GRADES)
    assert all(v is None for v in public["C"].as_dict().values())
