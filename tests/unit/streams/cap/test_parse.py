"""Reading CAP: the specification's four examples, the Korean profile, encodings, leniencies and
the rules that refuse a message with the element named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from streams.cap import CapInvalid, CapRefused, parse_cap
from streams.cap.model import CAP_11, CAP_12

from .spec_examples import AMBER, EARTHQUAKE, HOMELAND_SECURITY, THUNDERSTORM, gimpo_alert

PDT = timezone(timedelta(hours=-7))
KST = timezone(timedelta(hours=9))


def test_the_homeland_security_example() -> None:
    parsed = parse_cap(HOMELAND_SECURITY)
    alert = parsed.alert
    assert (parsed.version, parsed.leniencies) == ("1.2", ())
    assert alert.key == ("hsas@dhs.gov", "43b080713727")
    assert alert.sent == datetime(2003, 4, 2, 19, 39, 1, tzinfo=UTC)
    (info,) = alert.infos
    assert info.language == "en-US"  # the default when absent
    assert (info.categories, info.urgency, info.severity, info.certainty) == (
        ("Security",),
        "Immediate",
        "Severe",
        "Likely",
    )
    assert [(p.name, p.value) for p in info.parameters] == [("HSAS", "ORANGE")]
    assert info.resources[0].mime_type == "image/gif"
    assert info.areas[0].description == "U.S. nationwide and interests worldwide"
    assert info.areas[0].polygons == ()
    assert info.areas[0].circles == ()


def test_the_thunderstorm_example() -> None:
    info = parse_cap(THUNDERSTORM).alert.infos[0]
    assert info.response_types == ("Shelter",)
    assert info.expires == datetime(2003, 6, 17, 16, 0, tzinfo=PDT)
    assert [(c.name, c.value) for c in info.event_codes] == [("SAME", "SVR")]
    (area,) = info.areas
    assert area.polygons[0][0] == (38.47, -120.14) == area.polygons[0][-1]
    assert len(area.polygons[0]) == 5
    assert [g.value for g in area.geocodes] == ["006109", "006009", "006003"]
    assert info.description is not None
    assert info.description.startswith("AT 254 PM PDT")


def test_the_earthquake_example_is_an_update_with_its_reference() -> None:
    alert = parse_cap(EARTHQUAKE).alert
    assert alert.msg_type == "Update"
    (ref,) = alert.references
    assert ref.key == ("trinet@caltech.edu", "TRI13970876.1")
    assert ref.sent == datetime(2003, 6, 11, 20, 30, tzinfo=PDT)
    (circle,) = alert.infos[0].areas[0].circles
    assert (circle.center, circle.radius_km) == ((32.9525, -115.5527), 0.0)
    assert len(alert.infos[0].parameters) == 5


def test_the_amber_alert_has_two_languages() -> None:
    alert = parse_cap(AMBER).alert
    assert alert.source == "SW"
    assert [info.language for info in alert.infos] == ["en-US", "es-US"]
    assert alert.infos[1].event == "Abducción de Niño"
    assert alert.infos[1].sender_name == "Departamento de Policía de Los Ángeles - LAPD"


def test_a_korean_profile_message() -> None:
    alert = parse_cap(gimpo_alert().encode()).alert
    assert alert.codes == ("대한민국정부1.0",)
    assert alert.sent == datetime(2026, 7, 15, 14, 0, tzinfo=KST)
    assert alert.infos[0].event == "호우경보"
    assert alert.infos[0].areas[0].polygons[0][1] == (37.64, 126.68)


def test_cap_1_1_is_accepted() -> None:
    parsed = parse_cap(THUNDERSTORM.replace(CAP_12.encode(), CAP_11.encode()))
    assert parsed.version == "1.1"
    assert parsed.alert.identifier == "KSTO1055887203"


def test_cap_1_1_very_likely_is_read_as_likely() -> None:
    data = HOMELAND_SECURITY.replace(CAP_12.encode(), CAP_11.encode()).replace(
        b"<certainty>Likely", b"<certainty>Very Likely"
    )
    parsed = parse_cap(data)
    assert parsed.alert.infos[0].certainty == "Likely"
    assert parsed.leniencies == ("info[0]/certainty: 'Very Likely' read as 'Likely'",)


def test_another_namespace_is_refused() -> None:
    data = THUNDERSTORM.replace(CAP_12.encode(), b"http://www.incident.com/cap/1.0")
    with pytest.raises(CapInvalid, match=r"^alert: namespace .* is not CAP 1\.2 or 1\.1"):
        parse_cap(data)


# -- encodings ---------------------------------------------------------------------------------
def test_a_utf8_byte_order_mark_is_honoured() -> None:
    alert = parse_cap("\ufeff".encode() + gimpo_alert().encode()).alert
    assert alert.infos[0].sender_name == "기상청"


def test_a_declared_euc_kr_encoding_is_honoured() -> None:
    text = gimpo_alert(declaration='<?xml version="1.0" encoding="EUC-KR"?>')
    data = text.encode("euc-kr")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the bytes really are EUC-KR, not UTF-8
    alert = parse_cap(data).alert
    assert alert.infos[0].headline == "김포시 호우경보"
    assert alert.codes == ("대한민국정부1.0",)


def test_utf16_with_its_byte_order_mark() -> None:
    text = gimpo_alert(declaration='<?xml version="1.0" encoding="UTF-16"?>')
    assert parse_cap(text.encode("utf-16")).alert.infos[0].sender_name == "기상청"


def test_text_is_refused_only_bytes_are_read() -> None:
    with pytest.raises(TypeError, match="bytes"):
        parse_cap(gimpo_alert())  # type: ignore[arg-type]


def test_the_size_cap_applies_before_parsing() -> None:
    data = gimpo_alert().encode()
    assert parse_cap(data, max_bytes=len(data)).alert.identifier == "KMA-2026-0001"
    with pytest.raises(CapRefused, match=rf"^{len(data) + 1} bytes, more than the {len(data)}"):
        parse_cap(data + b" ", max_bytes=len(data))
    # even bytes that are not XML at all are refused by size first
    with pytest.raises(CapRefused, match="more than"):
        parse_cap(b"\x00" * 2_000_000)


def test_not_xml_is_refused() -> None:
    with pytest.raises(CapRefused, match="not well-formed XML"):
        parse_cap(b"<alert><identifier>x</alert>")


# -- leniencies --------------------------------------------------------------------------------
def test_enum_values_in_another_case_are_accepted_and_noted() -> None:
    data = gimpo_alert(status="actual").replace("<urgency>Immediate", "<urgency>IMMEDIATE")
    parsed = parse_cap(data.encode())
    assert (parsed.alert.status, parsed.alert.infos[0].urgency) == ("Actual", "Immediate")
    assert parsed.leniencies == (
        "alert/status: 'actual' read as 'Actual'",
        "info[0]/urgency: 'IMMEDIATE' read as 'Immediate'",
    )


def test_z_fractions_and_colonless_offsets_are_accepted_and_noted() -> None:
    data = gimpo_alert(sent="2026-07-15T05:00:00.250Z", expires="2026-07-15T20:00:00+0900")
    parsed = parse_cap(data.encode())
    assert parsed.alert.sent == datetime(2026, 7, 15, 5, 0, 0, 250000, tzinfo=UTC)
    assert parsed.alert.infos[0].expires == datetime(2026, 7, 15, 20, tzinfo=KST)
    assert parsed.leniencies == (
        "alert/sent: 'Z' read as -00:00 (UTC); CAP 1.2 wants -00:00",
        "alert/sent: fractional seconds accepted (CAP 1.2 has none)",
        "info[0]/expires: offset without a colon read as +09:00",
    )


def test_minus_zero_offset_is_utc_without_a_note() -> None:
    parsed = parse_cap(gimpo_alert(sent="2026-07-15T05:00:00-00:00").encode())
    assert parsed.alert.sent == datetime(2026, 7, 15, 5, tzinfo=UTC)
    assert parsed.leniencies == ()


def test_spaces_around_commas_unknown_elements_and_missing_scope() -> None:
    ring = JANGGI_WITH_SPACES = "37.63, 126.68 37.64 ,126.68 37.64,126.69 37.63,126.68"
    data = (
        gimpo_alert(area=f"<polygon>{ring}</polygon>")
        .replace("<scope>Public</scope>", "<colour>red</colour>")
        .replace("<senderName>", '<x:extra xmlns:x="urn:example">1</x:extra><senderName>')
    )
    parsed = parse_cap(data.encode())
    assert parsed.alert.scope == "Public"
    assert parsed.alert.infos[0].areas[0].polygons[0][0] == (37.63, 126.68)
    assert set(parsed.leniencies) == {
        "alert/colour: unknown element ignored",
        "alert/scope: missing; read as 'Public'",
        "info[0]/extra: element of urn:example ignored",
        "info[0]/area[0]/polygon[0]: spaces around a comma ignored",
    }
    assert JANGGI_WITH_SPACES


def test_an_alert_without_info_is_accepted() -> None:
    data = gimpo_alert(msg_type="Cancel", references="kma@korea.kr,KMA-1,2026-07-15T13:00:00+09:00")
    start, end = data.index("<info>"), data.index("</info>") + len("</info>")
    alert = parse_cap((data[:start] + data[end:]).encode()).alert
    assert alert.infos == ()
    assert alert.references[0].identifier == "KMA-1"


def test_a_signature_is_kept_as_signed() -> None:
    signature = '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>'
    alert = parse_cap(gimpo_alert(extra_info=signature).encode()).alert
    assert alert.signed
    assert not parse_cap(gimpo_alert().encode()).alert.signed


# -- refused, with the element named --------------------------------------------------------------
@pytest.mark.parametrize(
    ("area", "message"),
    [
        (
            "<polygon>37.63,126.68 37.64,126.68 37.63,126.68</polygon>",
            "info[0]/area[0]/polygon[0]: 3 points, needs at least 4",
        ),
        (
            "<polygon>37.63,126.68 37.64,126.68 37.64,126.69 37.63,126.69</polygon>",
            "info[0]/area[0]/polygon[0]: not closed",
        ),
        (
            "<polygon>126.68,37.63 126.68,37.64 126.69,37.64 126.68,37.63</polygon>",
            "info[0]/area[0]/polygon[0][0]: '126.68,37.63': latitude 126.68 is out of range; "
            "swapped (lon,lat)?",
        ),
        (
            "<polygon>37.63 126.68 37.64 126.68 37.64 126.69 37.63 126.68</polygon>",
            "info[0]/area[0]/polygon[0][0]: '37.63' is not a lat,lon pair",
        ),
        ("<circle>37.63,126.68</circle>", "info[0]/area[0]/circle[0]: '37.63,126.68' is not"),
        ("<circle>126.68,37.63 2</circle>", "info[0]/area[0]/circle[0]: '126.68,37.63': latitude"),
        ("<circle>37.63,126.68 -1</circle>", "info[0]/area[0]/circle[0]: radius -1 km"),
        ("<circle>37.63,126.68 km</circle>", "info[0]/area[0]/circle[0]: radius 'km'"),
        ("<circle>37.63,196.68 1</circle>", "info[0]/area[0]/circle[0]: '37.63,196.68': longitude"),
        ("<ceiling>10</ceiling>", "info[0]/area[0]/ceiling: needs an altitude"),
        (
            "<geocode><valueName>행정구역코드</valueName></geocode>",
            "info[0]/area[0]/geocode[0]/value",
        ),
    ],
)
def test_bad_areas_are_refused_naming_the_element(area: str, message: str) -> None:
    with pytest.raises(CapInvalid) as caught:
        parse_cap(gimpo_alert(area=area).encode())
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("<sent>2026-07-15T14:00:00+09:00", "<sent>2026-07-15T14:00:00"), "alert/sent: "),
        (("<expires>2026-07-15T20:00:00+09:00", "<expires>2026-07-15"), "info[0]/expires: "),
        (("<sent>2026-07-15T14:00:00+09:00", "<sent>2026-02-30T14:00:00+09:00"), "alert/sent:"),
        (("<identifier>KMA-2026-0001", "<identifier>KMA 2026"), "alert/identifier: 'KMA 2026'"),
        (("<sender>kma@korea.kr", "<sender>kma,korea"), "alert/sender: 'kma,korea' contains"),
        (("<status>Actual</status>", ""), "alert/status: is required"),
        (("<msgType>Alert", "<msgType>Warning"), "alert/msgType: 'Warning' is not one of"),
        (("<category>Met</category>", ""), "info[0]/category: is required"),
        (("<category>Met", "<category>Weather"), "info[0]/category[0]: 'Weather' is not one"),
        (("<severity>Severe", "<severity>Bad"), "info[0]/severity: 'Bad' is not one of"),
        (("<event>호우경보</event>", ""), "info[0]/event: is required"),
        (("<scope>Public", "<scope>Restricted"), "alert/restriction: is required when scope"),
        (("<scope>Public", "<scope>Private"), "alert/addresses: is required when scope"),
        (("<msgType>Alert", "<msgType>Update"), "alert/references: is required for a Update"),
        (
            ("<sender>kma@korea.kr</sender>", "<sender>a</sender><sender>b</sender>"),
            "alert/sender: appears 2",
        ),
    ],
)
def test_broken_rules_are_refused_naming_the_element(change: tuple[str, str], message: str) -> None:
    data = gimpo_alert()
    assert change[0] in data
    with pytest.raises(CapInvalid) as caught:
        parse_cap(data.replace(change[0], change[1], 1).encode())
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_time_without_offset_says_so() -> None:
    with pytest.raises(CapInvalid) as caught:
        parse_cap(gimpo_alert(sent="2026-07-15T14:00:00").encode())
    assert caught.value.path == "alert/sent"
    assert caught.value.reason == "'2026-07-15T14:00:00' has no UTC offset (CAP needs e.g. +09:00)"


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ("kma@korea.kr,KMA-1", "alert/references[0]: 'kma@korea.kr,KMA-1' is not sender"),
        ("kma@korea.kr,KMA-1,2026-07-15T13:00:00", "alert/references[0]/sent: "),
        (
            "kma@korea.kr,KMA-1,2026-07-15T13:00:00+09:00 kma,KMA-2",
            "alert/references[1]: 'kma,KMA-2' is not",
        ),
    ],
)
def test_bad_references_are_refused(references: str, message: str) -> None:
    data = gimpo_alert(msg_type="Update", references=references)
    with pytest.raises(CapInvalid) as caught:
        parse_cap(data.encode())
    assert str(caught.value).startswith(message), str(caught.value)


def test_several_references_are_read_in_order() -> None:
    refs = (
        "kma@korea.kr,KMA-1,2026-07-15T13:00:00+09:00 kma@korea.kr,KMA-2,2026-07-15T13:30:00+09:00"
    )
    alert = parse_cap(gimpo_alert(msg_type="Update", references=refs).encode()).alert
    assert [r.identifier for r in alert.references] == ["KMA-1", "KMA-2"]


def test_blanks_around_tokens_are_ignored_and_noted_but_not_around_prose() -> None:
    data = gimpo_alert().replace("<identifier>KMA-2026-0001", "<identifier>\n  KMA-2026-0001 ")
    data = data.replace("<headline>김포시", "<headline>  김포시")
    parsed = parse_cap(data.encode())
    assert parsed.alert.identifier == "KMA-2026-0001"
    assert parsed.alert.infos[0].headline == "김포시 호우경보"
    assert parsed.leniencies == ("alert/identifier: blanks around 'KMA-2026-0001' ignored",)
