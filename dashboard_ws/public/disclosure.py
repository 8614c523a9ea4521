"""The public disclosure rule (pure: no I/O, the clock is an argument). docs/public.md argues it.

A citizen sees, per district, five grades (1 very low .. 5 very high) and nothing else:

* **when**: the district's scores *as of* the last full hour that lies at least :data:`DELAY`
  in the past (:func:`publication`). Between 14:00 and 14:59 the public sees 13:00; the
  published instant moves once per :data:`PERIOD`, so changes appear at most hourly, and an
  incident that happened after 13:00 cannot show before 15:00.
* **what**: grades only (:class:`PublicGrades`): the overall (composite) grade, the safety grade
  (안전도, graded like a risk: 1 = safest) and the risk grade of each group — natural 재해,
  calamity 재난, crime 범죄. No raw values, no counts, no per-domain grades, no drivers or
  contributors, no confidence or sensor freshness, and not the time of the last change: the
  only time published is the hour itself.
* **who**: a district with fewer than :data:`MIN_POPULATION` residents is withheld (no grades):
  a grade of a hamlet is close to a statement about a household.

Inputs are the stored history's rows (a :class:`~streams.contract.ScoreUpdate` or the
downsampled :class:`~streams.contract.DownsampledScores` of a district), reduced first to plain
``{series: (value, grade)}`` (:func:`series_of_update`, :func:`series_of_downsampled`) so that the
rule itself never sees an event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from indices import ModelParams
from indices.formulas import grade
from indices.taxonomy import GROUPS
from streams.contract import DownsampledScores, ScoreUpdate

__all__ = [
    "DELAY",
    "MIN_POPULATION",
    "PERIOD",
    "PUBLIC_GRADES",
    "PublicGrades",
    "Publication",
    "disclose",
    "grades_of",
    "publication",
    "series_of_downsampled",
    "series_of_update",
]

DELAY = timedelta(hours=1)  # the published instant is at least this old when it is published
PERIOD = timedelta(hours=1)  # the published instant moves in steps of this (hourly)
MIN_POPULATION = 1000  # districts with fewer residents show no grades
# The grades a citizen sees, in the order the page and the GeoJSON list them.
PUBLIC_GRADES = ("overall", "safety", *GROUPS)

Series = Mapping[str, tuple[float, int | None]]  # "composite", "safety", "group:<name>", ...


@dataclass(frozen=True)
class Publication:
    """Which instant is public now: ``as_of`` (a multiple of :data:`PERIOD` since the epoch),
    public from ``published_at`` = ``as_of`` + :data:`DELAY` until ``next_at``."""

    as_of: datetime
    published_at: datetime
    next_at: datetime


def publication(now: datetime) -> Publication:
    """The snapshot public at ``now`` (an aware datetime).

    >>> from datetime import UTC
    >>> p = publication(datetime(2026, 12, 5, 14, 37, 12, tzinfo=UTC))
    >>> p.as_of.isoformat(), p.published_at.isoformat(), p.next_at.isoformat()
    ('2026-12-05T13:00:00+00:00', '2026-12-05T14:00:00+00:00', '2026-12-05T15:00:00+00:00')
    >>> publication(datetime(2026, 12, 5, 14, 0, tzinfo=UTC)).as_of.hour  # 14:00 shows 13:00
    13
    >>> publication(datetime(2026, 12, 5, 13, 59, 59, 999999, tzinfo=UTC)).as_of.hour
    12
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("publication() needs an aware datetime")
    period = int(PERIOD.total_seconds())
    # Whole hours since the epoch (UTC); Korea's offset is whole hours, so these are its hours too.
    seconds = math.floor((now - DELAY).timestamp())
    as_of = datetime.fromtimestamp(seconds - seconds % period, UTC)
    published_at = as_of + DELAY
    return Publication(as_of=as_of, published_at=published_at, next_at=published_at + PERIOD)


@dataclass(frozen=True)
class PublicGrades:
    """A district's public grades, each 1 (very low) .. 5 (very high) or None (nothing known).

    ``safety`` is the safety index graded like a risk (1 = the best coping capacity), as the
    dashboard's map grades it. ``withheld`` marks a district too small to publish.
    """

    overall: int | None = None
    safety: int | None = None
    natural: int | None = None
    calamity: int | None = None
    crime: int | None = None
    withheld: bool = False

    def as_dict(self) -> dict[str, int | None]:
        """The grades by name, in :data:`PUBLIC_GRADES` order."""
        return {name: getattr(self, name) for name in PUBLIC_GRADES}


def series_of_update(update: ScoreUpdate) -> dict[str, tuple[float, int | None]]:
    """What the rule reads of a full update: the composite, safety and group series only."""
    series: dict[str, tuple[float, int | None]] = {
        "composite": (update.composite.value, update.composite.grade),
        "safety": (update.safety, None),
    }
    for name, group in update.groups.items():
        series[f"group:{name}"] = (group.risk, group.grade)
    return series


def series_of_downsampled(scores: DownsampledScores) -> dict[str, tuple[float, int | None]]:
    """What the rule reads of downsampled history (a district past the raw retention)."""
    return {name: (value.value, value.grade) for name, value in scores.series.items()}


def grades_of(series: Series, params: ModelParams) -> PublicGrades:
    """A district's public grades from its series (a stored grade where there is one, else the
    model's grade of the value; safety is graded as ``10 - safety``).

    >>> s = {"composite": (3.2, 2), "safety": (7.1, None), "group:crime": (5.5, 4)}
    >>> grades_of(s, ModelParams())
    PublicGrades(overall=2, safety=2, natural=None, calamity=None, crime=4, withheld=False)
    """

    def graded(name: str, flip: bool = False) -> int | None:
        found = series.get(name)
        if found is None:
            return None
        value, stored = found
        if stored is not None and not flip:
            return stored if 1 <= stored <= 5 else None
        if not 0.0 <= value <= 10.0:  # not a model value: nothing to publish
            return None
        return grade(10.0 - value if flip else value, params)

    return PublicGrades(
        overall=graded("composite"),
        safety=graded("safety", flip=True),
        natural=graded("group:natural"),
        calamity=graded("group:calamity"),
        crime=graded("group:crime"),
    )


def disclose(
    series: Mapping[str, Series],
    populations: Mapping[str, int],
    params: ModelParams,
    *,
    min_population: int = MIN_POPULATION,
) -> dict[str, PublicGrades]:
    """The public grades of every district of ``populations`` (code -> residents): from its
    ``series`` at the published instant, or all None when it has none; withheld when it has
    fewer than ``min_population`` residents.

    >>> params = ModelParams()
    >>> out = disclose({"A": {"composite": (7.0, 5)}}, {"A": 9000, "B": 9000, "C": 12}, params)
    >>> out["A"].overall, out["B"].overall, out["C"].withheld
    (5, None, True)
    """
    public = {}
    for code, residents in populations.items():
        if residents < min_population:
            public[code] = PublicGrades(withheld=True)
        elif code in series:
            public[code] = grades_of(series[code], params)
        else:
            public[code] = PublicGrades()
    return public
