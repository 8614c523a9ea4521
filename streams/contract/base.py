"""Shared pieces of every wire model: the base class, bounded text, codes and times.

Times are RFC 3339 strings with an offset (``2026-11-24T21:05:00+09:00``); a time without an offset
is rejected, because "09:00" means different instants in Seoul and in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from indices.taxonomy import FACILITY_KINDS, INCIDENT_TYPES, SENSOR_KINDS

DISTRICT_CODE_PATTERN = r"^\d{10}$"


def _known(values: frozenset[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"unknown {what} {value!r}; known: {', '.join(sorted(values))}")
        return value

    return AfterValidator(check)


IncidentType = Annotated[str, _known(frozenset(INCIDENT_TYPES), "incident type")]


SensorKind = Annotated[str, _known(frozenset(SENSOR_KINDS), "sensor kind")]


FacilityKind = Annotated[str, _known(frozenset(FACILITY_KINDS), "facility kind")]


DistrictCode = Annotated[str, Field(pattern=DISTRICT_CODE_PATTERN, examples=["4157056000"])]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: such an input would be accepted here and then stop
    # every history write of its batch.
    if "\x00" in value:
        raise ValueError("text must not contain the NUL character (U+0000)")
    return value


# Text from outside (agencies, operators): bounded, and without NUL.
Text = Annotated[str, AfterValidator(_no_nul)]


Identifier = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


Note = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]


Token = Annotated[str, Field(max_length=100), AfterValidator(_no_nul)]


EARLIEST_YEAR, LATEST_YEAR = 1900, 2999


def _time_text(value: object) -> object:
    if isinstance(value, int | float):  # bool is an int too
        raise ValueError("a time must be an RFC 3339 string with an offset, not a number")
    return value


def _plausible_year(value: datetime) -> datetime:
    # Years outside this range cannot be an incident or a reading, and near year 1 or 9999 an
    # offset pushes the instant out of what Python and PostgreSQL can store.
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"year {value.year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_plausible_year)]


"""An input's time: an RFC 3339 string with an offset (not a number), years 1900..2999."""


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


INTERNAL_FORMAT = 1
"""The newest major format of the internal records (located events, score updates, alerts,
acknowledgements and their results, dead letters) this code writes and reads. Adding a field
keeps the format: readers ignore fields they do not know (:func:`read_internal`), so an older
worker, sink or gateway reads a newer one's records during a rolling upgrade and vice versa. A
change older code would misread (a field's meaning or unit changed, one removed) raises it; a
record of a format newer than the reader's is refused (dead-lettered by the sink, counted as
invalid by the gateway), never misread and never skipped silently."""


def _known_format(value: int) -> int:
    if value > INTERNAL_FORMAT:
        raise ValueError(
            f"record format {value} was written by a newer riskmon; this one reads formats up "
            f"to {INTERNAL_FORMAT}: upgrade it"
        )
    return value


RecordFormat = Annotated[
    int,
    Field(ge=1, description="major format of this internal record (see INTERNAL_FORMAT)"),
    AfterValidator(_known_format),
]


M = TypeVar("M", bound=BaseModel)


def read_internal(model: type[M], raw: bytes | str) -> M:
    """``raw`` as an internal record of type ``model``, ignoring fields this version does not
    know (a newer writer's additions) at every level; raises ValidationError as usual otherwise
    (including a format newer than :data:`INTERNAL_FORMAT`)."""
    return model.model_validate_json(raw, extra="ignore")


def utc_iso(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime."""
    return moment.isoformat()
