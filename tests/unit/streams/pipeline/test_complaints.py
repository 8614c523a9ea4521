"""Civil complaints: the contract, the rules (which complaints become safety facts, with which
ids) and the pure step's dead letters; and, on the real index model, that a broken-bell
complaint lowers the district's safety index only while open."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from indices import DistrictState, ModelParams
from streams.contract import Complaint, DeadLetter, FacilityFact
from streams.contract.complaints import COMPLAINT_CATEGORIES, FACILITY_CATEGORIES
from streams.contract.deadletters import RawRecord
from streams.pipeline.complaints import (
    FACILITY_RULES,
    Derived,
    derive_facts,
    fact_id,
    translate,
)
from streams.pipeline.scoring import to_model_event
from tests.cities import exact_gimpo

CITY = exact_gimpo()
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
JANGGI = (37.6385, 126.6791)
FUTURE = timedelta(seconds=300)


def complaint(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "M-2026-0042",
        "source": "gimpo-minwon",
        "category": "broken_emergency_bell",
        "facility_id": "bell-janggi-17",
        "received_at": "2026-11-24T08:00:00+09:00",
        "status": "received",
        "updated_at": "2026-11-24T08:00:00+09:00",
        "lat": JANGGI[0],
        "lon": JANGGI[1],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def raw(value: object) -> RawRecord:
    data = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return RawRecord("riskmon.complaints", 1, 7, b"M-2026-0042", data)


# --- the contract ---------------------------------------------------------------------------------
def test_every_rule_is_a_facility_category_and_names_a_facility_kind() -> None:
    from indices.taxonomy import FACILITY_KINDS

    assert set(FACILITY_RULES) == set(FACILITY_CATEGORIES)
    assert set(FACILITY_RULES) <= set(COMPLAINT_CATEGORIES)
    assert {rule.facility for rule in FACILITY_RULES.values()} <= set(FACILITY_KINDS)
    assert all(rule.reasoning for rule in FACILITY_RULES.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"category": "graffiti"}, "unknown complaint category"),
        ({"category": "noise"}, "facility_id is for the categories"),
        ({"updated_at": "2026-11-24T07:59:59+09:00"}, "before received_at"),
        ({"status": "reopened"}, "status"),
        ({"description": "x" * 501}, "at most 500"),
        ({"description": "a\x00b"}, "NUL"),
        ({"received_at": "2026-11-24T08:00:00"}, "timezone"),
        ({"lat": None, "lon": None}, "give a location"),
    ],
)
def test_invalid_complaints_are_refused_with_a_reason(change: dict[str, Any], message: str) -> None:
    data = complaint(**change)
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
    with pytest.raises(ValidationError, match=message):
        Complaint.model_validate(data)


def test_a_complaint_placed_by_code_and_without_facility_is_valid() -> None:
    c = Complaint.model_validate(
        complaint(lat=None, lon=None, code="4157056000", category="noise", facility_id=None)
    )
    assert (c.code, c.facility_id, c.key) == ("4157056000", None, "gimpo-minwon:M-2026-0042")


# --- the rules ------------------------------------------------------------------------------------
def test_an_open_broken_bell_takes_its_facility_out_of_service_at_received_at() -> None:
    for status in ("received", "in_progress"):
        facts = derive_facts(
            Complaint.model_validate(
                complaint(status=status, updated_at="2026-11-24T09:00:00+09:00")
            )
        )
        assert [(f.id, f.action, f.facility, f.facility_id) for f in facts] == [
            ("complaint:M-2026-0042:out", "removed", "emergency_bell", "bell-janggi-17")
        ]
        assert facts[0].effective_at == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
        assert facts[0].source == "gimpo-minwon"
        assert (facts[0].lat, facts[0].lon) == JANGGI


@pytest.mark.parametrize("status", ["fixed", "closed", "rejected"])
def test_a_closed_complaint_puts_the_facility_back_at_its_update(status: str) -> None:
    facts = derive_facts(
        Complaint.model_validate(complaint(status=status, updated_at="2026-11-24T15:30:00+09:00"))
    )
    assert [(f.id, f.action, f.effective_at.isoformat()) for f in facts] == [
        ("complaint:M-2026-0042:out", "removed", "2026-11-24T08:00:00+09:00"),
        (f"complaint:M-2026-0042:{status}", "added", "2026-11-24T15:30:00+09:00"),
    ]


def test_every_version_of_a_complaint_derives_the_same_removal() -> None:
    """Redelivery and later versions are duplicates downstream: same id, same content."""
    versions = [
        complaint(status="received"),
        complaint(status="in_progress", updated_at="2026-11-24T09:00:00+09:00"),
        complaint(status="fixed", updated_at="2026-11-24T10:00:00+09:00"),
    ]
    removals = {derive_facts(Complaint.model_validate(v))[0] for v in versions}
    assert len(removals) == 1


@pytest.mark.parametrize(
    ("category", "kind"),
    [("broken_cctv", "cctv"), ("street_light_out", "security_light")],
)
def test_cctv_and_lights_map_to_their_facility_kind(category: str, kind: str) -> None:
    facts = derive_facts(Complaint.model_validate(complaint(category=category)))
    assert [f.facility for f in facts] == [kind]


@pytest.mark.parametrize("category", sorted(set(COMPLAINT_CATEGORIES) - FACILITY_CATEGORIES))
def test_other_categories_never_touch_the_index(category: str) -> None:
    c = Complaint.model_validate(complaint(category=category, facility_id=None, status="fixed"))
    assert derive_facts(c) == []


def test_a_facility_complaint_without_facility_id_derives_nothing() -> None:
    assert derive_facts(Complaint.model_validate(complaint(facility_id=None))) == []


def test_long_complaint_ids_give_bounded_distinct_fact_ids() -> None:
    a, b = fact_id("a" * 128, "out"), fact_id("a" * 127 + "b", "out")
    assert a != b
    assert max(len(a), len(b)) <= 128
    FacilityFact.model_validate(
        {"id": a, "source": "s", "facility_id": "f", "facility": "cctv", "action": "added",
         "effective_at": "2026-11-24T08:00:00+09:00", "code": "4157056000"}
    )  # fmt: skip


# --- the pure step --------------------------------------------------------------------------------
def test_translate_locates_and_lists_the_derived_facts() -> None:
    result = translate(raw(complaint(status="fixed", updated_at="2026-11-24T10:00:00+09:00")),
                       CITY, NOW, FUTURE)  # fmt: skip
    assert isinstance(result, Derived)
    assert result.located.district == "4157056000"
    assert result.located.h3 == CITY.h3_cell(*JANGGI)
    assert result.located.origin == "riskmon.complaints/1/7"
    assert result.located.facts == ["complaint:M-2026-0042:out", "complaint:M-2026-0042:fixed"]


@pytest.mark.parametrize(
    ("value", "error", "reason"),
    [
        (b"{oops", "not_json", "not JSON"),
        (None, "not_json", "empty message"),
        (b"[1]", "schema", "expected a JSON object"),
        (complaint(category="graffiti"), "schema", "category"),
        (complaint(lat=37.0, lon=127.5), "outside_city", "outside every district"),
        (complaint(lat=None, lon=None, code="1111111111"), "unknown_district", "not a district"),
        (
            complaint(updated_at="2026-11-25T12:00:00+00:00"),
            "future",
            "check the sender's clock",
        ),
    ],
)
def test_bad_complaints_become_dead_letters_with_their_bytes(
    value: object, error: str, reason: str
) -> None:
    record = raw(value)
    letter = translate(record, CITY, NOW, FUTURE)
    assert isinstance(letter, DeadLetter)
    assert letter.error == error
    assert reason in letter.reason
    assert letter.value == (record.value or b"")
    assert (letter.topic, letter.partition, letter.offset) == ("riskmon.complaints", 1, 7)


# --- on the index model ---------------------------------------------------------------------------
def test_a_broken_bell_lowers_safety_only_while_open_and_only_for_a_known_bell() -> None:
    params = ModelParams()
    district = CITY.model_districts()["4157056000"]
    state = DistrictState.new()
    at = datetime(2026, 11, 24, 20, 0, tzinfo=UTC).timestamp()
    # the city's register: 40 bells in 장기동, among them bell-janggi-17
    for n in range(40):
        register = FacilityFact(
            id=f"reg-{n}", source="gimpo-city", facility_id=f"bell-janggi-{n}",
            facility="emergency_bell", action="added",
            effective_at=datetime(2026, 1, 1, tzinfo=UTC), code="4157056000",
        )  # fmt: skip
        assert state.apply(to_model_event(register), params) == "applied"
    before = state.evaluate(district, params, at).safety

    open_ = derive_facts(Complaint.model_validate(complaint()))
    for fact in open_:
        assert state.apply(to_model_event(fact), params) == "applied"
    broken = state.evaluate(district, params, at).safety
    assert broken < before

    # redelivery of any version is a duplicate and changes nothing
    again = derive_facts(
        Complaint.model_validate(complaint(status="in_progress", updated_at=NOW.isoformat()))
    )
    assert [state.apply(to_model_event(f), params) for f in again] == ["duplicate"]
    assert state.evaluate(district, params, at).safety == broken

    fixed = derive_facts(
        Complaint.model_validate(complaint(status="fixed", updated_at=NOW.isoformat()))
    )
    assert [state.apply(to_model_event(f), params) for f in fixed] == ["duplicate", "applied"]
    assert state.evaluate(district, params, at).safety == pytest.approx(before)

    # a complaint about a bell the register does not know changes no count while open
    unknown = derive_facts(Complaint.model_validate(complaint(id="M-9", facility_id="bell-x")))
    assert [state.apply(to_model_event(f), params) for f in unknown] == ["applied"]
    assert state.evaluate(district, params, at).safety == pytest.approx(before)


def test_the_dashboard_knows_the_same_categories() -> None:
    import re
    from pathlib import Path

    source = Path(__file__).parents[4] / "dashboard_ws/frontend/src/complaints-data.js"
    block = re.search(r"COMPLAINT_CATEGORIES = \[(.*?)\];", source.read_text(), re.S)
    assert block is not None
    assert re.findall(r'"([a-z_]+)"', block.group(1)) == list(COMPLAINT_CATEGORIES)
