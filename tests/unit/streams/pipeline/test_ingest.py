"""ingest(): every input becomes a located event or a dead letter with a readable reason."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import shapely

from indices import ModelParams
from streams.contract import DEAD_LETTER_VALUE_MAX, DeadLetter, LocatedEvent
from streams.contract.deadletters import RawRecord
from streams.pipeline.ingest import Rejected, ingest, ingest_many, json_loads, read_json
from tests.cities import exact_gimpo

CITY = exact_gimpo()
PARAMS = ModelParams(river_stages={"river-1": (3.0, 4.5, 6.0, 7.5)})
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
JANGGI = (37.6385, 126.6791)


def raw(value: object, topic: str = "riskmon.incidents") -> RawRecord:
    data = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return RawRecord(topic, 2, 41, b"k", data)


def incident(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "F-1",
        "source": "gimpo-fire",
        "type": "fire",
        "severity": 3,
        "occurred_at": "2026-11-24T20:55:00+09:00",
        "lat": JANGGI[0],
        "lon": JANGGI[1],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def dead(record: RawRecord, kind: str = "incident") -> DeadLetter:
    out = ingest(record, kind, CITY, PARAMS, NOW)  # type: ignore[arg-type]
    assert isinstance(out, DeadLetter), out
    assert out.value_b64 == base64.b64encode(record.value or b"").decode()
    assert (out.topic, out.partition, out.offset) == (record.topic, 2, 41)
    return out


def test_point_inside_janggi_dong_is_located_with_h3_cell() -> None:
    out = ingest(raw(incident()), "incident", CITY, PARAMS, NOW)
    assert isinstance(out, LocatedEvent)
    assert out.district == "4157056000"
    assert out.h3 is not None
    assert len(out.h3) == 15
    assert out.origin == "riskmon.incidents/2/41"
    assert out.incident is not None
    assert out.incident.id == "F-1"


def test_district_code_alone_is_enough() -> None:
    out = ingest(
        raw(incident(lat=None, lon=None, code="4157025000")), "incident", CITY, PARAMS, NOW
    )
    assert isinstance(out, LocatedEvent)
    assert (out.district, out.h3) == ("4157025000", None)


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (b"{not json", "not_json", "not JSON"),
        (b"\xff\xfe\x00", "not_json", "UTF-8"),
        (None, "not_json", "empty message"),
        ([1, 2], "schema", "expected a JSON object"),
        (incident(severity=9), "schema", "severity"),
        (incident(type="meteor"), "schema", "unknown incident type 'meteor'"),
        (incident(occurred_at="2026-11-24T20:55:00"), "schema", "timezone"),
        (incident(lat=None, lon=None), "schema", "give a location"),
        (incident(lon=None), "schema", "both lat and lon"),
        (incident(extra_field=1), "schema", "extra_field"),
        (incident(lat=37.5665, lon=126.9780), "outside_city", "outside every district"),
        (incident(lat=JANGGI[1], lon=JANGGI[0]), "schema", "lat"),
        (incident(lat=None, lon=None, code="1111000000"), "unknown_district", "1111000000"),
        (incident(code="4157051500"), "schema", "code says 4157051500"),
        # What PostgreSQL cannot store would stop the history sink: refused here.
        (incident(description="smoke\u0000"), "schema", "NUL"),
        (incident(id="F\u00001"), "schema", "NUL"),
        (incident(occurred_at="0001-01-01T00:00:00+09:00"), "schema", "year 1 is outside"),
        (incident(occurred_at="9999-12-31T23:59:59-14:00"), "schema", "year 9999"),
        # RFC 3339 text, and a severity that is an integer, not something that converts to one.
        (incident(occurred_at=1795000000), "schema", "not a number"),
        (incident(severity="3"), "schema", "severity"),
        (incident(severity=True), "schema", "severity"),
        (incident(severity=3.0), "schema", "severity"),
        # Stamped days after it was read (NOW is 21:00 in Seoul).
        (incident(occurred_at="2026-11-27T21:00:00+09:00"), "future", "72.0 h after"),
        (incident(occurred_at="2026-11-24T21:10:00+09:00"), "future", "10 min after"),
    ],
)
def test_bad_input_becomes_a_dead_letter_with_reason(value: object, error: str, words: str) -> None:
    letter = dead(raw(value))
    assert letter.error == error
    assert words in letter.reason


def test_a_little_clock_skew_is_accepted_and_the_limit_is_a_parameter() -> None:
    ahead = raw(incident(occurred_at="2026-11-24T21:04:00+09:00"))  # 4 min after NOW
    assert isinstance(ingest(ahead, "incident", CITY, PARAMS, NOW), LocatedEvent)
    strict = ingest(ahead, "incident", CITY, PARAMS, NOW, max_future=timedelta(seconds=30))
    assert isinstance(strict, DeadLetter)
    assert strict.error == "future"


def test_a_huge_input_keeps_its_first_bytes_and_its_size_in_a_kafka_sized_letter() -> None:
    value = b"{" + b"x" * 900_000  # under Kafka's 1 MB, but base64 would make it 1.2 MB
    letter = ingest(raw(value), "incident", CITY, PARAMS, NOW)
    assert isinstance(letter, DeadLetter)
    assert letter.error == "not_json"
    assert letter.value == value[:DEAD_LETTER_VALUE_MAX]
    assert letter.value_truncated_from == len(value)
    assert len(letter.model_dump_json()) < 400_000
    small = dead(raw(b"{not json"))
    assert small.value_truncated_from is None


def test_swapped_coordinates_suggest_the_fix() -> None:
    letter = dead(raw(incident(lat=37.6385, lon=37.6385)))
    assert letter.error == "outside_city"
    assert "swapped" in letter.reason


def test_river_reading_needs_configured_stages() -> None:
    reading = {
        "sensor_id": "river-x",
        "kind": "river_level_m",
        "value": 3.2,
        "observed_at": "2026-11-24T20:00:00+09:00",
        "code": "4157036000",
    }
    letter = dead(raw(reading, "riskmon.readings"), "reading")
    assert "no flood stages" in letter.reason
    assert "river-1" in letter.reason
    reading["sensor_id"] = "river-1"
    assert isinstance(ingest(raw(reading), "reading", CITY, PARAMS, NOW), LocatedEvent)


@pytest.mark.parametrize(
    "fact",
    [
        {
            "fact": "facility",
            "id": "f1",
            "source": "city",
            "facility_id": "cctv-9",
            "facility": "cctv",
            "action": "added",
            "effective_at": "2026-01-01T00:00:00+09:00",
            "lat": JANGGI[0],
            "lon": JANGGI[1],
        },
        {
            "fact": "inspection",
            "id": "i1",
            "source": "city",
            "structure_id": "bridge-2",
            "grade": "D",
            "effective_at": "2026-01-01T00:00:00+09:00",
            "code": "4157056000",
        },
    ],
)
def test_safety_facts_are_located(fact: dict[str, object]) -> None:
    out = ingest(raw(fact, "riskmon.safety"), "safety", CITY, PARAMS, NOW)
    assert isinstance(out, LocatedEvent)
    assert out.district == "4157056000"
    assert out.safety is not None
    assert out.safety.fact == fact["fact"]


def test_unknown_safety_fact_kind_is_named() -> None:
    letter = dead(raw({"fact": "rumour", "id": "x"}, "riskmon.safety"), "safety")
    assert letter.error == "schema"
    assert "rumour" in letter.reason


KAFKA_MESSAGE_MAX = 1_000_000  # Kafka's default max.message.bytes (about 1 MB)


def test_one_huge_record_in_a_batch_of_200_is_one_bounded_dead_letter() -> None:
    """A 700 KB `type` (and an 800 KB key) among 199 good incidents: 199 located, one dead
    letter that still fits in a Kafka message, its reason and key cut, its size told."""
    batch = [
        RawRecord("riskmon.incidents", 0, n, b"k", json.dumps(incident(id=f"B-{n}")).encode())
        for n in range(200)
    ]
    huge = json.dumps(incident(id="huge", type="x" * 700_000)).encode()
    batch[117] = RawRecord("riskmon.incidents", 0, 117, b"K" * 800_000, huge)
    results = [ingest(r, "incident", CITY, PARAMS, NOW) for r in batch]
    located = [r for r in results if isinstance(r, LocatedEvent)]
    letters = [r for r in results if isinstance(r, DeadLetter)]
    assert len(located) == 199
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.offset, letter.error) == (117, "schema")
    assert len(letter.model_dump_json().encode()) < KAFKA_MESSAGE_MAX
    assert letter.key_truncated_from == 800_000
    assert letter.value_truncated_from == len(huge)
    assert len(letter.reason) <= 2000


@pytest.mark.parametrize(
    ("kind", "value"),
    [("rainfall_mm_1h", -3.0), ("rainfall_mm_1h", 1e308), ("wind_ms", 500.0), ("pm25_ugm3", -1)],
)
def test_implausible_readings_are_dead_letters_with_their_reason(kind: str, value: float) -> None:
    reading = {
        "sensor_id": "s-1",
        "kind": kind,
        "value": value,
        "observed_at": "2026-11-24T20:55:00+09:00",
        "lat": JANGGI[0],
        "lon": JANGGI[1],
    }
    letter = dead(raw(reading, "riskmon.readings"), "reading")
    assert letter.error == "schema"
    assert "not a plausible reading" in letter.reason
    assert kind in letter.reason


def test_a_batch_placed_at_once_gives_the_same_answers_as_one_by_one() -> None:
    """ingest_many (one vectorised point-in-polygon query per batch) == ingest per record, for
    points inside, on shared borders (the smallest code wins), outside the city, codes, and
    records refused before placing."""
    rng = random.Random(5)
    west, south, east, north = CITY.bounds
    border = [
        (lat, lon)
        for code in CITY.codes[:4]
        for lon, lat in shapely.get_coordinates(CITY.districts[code].geometry)[:3].tolist()
    ]
    points = [
        (rng.uniform(south - 0.02, north + 0.02), rng.uniform(west - 0.02, east + 0.02))
        for _ in range(300)
    ] + border
    values: list[object] = [
        incident(id=f"P{n}", lat=lat, lon=lon) for n, (lat, lon) in enumerate(points)
    ]
    values += [
        incident(id="C", lat=None, lon=None, code="4157056000"),
        b"{oops",
        incident(id="late", occurred_at="2027-11-24T20:55:00+09:00"),
        incident(id="both", code="4157025000"),  # the point says 장기동
    ]
    rng.shuffle(values)
    records = [(raw(v), "incident") for v in values]
    batch = ingest_many(records, CITY, PARAMS, NOW)  # type: ignore[arg-type]
    one_by_one = [ingest(r, k, CITY, PARAMS, NOW) for r, k in records]  # type: ignore[arg-type]
    assert batch == one_by_one
    outcomes = {type(o).__name__ for o in batch}
    assert outcomes == {"LocatedEvent", "DeadLetter"}
    assert CITY.locate_many([], []) == []
    assert CITY.locate_many(*zip(*border, strict=True)) == [CITY.locate(a, b) for a, b in border]


def test_json_too_deep_or_with_a_huge_integer_is_not_json_not_an_internal_error() -> None:
    deep = dead(raw(b"[" * 5000 + b"]" * 5000))
    assert (deep.error, "nested too deeply" in deep.reason) == ("not_json", True)
    huge = dead(raw(b'{"severity": ' + b"9" * 5000 + b"}"))
    assert huge.error == "not_json"
    assert "digits" in huge.reason


def test_a_reason_quoting_a_nul_is_escaped_so_postgresql_can_store_it() -> None:
    letter = dead(raw(incident(type="fi\x00re")))
    assert "\x00" not in letter.reason
    assert "\\x00" in letter.reason


JSON_CASES = [
    b'{"a": 1, "b": [2.5, true, null, "\\u00e9\\n"], "c": {"d": -0.0}}',
    '{"name": "하성면"}'.encode(),
    b'{"a": NaN, "b": Infinity}',  # json reads these, orjson does not
    b'{"a": 1e400}',  # json: inf
    b'{"a": 123456789012345678901234567890}',  # orjson: a float
    b'{"a": -9223372036854775809, "b": 18446744073709551616}',
    b'{"id": "1234567890123456789012"}',  # a long digit run in a string: json reads it
    b'\xef\xbb\xbf{"a": 1}',  # a byte-order mark
    b'{"a": "\\ud800"}',  # a lone surrogate
    b'{"a": 1, "a": 2}',
    b'{"a": 5e-324, "b": 2.2250738585072011e-308, "c": 1.0000000000000002}',
    b'"just a string"',
    b'{"a": "\xff"}',  # not UTF-8
    b'{"a": 1',  # cut short
    b"[" * 3000 + b"]" * 3000,  # too deep
    b'{"a": ' + b"9" * 5000 + b"}",  # more digits than json reads
]


@pytest.mark.parametrize("value", JSON_CASES)
def test_the_fast_json_read_gives_what_json_gives_or_json_refuses(value: bytes) -> None:
    def outcome(read: Callable[[bytes], object]) -> tuple[str, str]:
        try:
            data = read(value)
        except Rejected as exc:
            return ("rejected", f"{exc.error}: {exc.reason}")
        # repr tells an int from a float of the same value, and NaN equals itself
        return ("read", repr(data))

    assert outcome(read_json) == outcome(json_loads)
