"""The wire contract: every Kafka message and every websocket message riskmon exchanges.

Defined once here and used by the producer (simulator), the worker, the gateway and the tests.
``indices`` never sees these models; :mod:`streams.convert` turns them into its plain inputs.

Inputs (published by agencies)
    ``riskmon.incidents``  :class:`Incident`
    ``riskmon.readings``   :class:`SensorReading`
    ``riskmon.safety``     :data:`SafetyFact` (:class:`InspectionFact` | :class:`FacilityFact`)
Internal
    ``riskmon.located``    :class:`LocatedEvent` (keyed by district code)
Outputs
    ``riskmon.scores``     :class:`ScoreUpdate` (keyed by district code)
    ``riskmon.deadletter`` :class:`DeadLetter`
Websocket (server to client)
    :class:`SnapshotMessage`, :class:`ScoreMessage`, :class:`AlertMessage`
History API (HTTP on the gateway)
    :class:`HistoryResponse`, :class:`ScoresAtResponse`, :class:`AlertsResponse`,
    :class:`AlertHistoryResponse`, :class:`EventsResponse`, :class:`ApiError`

Times are RFC 3339 strings with an offset (``2026-11-24T21:05:00+09:00``); a time without an offset
is rejected, because "09:00" means different instants in Seoul and in UTC.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from indices.taxonomy import FACILITY_KINDS, INCIDENT_TYPES, MAX_CASUALTIES, SENSOR_KINDS

__all__ = [
    "AckRejection",
    "AckRequest",
    "AckResult",
    "AckResultMessage",
    "Alert",
    "AlertAck",
    "AlertHistoryResponse",
    "AlertMessage",
    "AlertsResponse",
    "ApiError",
    "Basis",
    "DeadLetter",
    "DeadLettersResponse",
    "DistrictScores",
    "DownsampledScores",
    "Driver",
    "EventsResponse",
    "FacilityFact",
    "HistoryPoint",
    "HistoryResponse",
    "Incident",
    "InspectionFact",
    "LocatedEvent",
    "RequestErrorMessage",
    "SafetyFact",
    "ScoreMessage",
    "ScoreUpdate",
    "ScoresAtResponse",
    "SensorReading",
    "SeriesValue",
    "SnapshotMessage",
    "export_schemas",
]

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


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Located(_Message):
    """A location: either a WGS84 point (``lat`` and ``lon``) or a 10-digit district ``code``."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    code: DistrictCode | None = None

    @model_validator(mode="after")
    def _one_location(self) -> _Located:
        has_point = self.lat is not None or self.lon is not None
        if has_point and (self.lat is None or self.lon is None):
            raise ValueError("a point needs both lat and lon")
        if not has_point and self.code is None:
            raise ValueError("give a location: lat and lon (WGS84), or a district code")
        return self


class Incident(_Located):
    """An incident reported by an agency (fire service, police, city hall, ...).

    ``id`` is unique per ``source``; publishing the same (source, id) again is a redelivery
    and never counts twice.
    """

    id: Identifier
    source: Identifier = Field(description="publishing agency, e.g. 'gimpo-fire'")
    type: IncidentType
    severity: int = Field(ge=1, le=5, strict=True, description="1 minor .. 5 catastrophic")
    occurred_at: Timestamp
    casualties: int = Field(default=0, ge=0, le=MAX_CASUALTIES, strict=True)
    description: Note | None = None
    status: Literal["reported", "responding", "contained", "closed"] | None = None


class SensorReading(_Located):
    """One observation of a sensor; the newest reading per ``sensor_id`` is the one that counts."""

    sensor_id: Identifier
    source: Identifier = "sensor-network"
    kind: SensorKind
    value: float = Field(allow_inf_nan=False)
    observed_at: Timestamp


class InspectionFact(_Located):
    """A structure's safety-inspection grade (시설물안전법: A excellent .. E bad)."""

    fact: Literal["inspection"] = "inspection"
    id: Identifier
    source: Identifier
    structure_id: Identifier
    grade: Literal["A", "B", "C", "D", "E"]
    effective_at: Timestamp


