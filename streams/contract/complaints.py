"""Civil complaints (민원): ``riskmon.complaints`` (:class:`Complaint`, what a complaint system
publishes), the worker's located record of one for the history sink (:class:`LocatedComplaint` on
``riskmon.complaints-located``), and the API's answers about them.

A complaint never raises a risk index by itself: it is what residents *report*, not an observed
hazard. What riskmon derives from it (a facility out of service, see
:mod:`streams.pipeline.complaints` and docs/complaints.md) goes through the safety facts.

The same (``source``, ``id``) arrives again whenever its status changes; the newest
``updated_at`` wins and a complaint is counted once however often it is sent.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from streams.contract.base import (
    INTERNAL_FORMAT,
    DistrictCode,
    Identifier,
    RecordFormat,
    Timestamp,
    WireModel,
)
from streams.contract.inputs import _Located

__all__ = [
    "COMPLAINT_CATEGORIES",
    "COMPLAINT_STATUSES",
    "DESCRIPTION_MAX",
    "FACILITY_CATEGORIES",
    "OPEN_STATUSES",
    "Complaint",
    "ComplaintCell",
    "ComplaintCellsResponse",
    "ComplaintDistrictStats",
    "ComplaintStatsResponse",
    "LocatedComplaint",
]

# The closed list of categories, with what each covers (the Korean names are those of 새올/
# 안전신문고 complaint forms). A complaint system maps its own categories onto these; anything
# else is `other`. Order: as documented in docs/complaints.md.
COMPLAINT_CATEGORIES: Final = MappingProxyType(
    {
        "street_light_out": "가로등·보안등 고장: a street or security light out",
        "road_damage": "도로 파손·포트홀: a damaged road, a pothole",
        "illegal_dumping": "무단투기: rubbish dumped illegally",
        "noise": "소음: noise",
        "suspicious_place": "방범 취약지: a place that feels unsafe (dark alley, empty house)",
        "flooding_drain": "배수 불량·침수: a blocked drain, standing water",
        "fallen_tree": "쓰러진 나무: a fallen or leaning tree",
        "broken_cctv": "방범 CCTV 고장: a public CCTV camera out of order",
        "broken_emergency_bell": "비상벨 고장: an emergency bell out of order",
        "other": "기타: anything else",
    }
)

# The categories about one safety facility, which may name it in ``facility_id``.
FACILITY_CATEGORIES: Final = frozenset({"street_light_out", "broken_cctv", "broken_emergency_bell"})

COMPLAINT_STATUSES: Final = ("received", "in_progress", "fixed", "closed", "rejected")
OPEN_STATUSES: Final = frozenset({"received", "in_progress"})

DESCRIPTION_MAX: Final = 500


def _category(value: str) -> str:
    if value not in COMPLAINT_CATEGORIES:
        raise ValueError(
            f"unknown complaint category {value!r}; known: {', '.join(COMPLAINT_CATEGORIES)}"
        )
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain the NUL character (U+0000)")
    return value


ComplaintCategory = Annotated[str, AfterValidator(_category)]
ComplaintStatus = Literal["received", "in_progress", "fixed", "closed", "rejected"]
ShortText = Annotated[str, Field(max_length=DESCRIPTION_MAX), AfterValidator(_no_nul)]


class Complaint(_Located):
    """One civil complaint (민원) as its complaint system knows it now.

    ``id`` is unique per ``source`` (the complaint system, e.g. ``gimpo-minwon``); each status
    change is sent again with the same (source, id) and a newer ``updated_at``.
    """

    id: Identifier
    source: Identifier = Field(description="the complaint system, e.g. 'gimpo-minwon'")
    category: ComplaintCategory = Field(
        description="one of: " + ", ".join(COMPLAINT_CATEGORIES), examples=["road_damage"]
    )
    facility_id: Identifier | None = Field(
        default=None,
        description="the facility concerned (street_light_out, broken_cctv, "
        "broken_emergency_bell only): its id in the city's safety register (riskmon.safety)",
    )
    received_at: Timestamp
    status: ComplaintStatus
    updated_at: Timestamp = Field(description="when the status last changed; the newest wins")
    description: ShortText | None = Field(
        default=None, description=f"a short text, at most {DESCRIPTION_MAX} characters"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Complaint:
        if self.updated_at < self.received_at:
            raise ValueError(
                f"updated_at {self.updated_at.isoformat()} is before received_at "
                f"{self.received_at.isoformat()}"
            )
        if self.facility_id is not None and self.category not in FACILITY_CATEGORIES:
            raise ValueError(
                f"facility_id is for the categories {', '.join(sorted(FACILITY_CATEGORIES))}, "
                f"not {self.category}"
            )
        return self

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"


class LocatedComplaint(WireModel):
    """A valid complaint placed in a district (``riskmon.complaints-located``, for the sink)."""

    format: RecordFormat = INTERNAL_FORMAT
    complaint: Complaint
    district: DistrictCode
    h3: str | None = Field(description="its H3 cell (resolution 9); null when placed by code")
    read_at: AwareDatetime = Field(description="when the worker read it")
    origin: str = Field(description="TOPIC/PARTITION/OFFSET it was read from")
    facts: list[str] = Field(
        default_factory=list,
        description="the ids of the safety facts derived from it (a facility out of service "
        "or back in service)",
    )


# --- the API's answers -------------------------------------------------------------------------
class ComplaintCell(WireModel):
    h3: str
    count: int = Field(ge=0, description="complaints received in the cell")


class ComplaintCellsResponse(WireModel):
    """``GET /api/complaints/cells``: complaints per H3 cell (coarse cells below analyst)."""

    start: AwareDatetime
    end: AwareDatetime
    category: str | None = Field(description="the category asked for; null: every one")
    resolution: int = Field(description="H3 resolution of the cells (7 ≈ 5 km², 9 ≈ 0.1 km²)")
    cells: list[ComplaintCell]


class ComplaintDistrictStats(WireModel):
    district: DistrictCode
    name: str
    population: int
    total: int = Field(description="complaints received in the range")
    open: int = Field(description="of them, still received or in progress")
    per_10k: float = Field(description="complaints per 10,000 residents")
    by_category: dict[str, int]


class ComplaintStatsResponse(WireModel):
    """``GET /api/complaints/stats``: complaints per district by category, received in the
    range (counted once per (source, id), in their newest status)."""

    start: AwareDatetime
    end: AwareDatetime
    category: str | None = Field(description="the category asked for; null: every one")
    categories: list[str] = Field(description="the categories that occur, most frequent first")
    districts: list[ComplaintDistrictStats]
