"""Every message's JSON Schema by name (:data:`SCHEMAS`), exported by ``riskmon schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import (
    TypeAdapter,
)

from streams.contract.alerts import AckResult, Alert, AlertAck
from streams.contract.api import (
    AlertHistoryResponse,
    AlertsResponse,
    ApiError,
    CityResponse,
    DeadLettersResponse,
    EventsResponse,
    HeatResponse,
    HistoryResponse,
    ScoresAtResponse,
    StatsResponse,
)
from streams.contract.auth import AuditResponse, LoginRequest, LoginResponse, MeResponse
from streams.contract.capout import (
    CapApproval,
    CapDraft,
    CapOpenChains,
    CapPublication,
    CapPublications,
)
from streams.contract.complaints import (
    Complaint,
    ComplaintCellsResponse,
    ComplaintStatsResponse,
    LocatedComplaint,
)
from streams.contract.deadletters import DeadLetter
from streams.contract.inputs import SAFETY_FACT, Incident, SensorReading
from streams.contract.open_data import OpenDistrictsDocument
from streams.contract.scores import DistrictScores, LocatedEvent, ScoreUpdate
from streams.contract.websocket import WS_SERVER_MESSAGE, AckRequest
from streams.contract.whatif import WhatIfResponse

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
    "auth-login-request": LoginRequest,
    "auth-login-response": LoginResponse,
    "auth-me": MeResponse,
    "api-audit": AuditResponse,
    "api-city": CityResponse,
    "api-heat": HeatResponse,
    "api-stats": StatsResponse,
    "api-cap-draft": CapDraft,
    "api-cap-approval": CapApproval,
    "api-cap-publication": CapPublication,
    "api-cap-published": CapPublications,
    "api-cap-open": CapOpenChains,
    "complaint": Complaint,
    "located-complaint": LocatedComplaint,
    "api-complaint-stats": ComplaintStatsResponse,
    "api-complaint-cells": ComplaintCellsResponse,
    "api-whatif": WhatIfResponse,
    "open-districts": OpenDistrictsDocument,
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
