"""Event codes, event names and categories → incident types; CAP's three scales → severity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from indices.taxonomy import INCIDENT_TYPES
from streams.cap import classify, parse_cap, severity_of
from streams.cap.mapping import (
    CATEGORY_TYPES,
    EVENT_TERMS,
    KOREAN_EVENTS,
    SAME_EVENTS,
)
from streams.cap.model import CATEGORY, CERTAINTY, SEVERITY, URGENCY, CapAlert, CapInfo, ValuePair

from .spec_examples import AMBER, EARTHQUAKE, HOMELAND_SECURITY, THUNDERSTORM, gimpo_alert


def info(**changes: object) -> CapInfo:
    base = CapInfo(
        categories=("Other",),
        event="?",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def alert_of(*infos: CapInfo) -> CapAlert:
    return CapAlert(
        "X1", "s@x", datetime(2026, 7, 1, tzinfo=UTC), "Actual", "Alert", "Public", infos=infos
    )


def test_every_table_maps_to_known_incident_types() -> None:
    for table in (SAME_EVENTS, KOREAN_EVENTS, EVENT_TERMS, CATEGORY_TYPES):
        for kind in table.values():
            assert kind is None or kind in INCIDENT_TYPES
    assert set(CATEGORY_TYPES) <= set(CATEGORY)


def test_the_spec_examples() -> None:
    storm = classify(parse_cap(THUNDERSTORM).alert)
    assert (storm.incident_type, storm.domain, storm.matched_by) == (
        "storm_damage",
        "flood_weather",
        "eventCode SAME=SVR",
    )
    amber = classify(parse_cap(AMBER).alert)
    assert (amber.incident_type, amber.matched_by) == (None, "eventCode SAME=CAE")
    quake = classify(parse_cap(EARTHQUAKE).alert)
    assert (quake.incident_type, quake.matched_by) == (None, "event Earthquake")
    homeland = classify(parse_cap(HOMELAND_SECURITY).alert)
    assert (homeland.incident_type, homeland.matched_by) == (None, "unmapped")


def test_event_codes_come_before_the_event_and_the_category() -> None:
    coded = info(
        categories=("Fire",), event="Flood", event_codes=(ValuePair("재난유형", "산사태"),)
    )
    assert classify(alert_of(coded)).incident_type == "landslide"
    assert classify(alert_of(replace(coded, event_codes=()))).incident_type == "flood"
    assert classify(alert_of(replace(coded, event_codes=(), event="?"))).incident_type == "fire"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (ValuePair("SAME", "FFW"), "flood"),
        (ValuePair("same", "frw"), "fire"),
        (ValuePair("재난유형", "호우"), "flood"),
        (ValuePair("재난유형", "폭염경보"), "heat_illness"),
        (ValuePair("특보종류", "태풍주의보"), "storm_damage"),
        (ValuePair("DST_SE_NM", "화재"), "fire"),
        (ValuePair("OET:v1.2", "Flash Flood"), "flood"),
        (ValuePair("OET", "wildfire"), "fire"),
    ],
)
def test_event_code_schemes(code: ValuePair, expected: str) -> None:
    assert classify(alert_of(info(event_codes=(code,)))).incident_type == expected


def test_an_unknown_code_falls_through_to_the_event_text() -> None:
    coded = info(event="강풍주의보", event_codes=(ValuePair("SAME", "ZZZ"), ValuePair("x", "fire")))
    found = classify(alert_of(coded))
    assert (found.incident_type, found.matched_by) == ("storm_damage", "event 강풍주의보")


def test_several_languages_are_one_incident_the_first_mapped_block_decides() -> None:
    english = info(language="en-US", event="Heavy Rain Warning")
    korean = info(language="ko-KR", event="호우경보")
    assert (
        classify(alert_of(info(event="?"), english, korean)).matched_by
        == "event Heavy Rain Warning"
    )


def test_unmapped_categories_are_an_overlay() -> None:
    for category in ("Geo", "Security", "Rescue", "Health", "Env", "Infra", "CBRNE", "Other"):
        found = classify(alert_of(info(categories=(category,))))
        assert found.incident_type is None
        assert found.domain is None


def test_the_korean_profile_message_is_a_flood() -> None:
    found = classify(parse_cap(gimpo_alert().encode()).alert)
    assert (found.incident_type, found.matched_by) == ("flood", "eventCode 재난유형=호우")


@pytest.mark.parametrize(
    ("severity", "urgency", "certainty", "expected"),
    [
        ("Extreme", "Immediate", "Observed", 5),
        ("Severe", "Immediate", "Observed", 4),
        ("Moderate", "Expected", "Likely", 3),
        ("Minor", "Immediate", "Observed", 2),
        ("Unknown", "Unknown", "Observed", 2),
        ("Extreme", "Future", "Possible", 3),
        ("Minor", "Past", "Possible", 1),
        ("Severe", "Immediate", "Unknown", 3),
        ("Extreme", "Immediate", "Unlikely", None),
    ],
)
def test_severity(severity: str, urgency: str, certainty: str, expected: int | None) -> None:
    block = info(severity=severity, urgency=urgency, certainty=certainty)
    assert severity_of(block) == expected


def test_severity_is_within_one_to_five_and_monotone_in_cap_severity() -> None:
    order = ["Minor", "Moderate", "Severe", "Extreme"]
    for urgency in URGENCY:
        for certainty in CERTAINTY:
            values = [
                severity_of(info(severity=s, urgency=urgency, certainty=certainty))
                for s in SEVERITY
            ]
            if certainty == "Unlikely":
                assert values == [None] * len(SEVERITY)
                continue
            assert all(v is not None and 1 <= v <= 5 for v in values)
            ranked = [
                severity_of(info(severity=s, urgency=urgency, certainty=certainty)) for s in order
            ]
            assert ranked == sorted(ranked)  # type: ignore[type-var]
