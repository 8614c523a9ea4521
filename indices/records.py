"""What :class:`~indices.DistrictState` keeps of each event, the order that decides which record is
newest, and the JSON-safe encoding of records. Internal: callers use the state's methods.

The newest-wins orders are total, so the record kept never depends on arrival order: readings by
(t, value, kind); facility facts by (t, removed, key), so a removal beats an addition at the same
instant; inspections by (t, grade, key), so the worse grade wins a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar

from indices.errors import IndicesError, InvalidState
from indices.model import FacilityIn, IncidentIn, InspectionIn, ReadingIn
from indices.taxonomy import DOMAINS, INCIDENT_TYPES, INSPECTION_GRADES

__all__ = [
    "FacilityRecord",
    "FactRecord",
    "IncidentRecord",
    "InspectionRecord",
    "ReadingRecord",
    "decode_fact",
    "decode_intensity",
    "decode_table",
    "fact_rank",
    "reading_rank",
]

T = TypeVar("T")


class IncidentRecord(NamedTuple):
    type: str
    severity: int
    t: float
    casualties: int
    domain: str  # where params.incident_domain put it when it was applied

    @classmethod
    def of(cls, event: IncidentIn, domain: str) -> IncidentRecord:
        return cls(event.type, event.severity, float(event.t), event.casualties, domain)

    def encode(self) -> list[object]:
        return [self.type, self.severity, self.t, self.casualties, self.domain]

    @classmethod
    def decode(cls, key: str, value: object) -> IncidentRecord:
        kind, severity, t, casualties, domain = _fields(value, 5, key)
        if domain not in DOMAINS:
            raise InvalidState(f"incident {key!r}: unknown domain {domain!r}")
        event = IncidentIn(key, _str(kind), _int(severity), _float(t), _int(casualties))
        return cls.of(event, _str(domain))

    @classmethod
    def decode_v1(cls, key: str, value: object) -> IncidentRecord:
        """A record of state format 1, which kept no domain: the default taxonomy's."""
        kind, severity, t, casualties = _fields(value, 4, key)
        event = IncidentIn(key, _str(kind), _int(severity), _float(t), _int(casualties))
        return cls.of(event, INCIDENT_TYPES[event.type])


class ReadingRecord(NamedTuple):
    kind: str
    value: float
    t: float

    @classmethod
    def of(cls, event: ReadingIn) -> ReadingRecord:
        return cls(event.kind, float(event.value), float(event.t))

    def encode(self) -> list[object]:
        return [self.kind, self.value, self.t]

    @classmethod
    def decode(cls, sensor_id: str, value: object) -> ReadingRecord:
        kind, reading, t = _fields(value, 3, sensor_id)
        return cls.of(ReadingIn(sensor_id, _str(kind), _float(reading), _float(t)))


class FacilityRecord(NamedTuple):
    subject: str  # facility_id
    facility: str
    present: bool
    t: float

    @classmethod
    def of(cls, event: FacilityIn) -> FacilityRecord:
        return cls(event.facility_id, event.facility, event.present, float(event.t))

    def encode(self) -> list[object]:
        return ["facility", self.subject, self.facility, _ACTION[self.present], self.t]


class InspectionRecord(NamedTuple):
    subject: str  # structure_id
    grade: str
    t: float

    @classmethod
    def of(cls, event: InspectionIn) -> InspectionRecord:
        return cls(event.structure_id, event.grade, float(event.t))

    def encode(self) -> list[object]:
        return ["inspection", self.subject, self.grade, self.t]


FactRecord = FacilityRecord | InspectionRecord

_ACTION = {True: "added", False: "removed"}


def decode_fact(key: str, value: object) -> FactRecord:
    """A fact record from its encoding, validated like the event it came from."""
    tag = value[0] if isinstance(value, list) and value else None
    if tag == "facility":
        _, subject, facility, action, t = _fields(value, 5, key)
        if action not in ("added", "removed"):
            raise InvalidState(f"fact {key}: action must be 'added' or 'removed', got {action!r}")
        event = FacilityIn(key, _str(subject), _str(facility), action == "added", _float(t))
        return FacilityRecord.of(event)
    if tag == "inspection":
        _, subject, grade, t = _fields(value, 4, key)
        return InspectionRecord.of(InspectionIn(key, _str(subject), _str(grade), _float(t)))
    raise InvalidState(
        f"fact {key}: expected ['facility', id, kind, action, t] or "
        f"['inspection', id, grade, t], got {value!r}"
    )


def decode_intensity(domain: str, value: object) -> tuple[float, float]:
    """A domain's (S, t_last) pair from its encoding."""
    total, t_last = (_float(x) for x in _fields(value, 2, domain))
    if domain not in DOMAINS or not (math.isfinite(total) and total >= 0 and math.isfinite(t_last)):
        raise InvalidState(f"intensity {domain!r}: need a known domain, finite S >= 0 and t_last")
    return total, t_last


def reading_rank(record: ReadingRecord) -> tuple[float, float, str]:
    """Sort key of a sensor's readings: the greatest is the one that counts."""
    return (record.t, record.value, record.kind)


def fact_rank(key: str, record: FactRecord) -> tuple[float, int, str]:
    """Sort key of the facts about one facility or structure: the greatest one counts."""
    if isinstance(record, FacilityRecord):
        return (record.t, int(not record.present), key)
    return (record.t, INSPECTION_GRADES.index(record.grade), key)


def decode_table(
    data: Mapping[str, object], name: str, decode: Callable[[str, object], T]
) -> dict[str, T]:
    """Decode ``data[name]``, a JSON object of records, turning event errors into InvalidState."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise InvalidState(f"{name!r} must be an object, got {type(table).__name__}")
    try:
        return {_str(key): decode(key, value) for key, value in table.items()}
    except InvalidState:
        raise
    except (IndicesError, TypeError, ValueError) as error:
        raise InvalidState(f"{name!r}: {error}") from error


def _fields(value: object, count: int, key: str) -> list[object]:
    if not isinstance(value, list) or len(value) != count:
        raise InvalidState(f"record {key!r}: expected a list of {count} fields, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidState(f"expected a string, got {value!r}")
    return value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidState(f"expected an integer, got {value!r}")
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidState(f"expected a number, got {value!r}")
    return float(value)
