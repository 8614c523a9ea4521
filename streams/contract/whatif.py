"""The policy map's answer (``GET /api/whatif``, ``riskmon whatif --json``): a hypothetical change
scored by the index model in every district, ranked.

A change is facilities of one kind put into service (``change`` a facility kind, ``count`` of
them in each district) or one structure re-inspected (``change="inspection"``, its
``structure_id`` and the ``grade`` found). Every index comes as an :class:`IndexShift`: before,
after and the change; risks with their grades 1-5. docs/policy-map.md explains the method.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from indices.taxonomy import FACILITY_KINDS
from streams.contract.base import DistrictCode, Name, WireModel

__all__ = [
    "WHATIF_CHANGES",
    "IndexShift",
    "WhatIfBasis",
    "WhatIfDistrict",
    "WhatIfResponse",
]

WHATIF_CHANGES: tuple[str, ...] = (*FACILITY_KINDS, "inspection")


class IndexShift(WireModel):
    """One index before and after the change (0-10); a risk's grades 1-5, none for safety."""

    before: float
    after: float
    change: float = Field(description="after - before: below 0 a risk falls, above 0 safety rises")
    grade_before: int | None = Field(default=None, ge=1, le=5)
    grade_after: int | None = Field(default=None, ge=1, le=5)


class WhatIfDistrict(WireModel):
    """The change's predicted effect on one district, and its place in the ranking."""

    rank: int = Field(ge=1, description="1 = the largest risk reduction per item")
    district: DistrictCode
    name: Name
    items: int = Field(ge=1, description="facilities added (or 1 re-inspected structure)")
    risk_reduction: float = Field(description="composite risk before - after (> 0: safer)")
    risk_reduction_per_item: float
    safety_gain_per_item: float
    composite: IndexShift
    safety: IndexShift
    coping_lack: IndexShift = Field(
        description="lack of coping capacity, the one input facilities and grades move"
    )
    groups: dict[str, IndexShift] = Field(description="risk of natural, calamity, crime")


class WhatIfBasis(WireModel):
    """What the districts' states were before the change."""

    source: Literal["checkpoints", "baseline"] = Field(
        description="the worker's checkpoints in PostgreSQL, or a baseline computed offline"
    )
    detail: str = Field(description="which checkpoints or which baseline, in words")
    saved_at: AwareDatetime | None = Field(
        default=None, description="the oldest checkpoint used (checkpoints only)"
    )
    empty: list[DistrictCode] = Field(
        default_factory=list,
        description="districts without a state: scored as districts with no history",
    )


class WhatIfResponse(WireModel):
    """``GET /api/whatif``: the same change in every district (or one), ranked."""

    change: Literal[WHATIF_CHANGES] = Field(  # type: ignore[valid-type]
        description="a facility kind, or 'inspection' (one structure re-inspected)"
    )
    count: int = Field(ge=1, description="facilities added per district (1 for an inspection)")
    structure_id: str | None = None
    grade: Literal["A", "B", "C", "D", "E"] | None = Field(
        default=None, description="the grade the re-inspection finds"
    )
    at: AwareDatetime = Field(description="the moment both states were evaluated at")
    model_version: str
    ranked_by: Literal["risk", "safety"]
    basis: WhatIfBasis
    districts: list[WhatIfDistrict]
