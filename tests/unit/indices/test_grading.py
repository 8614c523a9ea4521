"""relative_grades: Regional Safety Index shares among a city's own districts."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indices import IndicesError, relative_grades

SHARES = {1: 0.10, 2: 0.25, 3: 0.30, 4: 0.25, 5: 0.10}

values = st.dictionaries(
    st.text("abcdefghijklmnop", min_size=1, max_size=4),
    st.one_of(st.sampled_from([0.0, 1.0, 2.5]), st.floats(-100, 100, allow_nan=False)),
    max_size=60,
)


@pytest.mark.parametrize(
    ("n", "counts"),
    [
        (14, [1, 4, 4, 4, 1]),  # Gimpo's 14 districts
        (10, [1, 3, 3, 2, 1]),  # midpoints exactly on 35 % and 65 %: the better grade
        (20, [2, 5, 6, 5, 2]),
        (100, [10, 25, 30, 25, 10]),
        (1, [0, 0, 1, 0, 0]),
    ],
)
def test_distinct_values_fill_the_shares(n: int, counts: list[int]) -> None:
    grades = relative_grades({f"d{i:03}": float(i) for i in range(n)})
    assert [Counter(grades.values())[g] for g in range(1, 6)] == counts


def test_higher_is_worse_by_default_and_can_be_flipped() -> None:
    risks = {f"d{i:02}": float(i) for i in range(14)}
    assert relative_grades(risks)["d00"] == 1
    assert relative_grades(risks)["d13"] == 5
    assert relative_grades(risks, higher_is_worse=False)["d00"] == 5


def test_ties_share_the_better_grade() -> None:
    grades = relative_grades({"a": 1.0, "b": 5.0, "c": 5.0, "d": 5.0, "e": 9.0})
    # midpoints: a 10 % (on the boundary: grade 1), b-d from b's 30 % (grade 2), e 90 % (4)
    assert grades == {"a": 1, "b": 2, "c": 2, "d": 2, "e": 4}
    assert set(relative_grades({k: 3.0 for k in "abcdefghij"}).values()) == {1}


def test_empty_and_non_finite() -> None:
    assert relative_grades({}) == {}
    with pytest.raises(IndicesError, match="'x'"):
        relative_grades({"x": math.nan, "y": 1.0})


@given(values, st.randoms())
def test_properties(items: dict[str, float], rng: object) -> None:
    grades = relative_grades(items)
    assert list(grades) == list(items)
    keys = list(items)
    rng.shuffle(keys)  # type: ignore[attr-defined]
    assert relative_grades({k: items[k] for k in keys}) == grades  # mapping order does not matter
    for a in items:
        for b in items:
            if items[a] < items[b]:
                assert grades[a] <= grades[b]
            if items[a] == items[b]:
                assert grades[a] == grades[b]
    if len(set(items.values())) == len(items):  # no ties: each share within one of its count
        counts = Counter(grades.values())
        for grade, share in SHARES.items():
            assert abs(counts[grade] - share * len(items)) <= 1
