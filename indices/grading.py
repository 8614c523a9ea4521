"""Relative grading among a city's own districts, in the shares of the Regional Safety Index.

The Regional Safety Index 지역안전지수 (Ministry of the Interior and Safety) grades local
governments 1 (safest) to 5 by rank, in shares 10 : 25 : 30 : 25 : 10 %. :func:`relative_grades`
applies the same shares to whatever values it is given, e.g. the composite risk of a city's
districts. That is a **city-internal** measure: it says where a district stands among its
neighbours at one moment, not how safe it is, and it is not the national index (which ranks whole
cities and counties, annually, on other indicators). Label it as such wherever it is shown; the
model's absolute grades are :func:`indices.grade`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import groupby
from typing import Final

from indices.errors import IndicesError

__all__ = ["RELATIVE_SHARES_PERCENT", "relative_grades"]

# Shares of grades 1..5 in percent (Regional Safety Index).
RELATIVE_SHARES_PERCENT: Final = (10, 25, 30, 25, 10)
_CUTS: Final = (10, 35, 65, 90)  # cumulative percent at the upper end of grades 1..4


def relative_grades(values: Mapping[str, float], *, higher_is_worse: bool = True) -> dict[str, int]:
    """Grade 1 (best) .. 5 (worst) of each key by its value's rank, in shares 10/25/30/25/10 %.

    A city-internal measure, not the national Regional Safety Index: see the module docstring.
    By default a higher value is worse (risk); pass ``higher_is_worse=False`` for values where
    higher is better (safety).

    Rule: rank the n values from best to worst; the value at position i (0-based) sits at the
    middle of its slice of the ranking, (i + ½)/n, and takes the grade of the share band that
    holds it: 1 up to 10 %, 2 up to 35 %, 3 up to 65 %, 4 up to 90 %, 5 above. A midpoint exactly
    on a boundary takes the better grade. Equal values share a grade: the one of the best-placed
    among them (the better grade). The result depends only on the values, not on mapping order;
    each grade's count differs from its share of n by at most one. One district alone gets 3.

    Raises :class:`~indices.errors.IndicesError` if a value is not finite.

    >>> from collections import Counter
    >>> risks = {f"district-{i:02}": 1.0 + 0.3 * i for i in range(14)}  # Gimpo has 14
    >>> sorted(Counter(relative_grades(risks).values()).items())
    [(1, 1), (2, 4), (3, 4), (4, 4), (5, 1)]
    >>> relative_grades({"a": 2.0, "b": 2.0, "c": 9.0})
    {'a': 2, 'b': 2, 'c': 4}
    """
    bad = sorted(key for key, value in values.items() if not math.isfinite(value))
    if bad:
        raise IndicesError(f"relative_grades needs finite values; not finite: {bad}")
    sign = 1.0 if higher_is_worse else -1.0
    ranked = sorted(values.items(), key=lambda item: sign * item[1])  # best first
    n = len(ranked)
    grades: dict[str, int] = {}
    position = 0
    for _, tied in groupby(ranked, key=lambda item: item[1]):
        members = list(tied)
        grade = _band(position, n)
        for key, _value in members:
            grades[key] = grade
        position += len(members)
    return {key: grades[key] for key in values}


def _band(position: int, n: int) -> int:
    """Grade of rank ``position`` of ``n``: its midpoint (2i + 1) / 2n against the cuts, exactly."""
    middle = (2 * position + 1) * 100  # midpoint in percent, times 2n
    return 1 + sum(1 for cut in _CUTS if middle > cut * 2 * n)
