"""The wire contract: every Kafka message and every websocket message riskmon exchanges.

Defined once and used by the producer (simulator), the worker, the gateway and the tests.
``indices`` never sees these models; the pipeline turns them into its plain inputs. One module per
concern:

:mod:`~streams.contract.inputs`       ``riskmon.incidents`` | ``readings`` | ``safety`` (agencies)
:mod:`~streams.contract.scores`       ``riskmon.located`` and ``riskmon.scores`` (the worker)
:mod:`~streams.contract.alerts`       ``riskmon.alerts``, ``alert-acks``, ``alert-ack-results``
:mod:`~streams.contract.deadletters`  ``riskmon.deadletter``
:mod:`~streams.contract.websocket`    the gateway's websocket messages
:mod:`~streams.contract.api`          the history API's answers
:mod:`~streams.contract.auth`         login, who am I, the audit trail
:mod:`~streams.contract.complaints`   ``riskmon.complaints`` (civil complaints 민원), their answers
:mod:`~streams.contract.whatif`       the policy map's what-if answer
:mod:`~streams.contract.schemas`      every message's JSON Schema by name

This package re-exports every public name, so ``from streams.contract import ScoreUpdate`` works.
Imports only pydantic and :mod:`indices.taxonomy`.
"""

from streams.contract.alerts import (
    AckRejection,
    AckResult,
    Alert,
    AlertAck,
    AlertKind,
    AlertTrigger,
    expired,
)
from streams.contract.api import (
    AlertHistoryResponse,
    AlertsResponse,
    ApiError,
    BaseMap,
    CityResponse,
    DeadLettersResponse,
    DistrictStats,
    DownsampledScores,
    EventsResponse,
    HeatCell,
    HeatResponse,
    HistoryPoint,
    HistoryResponse,
    ScoresAtResponse,
    SeriesValue,
    StatsResponse,
)
from streams.contract.auth import (
    AuditEntry,
    AuditResponse,
    LoginRequest,
    LoginResponse,
    MeResponse,
)
from streams.contract.base import (
    DISTRICT_CODE_PATTERN,
    EARLIEST_YEAR,
    LATEST_YEAR,
    DistrictCode,
    FacilityKind,
    Identifier,
    IncidentType,
    Name,
    Note,
    SensorKind,
    Text,
    Timestamp,
    Token,
    WireModel,
    utc_iso,
)
from streams.contract.complaints import (
    COMPLAINT_CATEGORIES,
    COMPLAINT_STATUSES,
    Complaint,
    ComplaintCell,
    ComplaintCellsResponse,
    ComplaintDistrictStats,
    ComplaintStatsResponse,
    LocatedComplaint,
)
from streams.contract.deadletters import (
    DEAD_LETTER_VALUE_MAX,
    DeadLetter,
    DeadLetterError,
    RawRecord,
    dead_letter,
)
from streams.contract.inputs import (
    SAFETY_FACT,
    FacilityFact,
    Incident,
    IncidentWithdrawal,
    InputEvent,
    InspectionFact,
    SafetyFact,
    SensorReading,
)
from streams.contract.open_data import OpenDistrictsDocument
from streams.contract.schemas import (
    SCHEMAS,
    export_schemas,
    json_schema,
)
from streams.contract.scores import (
    Basis,
    Composite,
    Delta,
    DistrictScores,
    DomainScore,
    Driver,
    GroupScore,
    LocatedEvent,
    ScoreUpdate,
)
from streams.contract.websocket import (
    WS_SERVER_MESSAGE,
    AckRequest,
    AckResultMessage,
    AlertMessage,
    HeartbeatMessage,
    RequestErrorMessage,
    ScoresMessage,
    SnapshotMessage,
    WsServerMessage,
    scores_frame,
)
from streams.contract.whatif import (
    WHATIF_CHANGES,
    IndexShift,
    WhatIfBasis,
    WhatIfDistrict,
    WhatIfResponse,
)

__all__ = [
    "COMPLAINT_CATEGORIES",
    "COMPLAINT_STATUSES",
    "DEAD_LETTER_VALUE_MAX",
    "DISTRICT_CODE_PATTERN",
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "SAFETY_FACT",
    "SCHEMAS",
    "WHATIF_CHANGES",
    "WS_SERVER_MESSAGE",
    "AckRejection",
    "AckRequest",
    "AckResult",
    "AckResultMessage",
    "Alert",
    "AlertAck",
    "AlertHistoryResponse",
    "AlertKind",
    "AlertMessage",
    "AlertTrigger",
    "AlertsResponse",
    "ApiError",
    "AuditEntry",
    "AuditResponse",
    "BaseMap",
    "Basis",
    "CityResponse",
    "Complaint",
    "ComplaintCell",
    "ComplaintCellsResponse",
    "ComplaintDistrictStats",
    "ComplaintStatsResponse",
    "Composite",
    "DeadLetter",
    "DeadLetterError",
    "DeadLettersResponse",
    "Delta",
    "DistrictCode",
    "DistrictScores",
    "DistrictStats",
    "DomainScore",
    "DownsampledScores",
    "Driver",
    "EventsResponse",
    "FacilityFact",
    "FacilityKind",
    "GroupScore",
    "HeartbeatMessage",
    "HeatCell",
    "HeatResponse",
    "HistoryPoint",
    "HistoryResponse",
    "Identifier",
    "Incident",
    "IncidentType",
    "IncidentWithdrawal",
    "IndexShift",
    "InputEvent",
    "InspectionFact",
    "LocatedComplaint",
    "LocatedEvent",
    "LoginRequest",
    "LoginResponse",
    "MeResponse",
    "Name",
    "Note",
    "OpenDistrictsDocument",
    "RawRecord",
    "RequestErrorMessage",
    "SafetyFact",
    "ScoreUpdate",
    "ScoresAtResponse",
    "ScoresMessage",
    "SensorKind",
    "SensorReading",
    "SeriesValue",
    "SnapshotMessage",
    "StatsResponse",
    "Text",
    "Timestamp",
    "Token",
    "WhatIfBasis",
    "WhatIfDistrict",
    "WhatIfResponse",
    "WireModel",
    "WsServerMessage",
    "dead_letter",
    "expired",
    "export_schemas",
    "json_schema",
    "scores_frame",
    "utc_iso",
]
