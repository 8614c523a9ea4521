"""CAP intake: alerts start incidents in the districts they cover, Update/Cancel/expiry withdraw
them, in any order, idempotently; and the index model then counts them for nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from indices import DistrictState, ModelParams
from streams.city.config import default_city_config
from streams.city.map import CityMap
from streams.contract.deadletters import RawRecord
from streams.pipeline.cap_intake import CapIntake
from streams.pipeline.scoring import to_model_event
from tests.unit.streams.cap.spec_examples import gimpo_alert

JANGGI = "4157056000"
NOW = datetime(2026, 7, 15, 5, 10, tzinfo=UTC)  # 14:10 KST, after the alert was sent
KMA = "kma@korea.kr"
PARAMS = ModelParams()


@pytest.fixture(scope="module")
def city() -> CityMap:
    return default_city_config().city


def rec(offset: int, xml: str) -> tuple[int, RawRecord]:
    return offset, RawRecord("riskmon.cap", 0, offset, KMA.encode(), xml.encode())


ALERT = gimpo_alert("W1")
UPDATE = gimpo_alert(
    "W2",
    msg_type="Update",
    sent="2026-07-15T14:05:00+09:00",
    references=f"{KMA},W1,2026-07-15T14:00:00+09:00",
    event="호우경보",
)
CANCEL = gimpo_alert(
    "W3",
    msg_type="Cancel",
    sent="2026-07-15T14:08:00+09:00",
    references=f"{KMA},W2,2026-07-15T14:05:00+09:00",
)


def test_an_alert_over_janggi_starts_an_incident_named_after_it(city: CityMap) -> None:
    intake = CapIntake(0)
    out = intake.process([rec(0, ALERT)], city, NOW)
    assert out.dead == []
    assert [(e.kind, e.district) for e in out.located] == [("incident", JANGGI)]
    incident = out.located[0].incident
    assert incident is not None
    assert (incident.source, incident.id, incident.type) == (KMA, f"W1@{JANGGI}", "flood")
    assert out.counts["started"] == 1


def test_update_then_cancel_withdraws_everything_in_any_order(city: CityMap) -> None:
    finals = set()
    for order in itertools.permutations([ALERT, UPDATE, CANCEL]):
        intake = CapIntake(0)
        state = DistrictState.new()
        for offset, xml in enumerate(order):
            for located in intake.process([rec(offset, xml)], city, NOW).located:
                assert located.district == JANGGI
                state.apply(to_model_event(located.event), PARAMS)
        district = city.districts[JANGGI].as_model_input()
        scores = state.evaluate(district, PARAMS, NOW.timestamp())
        finals.add(round(scores.domains["flood_weather"].intensity, 12))
    assert finals == {0.0}


def test_an_update_replaces_the_alert_and_names_what_ended_it(city: CityMap) -> None:
    intake = CapIntake(0)
    intake.process([rec(0, ALERT)], city, NOW)
    out = intake.process([rec(1, UPDATE)], city, NOW)
    kinds = [(e.kind, e.event.id) for e in out.located]
    assert kinds == [("withdrawal", f"W1@{JANGGI}"), ("incident", f"W2@{JANGGI}")]
    withdrawal = out.located[0].withdrawal
    assert withdrawal is not None
    assert withdrawal.reason == "superseded"
    assert withdrawal.by == f"{KMA},W2"
    assert withdrawal.withdrawn_at == datetime(2026, 7, 15, 5, 5, tzinfo=UTC)


def test_redelivery_is_a_no_op_and_expiry_withdraws_once(city: CityMap) -> None:
    intake = CapIntake(0)
    intake.process([rec(0, ALERT)], city, NOW)
    again = intake.process([rec(0, ALERT), rec(1, ALERT)], city, NOW)
    assert again.located == []
    assert again.counts["redelivered"] == 1
    assert intake.tick(NOW + timedelta(hours=1)).located == []
    later = NOW + timedelta(hours=6)  # expires 20:00 KST = 11:00 UTC
    out = intake.tick(later)
    assert [(e.kind, e.withdrawal.reason if e.withdrawal else None) for e in out.located] == [
        ("withdrawal", "expired")
    ]
    assert intake.tick(later + timedelta(minutes=1)).located == []


def test_an_expired_alert_never_starts(city: CityMap) -> None:
    out = CapIntake(0).process([rec(0, ALERT)], city, NOW + timedelta(days=1))
    assert out.located == []


def test_bad_messages_are_dead_letters_naming_the_element(city: CityMap) -> None:
    open_ring = gimpo_alert(
        "W9", area="<polygon>37.6,126.7 37.7,126.7 37.7,126.8 37.6,126.8</polygon>"
    )
    doctype = (
        '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<alert>&x;</alert>"
    )
    out = CapIntake(0).process([rec(0, open_ring), rec(1, doctype), rec(2, "not xml")], city, NOW)
    assert [d.error for d in out.dead] == ["schema", "cap_refused", "cap_refused"]
    assert "DOCTYPE" in out.dead[1].reason
    assert "polygon" in out.dead[0].reason
    assert out.located == []


def test_exercises_and_unmapped_alerts_change_no_index(city: CityMap) -> None:
    intake = CapIntake(0)
    exercise = gimpo_alert("X1", status="Exercise")
    unmapped = (
        gimpo_alert("X2", event="행사 안내")
        .replace("<eventCode><valueName>재난유형</valueName><value>호우</value></eventCode>", "")
        .replace("<category>Met</category>", "<category>Other</category>")
    )
    out = intake.process([rec(0, exercise), rec(1, unmapped)], city, NOW)
    assert out.located == []
    assert out.counts.get("overlay") == 1


def test_the_state_round_trips_through_a_checkpoint(city: CityMap) -> None:
    intake = CapIntake(3)
    intake.process([rec(0, ALERT)], city, NOW)
    restored = CapIntake.from_checkpoint(intake.to_checkpoint())
    assert restored.to_checkpoint() == intake.to_checkpoint()
    out = restored.process(
        [rec(1, CANCEL.replace("W2,2026-07-15T14:05", "W1,2026-07-15T14:00"))], city, NOW
    )
    assert [e.kind for e in out.located] == ["withdrawal"]
