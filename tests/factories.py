"""Test data shared by unit and integration tests (valid wire messages, minimal content)."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.contract import Alert, Incident, ScoreUpdate

JANGGI = "4157056000"  # 장기동


def fires(ids: list[str], *, severity: int = 3, district: str = JANGGI) -> list[Incident]:
    """Fires reported now by the fire service in one district, one per id."""
    return [
        Incident(
            id=incident_id,
            source="gimpo-fire",
            type="fire",
            severity=severity,
            occurred_at=datetime.now(UTC),
            code=district,
        )
        for incident_id in ids
    ]


def score_update(
    district: str, seq: int, value: float = 1.0, *, reason: str = "events"
) -> ScoreUpdate:
    """A valid ScoreUpdate for ``district`` with composite and fire risk ``value``."""
    return ScoreUpdate.model_validate(
        {
            "district": district,
            "name": f"d{district[-4:]}",
            "seq": seq,
            "as_of": "2026-11-24T21:05:00+09:00",
            "model_version": "test",
            "reason": reason,
            "composite": {"value": value, "grade": 1},
            "domains": {
                "fire": {
                    "hazard": value,
                    "risk": value,
                    "grade": 1,
                    "intensity": 0.0,
                    "sensor_hazard": 0.0,
                }
            },
            "groups": {"calamity": {"hazard": value, "risk": value, "grade": 1}},
            "vulnerability": 1.0,
            "coping_lack": 1.0,
            "safety": 5.0,
            "confidence": 1.0,
            "freshness_s": {},
            "stale_feeds": [],
            "events": 0,
            "contributors": {},
            "delta": {"composite": 0.0, "safety": 0.0, "domains": {"fire": 0.0}},
            "drivers": [],
        }
    )


def alert(
    alert_id: str,
    seq: int,
    state: str = "firing",
    *,
    district: str = "4157056000",
    change: str = "fired",
    value: float = 7.0,
) -> Alert:
    """A valid Alert on ``district``'s fire domain."""
    return Alert.model_validate(
        {
            "id": alert_id,
            "seq": seq,
            "district": district,
            "name": "장기동",
            "domain": "fire",
            "rule": "hazard",
            "triggers": ["spike"],
            "state": state,
            "change": change,
            "severity": "Severe",
            "value": value,
            "baseline": 1.0,
            "peak": value,
            "opened_at": "2026-11-24T21:05:00+09:00",
            "fired_at": None if state == "pending" else "2026-11-24T21:05:00+09:00",
            "as_of": "2026-11-24T21:05:00+09:00",
            "drivers": [
                {"event_id": "gimpo-fire:1", "type": "fire", "domain": "fire", "contribution": 3.0}
            ],
        }
    )