class FacilityFact(_Located):
    """A safety facility (CCTV, hydrant, ...) added to or removed from service."""

    fact: Literal["facility"] = "facility"
    id: Identifier
    source: Identifier
    facility_id: Identifier
    facility: FacilityKind
    action: Literal["added", "removed"]
    effective_at: Timestamp


SafetyFact = Annotated[InspectionFact | FacilityFact, Field(discriminator="fact")]
SAFETY_FACT: TypeAdapter[InspectionFact | FacilityFact] = TypeAdapter(SafetyFact)

InputEvent = Incident | SensorReading | InspectionFact | FacilityFact


class LocatedEvent(_Message):
    """A validated input placed in a district (and an H3 cell when it came with a point)."""

    kind: Literal["incident", "reading", "safety"]
    district: DistrictCode
    h3: str | None = None
    received_at: AwareDatetime
    origin: str = Field(description="topic/partition/offset the event was read from")
    incident: Incident | None = None
    reading: SensorReading | None = None
    safety: SafetyFact | None = None

    @model_validator(mode="after")
    def _payload_matches_kind(self) -> LocatedEvent:
        payload = {"incident": self.incident, "reading": self.reading, "safety": self.safety}
        present = [name for name, value in payload.items() if value is not None]
        if present != [self.kind]:
            raise ValueError(
                f"a {self.kind!r} event carries exactly its own payload, got {present}"
            )
        return self

    @property
    def event(self) -> InputEvent:
        event = self.incident or self.reading or self.safety
        assert event is not None  # guaranteed by the validator
        return event


class Driver(_Message):
    """An event that moved a district's index in this update."""

    event_id: str = Field(description="'source:id' for incidents and facts, sensor id for readings")
    type: str = Field(description="incident type, sensor kind, or safety fact kind")
    domain: str
    contribution: float = Field(description="its share of the domain hazard (0-10 scale) at as_of")


class Composite(_Message):
    value: float = Field(ge=0, le=10)
    grade: int = Field(ge=1, le=5)


class DomainScore(_Message):
    hazard: float = Field(ge=0, le=10, description="hazard & exposure, 0-10")
    risk: float = Field(ge=0, le=10, description="(hazard * vulnerability * lack of coping)^(1/3)")
    grade: int = Field(ge=1, le=5)
    intensity: float = Field(ge=0, description="decayed severity-weighted incident intensity")
    sensor_hazard: float = Field(ge=0, le=10)


class GroupScore(_Message):
    """One of the three risk types: natural 재해, calamity 재난, crime 범죄."""

    hazard: float = Field(ge=0, le=10, description="hazards of its domains combined")
    risk: float = Field(ge=0, le=10)
    grade: int = Field(ge=1, le=5)


class Delta(_Message):
    composite: float
    safety: float
    domains: dict[str, float] = Field(description="change of each domain's risk")


class DistrictScores(_Message):
    """A district's indices at ``as_of`` (what ``riskmon score`` prints per district)."""

    district: DistrictCode
    name: str
    as_of: AwareDatetime
    model_version: str
    composite: Composite
    domains: dict[str, DomainScore]
    groups: dict[str, GroupScore] = Field(description="natural, calamity, crime")
    vulnerability: float = Field(ge=0, le=10)
    coping_lack: float = Field(ge=0, le=10)
    safety: float = Field(ge=0, le=10, description="안전도: 10 - lack of coping capacity")
    confidence: float = Field(ge=0, le=1, description="1 = every sensor feed is fresh")
    freshness_s: dict[str, float] = Field(description="sensor kind -> age of its newest reading")
    stale_feeds: list[str] = Field(description="sensor kinds past their validity")
    events: int = Field(ge=0, description="distinct incidents counted in this district's state")
    contributors: dict[str, list[Driver]] = Field(
        description="per domain: the events and readings that explain its hazard now, largest first"
    )


class Basis(_Message):
    """Which events a score reflects: those read from ``riskmon.located`` partition ``partition``
    below offset ``next_offset`` (so a replay from stored events reproduces it exactly)."""

    partition: int = Field(ge=0)
    next_offset: int = Field(ge=0)


