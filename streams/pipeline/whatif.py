"""The policy map's pure step: district states + a change -> a ranked :class:`WhatIfResponse`.

The prediction is :func:`indices.what_if`, the index model itself applied to copies of the states
(:mod:`indices.whatif`); this module only builds the change from request values, assembles states
from JSON lines (the offline baseline) and turns results into the wire answer. Where states come
from is the caller's business: the worker's checkpoints
(:mod:`streams.persistence.whatif_reads`) or a baseline (``riskmon whatif``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from indices import (
    MODEL_VERSION,
    AddFacilities,
    Change,
    District,
    DistrictState,
    InvalidEvent,
    ModelParams,
    Reinspect,
    Shift,
    WhatIf,
    rank_districts,
    what_if,
)
from indices.whatif import RankBy, find_structure
from streams.city.config import CityConfig
from streams.contract import (
    DeadLetter,
    IndexShift,
    WhatIfBasis,
    WhatIfDistrict,
    WhatIfResponse,
)
from streams.errors import RiskmonError
from streams.pipeline.offline import locate_line
from streams.pipeline.scoring import to_model_event

__all__ = [
    "BaselineResult",
    "WhatIfRefused",
    "make_change",
    "states_from_lines",
    "whatif_response",
]


class WhatIfRefused(RiskmonError):
    """A what-if that cannot be answered as asked (bad change, unknown structure or district);
    the message says why. A client error, never retried."""

    retriable = False

    def __init__(self, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter


def make_change(change: str, count: int, structure: str | None, grade: str | None) -> Change:
    """The :mod:`indices` change for request values: a facility kind and a count, or
    ``inspection`` with a structure id (and a grade, default B). Raises :class:`WhatIfRefused`.

    >>> make_change("cctv", 3, None, None)
    AddFacilities(facility='cctv', count=3)
    >>> make_change("inspection", 1, "bridge-7", None)
    Reinspect(structure_id='bridge-7', grade='B')
    """
    try:
        if change == "inspection":
            if structure is None:
                raise WhatIfRefused("change=inspection needs structure=<id>", "structure")
            if count != 1:
                raise WhatIfRefused("an inspection re-grades one structure: count=1", "count")
            return Reinspect(structure, grade or "B")
        if structure is not None or grade is not None:
            raise WhatIfRefused("structure and grade go with change=inspection only", "structure")
        return AddFacilities(change, count)
    except InvalidEvent as exc:
        raise WhatIfRefused(str(exc), "change") from exc


def whatif_response(
    districts: Mapping[str, District],
    states: Mapping[str, DistrictState],
    params: ModelParams,
    change: Change,
    at: datetime,
    basis: WhatIfBasis,
    *,
    only: str | None = None,
    by: RankBy = "risk",
) -> WhatIfResponse:
    """``change`` in every district (or only district ``only``), ranked, as the wire answer.

    A facility change is made in each district; a re-inspection in the district whose state
    holds the structure (``only`` must be that district if given). Districts without a state
    are scored from an empty one; ``basis.empty`` should name them.
    Raises :class:`WhatIfRefused` for an unknown district or structure.
    """
    if only is not None and only not in districts:
        raise WhatIfRefused(f"unknown district {only!r}", "district")
    t = at.timestamp()
    if isinstance(change, Reinspect):
        holder = find_structure(
            {code: s for code, s in states.items() if only in (None, code)}, change.structure_id
        )
        if holder is None or holder not in districts:
            where = f"district {only}" if only else "any district's state"
            raise WhatIfRefused(
                f"structure {change.structure_id!r} is not held by {where}", "structure"
            )
        results = [what_if(states[holder], districts[holder], params, change, t)]
    else:
        chosen = [districts[only]] if only else [districts[code] for code in sorted(districts)]
        results = rank_districts(chosen, states, params, change, t, by)
    return WhatIfResponse(
        change=change.facility if isinstance(change, AddFacilities) else "inspection",
        count=change.items,
        structure_id=change.structure_id if isinstance(change, Reinspect) else None,
        grade=change.grade if isinstance(change, Reinspect) else None,
        at=at,
        model_version=MODEL_VERSION,
        ranked_by=by,
        basis=basis,
        districts=[
            _district(rank, result, districts[result.district])
            for rank, result in enumerate(results, 1)
        ],
    )


def _district(rank: int, result: WhatIf, district: District) -> WhatIfDistrict:
    return WhatIfDistrict(
        rank=rank,
        district=district.code,
        name=district.name,
        items=result.items,
        risk_reduction=result.risk_reduction,
        risk_reduction_per_item=result.risk_reduction_per_item,
        safety_gain_per_item=result.safety_gain_per_item,
        composite=_shift(result.composite),
        safety=_shift(result.safety),
        coping_lack=_shift(result.coping_lack),
        groups={name: _shift(shift) for name, shift in result.groups.items()},
    )


def _shift(shift: Shift) -> IndexShift:
    return IndexShift(
        before=shift.before,
        after=shift.after,
        change=shift.change,
        grade_before=shift.grade_before,
        grade_after=shift.grade_after,
    )


@dataclass
class BaselineResult:
    """District states built from JSON lines, and the lines refused (number, dead letter)."""

    states: dict[str, DistrictState]
    applied: int
    rejected: list[tuple[int, DeadLetter]]


def states_from_lines(
    lines: Iterable[bytes],
    config: CityConfig,
    received_at: datetime,
    states: dict[str, DistrictState] | None = None,
) -> BaselineResult:
    """Apply JSON lines (inputs or located events, as ``riskmon score`` reads them: validated
    and placed like the worker does) to ``states`` (new empty ones if None), in order."""
    held = states if states is not None else {}
    for code in config.city.codes:
        held.setdefault(code, DistrictState.new())
    rejected: list[tuple[int, DeadLetter]] = []
    applied = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        located = locate_line(number, line, config, received_at)
        if isinstance(located, DeadLetter):
            rejected.append((number, located))
            continue
        outcome = held[located.district].apply(to_model_event(located.event), config.params)
        applied += outcome == "applied"
    return BaselineResult(held, applied, rejected)