class ScoreUpdate(DistrictScores):
    """A change of a district's indices; published on ``riskmon.scores`` keyed by district code.

    ``drivers`` are the events of this batch that moved it; ``contributors`` explain, for each
    domain that changed, its whole current hazard.
    """

    seq: int = Field(ge=0, description="per district, strictly increasing, also across restarts")
    reason: Literal["events", "tick", "recovered"]
    delta: Delta
    drivers: list[Driver]
    basis: Basis | None = Field(
        default=None, description="the located-events position these scores reflect"
    )


AlertKind = Literal["hazard", "stale"]
AlertTrigger = Literal["spike", "threshold", "stale"]


class Alert(_Message):
    """An alert on a district's index; published on ``riskmon.alerts`` keyed by district code.

    One alert per (district, domain, rule) is open at a time: later messages with the same ``id``
    are the same alert moving through its lifecycle (``change`` says what happened). ``rule`` is
    the alert's kind: ``hazard`` stands for the spike and threshold rules of the domain together
    (one rise is one alert, whichever of them holds; ``triggers`` says which did), ``stale`` for
    its sensor feeds. Pending alerts (not yet held their minimum duration) are published here
    for history; the gateway shows clients only alerts that fired.
    """

    id: str
    seq: int = Field(ge=0, description="per alert, strictly increasing")
    district: DistrictCode
    name: str
    domain: str = Field(description="a domain, or 'composite'")
    rule: AlertKind
    triggers: list[AlertTrigger] = Field(
        description="the rules whose open condition held during its life, first first"
    )
    state: Literal["pending", "firing", "acknowledged", "resolved"]
    change: Literal[
        "opened", "fired", "updated", "acknowledged", "refired", "resolved", "withdrawn", "expired"
    ] = Field(
        description="withdrawn: a pending alert whose condition ended before it fired (or, for "
        "the composite, that gave way to a domain's alert of its district); expired: closed "
        "without its condition ending, because the stream restarted (a new epoch) and the "
        "alert's state was lost, or because an upgrade merged it into another alert"
    )
    severity: Literal["Minor", "Moderate", "Severe", "Extreme"] = Field(
        description="CAP 1.2 severity terms"
    )
    value: float
    baseline: float | None = Field(description="the detector's expected value, if known")
    peak: float
    opened_at: AwareDatetime
    fired_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    note: str | None = None
    resolved_at: AwareDatetime | None = None
    as_of: AwareDatetime
    cluster: str | None = Field(
        default=None, description="incident cluster: same-domain alerts in adjacent districts"
    )
    drivers: list[Driver] = Field(description="the events that explained it when it fired")


class AlertAck(_Message):
    """An operator takes ownership of an alert; published on ``riskmon.alert-acks`` keyed by
    the alert's district code."""

    alert_id: Text
    district: DistrictCode
    who: Name
    note: Note | None = None
    at: Timestamp
    ack_id: Token | None = Field(
        default=None,
        description="unique per acknowledgement (the gateway sets a UUID); echoed in its AckResult",
    )


AckRejection = Literal["not_open", "not_firing", "already_acknowledged", "wrong_district"]


class AckResult(_Message):
    """The worker's decision on one :class:`AlertAck`; published on
    ``riskmon.alert-ack-results`` keyed by district. Applied: the alert's ``acknowledged``
    message is on ``riskmon.alerts``. Rejected: the alert is unchanged (and the acknowledgement
    is also dead-lettered as ``ack_rejected``)."""

    ack_id: str | None = Field(description="the AlertAck's ``ack_id``")
    alert_id: str
    district: DistrictCode
    who: str
    outcome: Literal["applied", "rejected"]
    code: AckRejection | None = Field(
        default=None,
        description=(
            "why it was rejected: not_open (resolved, expired or never existed), not_firing "
            "(still pending: nobody has been notified yet), already_acknowledged, "
            "wrong_district (the alert belongs to another district)"
        ),
    )
    reason: str | None = Field(default=None, description="the rejection in words, for operators")
    decided_at: AwareDatetime


DeadLetterError = Literal[
    "not_json",
    "schema",
    "outside_city",
    "unknown_district",
    "not_counted",
    "future",
    "conflict",
    "not_storable",
    "ack_rejected",
    "internal",
]


DEAD_LETTER_VALUE_MAX = 256 * 1024  # original bytes kept in a dead letter


class DeadLetter(_Message):
    """An input the worker could not use, with its original bytes and a reason to act on."""

    topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str
    reason: str
    error: DeadLetterError
    failed_at: AwareDatetime
    value_truncated_from: int | None = Field(
        default=None,
        ge=0,
        description="set when the original value was larger than "
        f"{DEAD_LETTER_VALUE_MAX} bytes: its size; value_b64 then holds its first "
        f"{DEAD_LETTER_VALUE_MAX} bytes (so that the dead letter itself fits in a Kafka message)",
    )

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)

    @staticmethod
    def encode(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode("ascii")


class SnapshotMessage(_Message):
    """First message on a websocket: the latest update of every district and the open alerts."""

    type: Literal["snapshot"] = "snapshot"
    districts: list[ScoreUpdate]
    alerts: list[Alert] = Field(default_factory=list)


class ScoreMessage(_Message):
    """A live update of one district."""

    type: Literal["score"] = "score"
    update: ScoreUpdate


class AlertMessage(_Message):
    """An alert opened, changed or resolved."""

    type: Literal["alert"] = "alert"
    alert: Alert


class RequestErrorMessage(_Message):
    """Server to one client: the gateway could not act on that client's message; nothing was
    done. (An acknowledgement the gateway passed on is answered with ``ack_result``.)"""

    type: Literal["request_error"] = "request_error"
    reason: str
    alert_id: str | None = Field(
        default=None, description="the alert the request named, when it could be read"
    )
    request_id: str | None = Field(
        default=None, description="the request's ``request_id``, when it could be read"
    )
    retry: bool = Field(
        description="true when the same request may succeed later (the broker did not take it)"
    )


class AckResultMessage(_Message):
    """Server to the client that sent an ``ack``: what became of it. ``queued``: the broker took
    it and the worker will decide; then ``applied`` (the alert's ``acknowledged`` message goes to
    every client) or ``rejected`` (``code`` and ``reason`` say why; the alert is unchanged), or
    ``timed_out`` when no decision came within the gateway's wait (``RISKMON_ACK_WAIT_S``): the
    worker is down or far behind and may still apply it later, which the alert's own messages
    would show. A request the gateway could not pass on is answered with ``request_error``
    instead."""

    type: Literal["ack_result"] = "ack_result"
    request_id: str | None = Field(description="the request's ``request_id``, when it had one")
    alert_id: str
    status: Literal["queued", "applied", "rejected", "timed_out"]
    code: AckRejection | None = None
    reason: str | None = None


class AckRequest(_Message):
    """Client to server: acknowledge an alert."""

    type: Literal["ack"] = "ack"
    alert_id: Text
    district: DistrictCode
    who: Name
    note: Note | None = None
    request_id: Token | None = Field(
        default=None,
        description="chosen by the client; echoed in the ack_result and request_error answers",
    )


# --- the history API (JSON over HTTP on the gateway) -------------------------------------------
class HistoryPoint(_Message):
    """One step of a downsampled series; scores are step functions, so ``value`` is the last value
    known at the step's end (carried over steps without updates)."""

    t: AwareDatetime = Field(description="start of the step")
    value: float | None = Field(
        description="last value at or before the step's end; null = none yet"
    )
    min: float | None = Field(description="lowest value the series held during the step")
    max: float | None = Field(description="highest value the series held during the step")
    grade: int | None = Field(description="grade of ``value`` (1-5) where the series has grades")
    updates: int = Field(ge=0, description="stored points inside the step")


class HistoryResponse(_Message):
    """``GET /api/districts/{code}/history``."""

    district: DistrictCode
    domain: str = Field(description="'composite', 'safety', a domain, or 'group:<name>'")
    series: str = Field(description="'live', or the name a replay wrote")
    model_versions: list[str] = Field(description="model versions of the points in the range")
    start: AwareDatetime
    end: AwareDatetime
    step_s: int
    points: list[HistoryPoint]


class SeriesValue(_Message):
    """One series' value as downsampled history keeps it."""

    value: float
    grade: int | None = Field(description="grade of ``value`` (1-5) where the series has grades")
    as_of: AwareDatetime = Field(description="when the series took this value")


class DownsampledScores(_Message):
    """A district at a moment older than the full updates are kept (raw retention): each
    series' last value in the downsampled history at or before that moment. Never a value from
    after the moment; at most one rollup step older than what the map showed then."""

    district: DistrictCode
    model_version: str
    series: dict[str, SeriesValue] = Field(
        description="composite, safety, each domain and group:<name>, as far as kept"
    )


class ScoresAtResponse(_Message):
    """``GET /api/scores?at=``: every district as the series showed it at ``at``."""

    at: AwareDatetime
    series: str
    districts: list[ScoreUpdate] = Field(description="each district's last update at or before at")
    downsampled: list[DownsampledScores] = Field(
        default_factory=list,
        description="districts whose full updates at that time are past retention: their values "
        "from downsampled history",
    )
    missing: list[DistrictCode] = Field(description="districts with nothing stored at or before at")


class AlertsResponse(_Message):
    """``GET /api/alerts``: alerts (their latest state) opened in the range, newest first."""

    alerts: list[Alert]
    truncated: bool = Field(description="true when more alerts matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class AlertHistoryResponse(_Message):
    """``GET /api/alerts/{id}``: every message of one alert's lifecycle, in order."""

    id: str
    changes: list[Alert]


class EventsResponse(_Message):
    """``GET /api/events``: validated events in the range, oldest first."""

    events: list[LocatedEvent]
    truncated: bool = Field(description="true when more events matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class DeadLettersResponse(_Message):
    """``GET /api/dead-letters``: rejected inputs that failed in the range, newest first."""

    dead_letters: list[DeadLetter]
    truncated: bool = Field(description="true when more dead letters matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class ApiError(_Message):
    """Every 4xx/5xx answer of the history API."""

    error: Literal["bad_parameter", "not_found", "unavailable"]
    detail: str = Field(description="what was wrong and what is accepted")
    parameter: str | None = Field(default=None, description="the query parameter at fault")


WsServerMessage = (
    SnapshotMessage | ScoreMessage | AlertMessage | AckResultMessage | RequestErrorMessage
)
WS_SERVER_MESSAGE: TypeAdapter[WsServerMessage] = TypeAdapter(
    Annotated[WsServerMessage, Field(discriminator="type")]
)

SCHEMAS: dict[str, Any] = {
    "incident": Incident,
    "sensor-reading": SensorReading,
    "safety-fact": SAFETY_FACT,
    "located-event": LocatedEvent,
    "score-update": ScoreUpdate,
    "alert": Alert,
    "alert-ack": AlertAck,
    "alert-ack-result": AckResult,
    "ws-client-ack": AckRequest,
    "district-scores": DistrictScores,
    "dead-letter": DeadLetter,
    "ws-server-message": WS_SERVER_MESSAGE,
    "api-history": HistoryResponse,
    "api-scores-at": ScoresAtResponse,
    "api-alerts": AlertsResponse,
    "api-alert-history": AlertHistoryResponse,
    "api-events": EventsResponse,
    "api-dead-letters": DeadLettersResponse,
    "api-error": ApiError,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one message, by its name in :data:`SCHEMAS`."""
    target = SCHEMAS[name]
    if isinstance(target, TypeAdapter):
        schema: dict[str, Any] = target.json_schema()
    else:
        schema = target.model_json_schema()
    return schema


def export_schemas(directory: Path) -> list[Path]:
    """Write every message's JSON Schema to ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def utc_iso(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime."""
    return moment.isoformat()
