"""``riskmon publish --check``: every bad line reported with its reason, good ones routed and
keyed like the simulator's, exit codes for scripts. Nothing here talks to a broker."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.cli.publish import (
    EXIT_BAD,
    EXIT_USAGE,
    Problem,
    add_parser,
    check,
    check_files,
    run_publish,
)
from streams.contract import Incident
from streams.settings import Settings, Topics
from streams.simulator.producer import route
from tests.unit.streams.cap.spec_examples import THUNDERSTORM, gimpo_alert

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
INCIDENT = {
    "id": "F-1", "source": "gimpo-fire", "type": "fire", "severity": 3,
    "occurred_at": "2026-11-24T21:05:00+09:00", "lat": 37.6385, "lon": 126.6791,
}  # fmt: skip
READING = {
    "sensor_id": "rain-janggi", "source": "kma-aws", "kind": "rainfall_mm_1h", "value": 42.5,
    "observed_at": "2026-11-24T21:00:00+09:00", "code": "4157056000",
}  # fmt: skip
FACT = {
    "fact": "facility", "id": "fac-1", "source": "gimpo-city", "facility_id": "cctv-0412",
    "facility": "cctv", "action": "added", "effective_at": "2026-11-01T09:00:00+09:00",
    "code": "4157057000",
}  # fmt: skip


def lines(*records: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()


def mixed() -> bytes:
    return lines(
        INCIDENT,  # 1 good
        READING,  # 2 good
        "",  # 3 blank: skipped
        FACT,  # 4 good
        {**INCIDENT, "id": "F-2", "severity": 9},  # 5 severity out of range
        "{not json",  # 6
        {**INCIDENT, "id": "F-3", "type": "alien"},  # 7 unknown type
        {**INCIDENT, "severity": 2},  # 8 duplicate of line 1
        {**INCIDENT, "id": "F-4", "occurred_at": "2026-11-25T21:05:00+09:00"},  # 9 future
        {k: v for k, v in {**INCIDENT, "id": "F-5"}.items() if k not in ("lat", "lon")},  # 10
        {**READING, "value": 900.0},  # 11 implausible rain
        [1, 2],  # 12 not an object
        {**INCIDENT, "id": "F-6", "occurred_at": "2026-11-24T21:05:00"},  # 13 no offset
    )


def test_a_mixed_file_reports_every_bad_line_with_its_reason() -> None:
    report = check("events.jsonl", mixed(), "jsonl", Topics(), now=NOW)
    assert [r.where for r in report.records] == [
        "events.jsonl:1", "events.jsonl:2", "events.jsonl:4",
    ]  # fmt: skip
    found = {p.where.split(":")[1]: p.reason for p in report.problems}
    assert sorted(found, key=int) == ["5", "6", "7", "8", "9", "10", "11", "12", "13"]
    assert found["5"].startswith("severity: Input should be less than or equal to 5")
    assert found["6"].startswith("not JSON: ")
    assert found["7"].startswith("type: Value error, unknown incident type 'alien'")
    assert found["8"] == "duplicate of events.jsonl:1 (same source and id): ignored"
    assert found["9"].startswith("occurred_at 2026-11-25T21:05:00+09:00 is ")
    assert "give a location" in found["10"]
    assert "not a plausible reading" in found["11"]
    assert found["12"] == "expected a JSON object, got list"
    assert found["13"].startswith("occurred_at: ")
    assert report.summary(sent=False) == (
        "12 records: 3 good (riskmon.incidents 1, riskmon.readings 1, riskmon.safety 1), 9 bad"
    )


def test_records_are_routed_and_keyed_like_the_simulator() -> None:
    report = check("e.jsonl", lines(INCIDENT, READING, FACT), "jsonl", Topics(), now=NOW)
    incident = report.records[0]
    assert (incident.topic, incident.key) == route(Incident.model_validate(INCIDENT), Topics())
    assert (report.records[1].topic, report.records[1].key) == ("riskmon.readings", b"rain-janggi")
    assert (report.records[2].topic, report.records[2].key) == ("riskmon.safety", b"cctv-0412")
    assert json.loads(incident.value)["id"] == "F-1"


def test_custom_topic_names_are_used() -> None:
    report = check("e.jsonl", lines(INCIDENT), "jsonl", Topics(incidents="city.incidents"))
    assert report.records[0].topic == "city.incidents"


def test_without_a_clock_future_times_are_not_judged() -> None:
    future = {**INCIDENT, "occurred_at": "2030-01-01T00:00:00+09:00"}
    assert check("e.jsonl", lines(future), "jsonl", Topics()).problems == []
    assert len(check("e.jsonl", lines(future), "jsonl", Topics(), now=NOW).problems) == 1


def test_csv_rows_with_a_header() -> None:
    data = (
        "\ufeffid,source,type,severity,occurred_at,lat,lon,casualties\n"
        "F-1,gimpo-fire,fire,3,2026-11-24T21:05:00+09:00,37.6385,126.6791,\n"
        "F-2,gimpo-fire,fire,three,2026-11-24T21:05:00+09:00,37.6385,126.6791,\n"
        "F-3,gimpo-fire,fire,2,2026-11-24T21:05:00+09:00,37.6385,126.6791,1,extra\n"
        "007,gimpo-police,theft,1,2026-11-24T21:05:00+09:00,,,\n"
    ).encode()
    report = check("events.csv", data, "csv", Topics(), now=NOW)
    assert [r.where for r in report.records] == ["events.csv:2"]
    found = {p.where: p.reason for p in report.problems}
    assert found["events.csv:3"].startswith("severity: Input should be a valid integer")
    assert found["events.csv:4"] == "more cells than the header has names"
    assert "give a location" in found["events.csv:5"]


def test_csv_keeps_numeric_looking_ids_as_text() -> None:
    data = (
        b"id,source,type,severity,occurred_at,code\n"
        b"007,police,theft,1,2026-11-24T21:05:00+09:00,4157056000\n"
    )
    (record,) = check("e.csv", data, "csv", Topics()).records
    assert json.loads(record.value)["id"] == "007"
    assert record.key == b"007"


def test_cap_files_are_checked_and_sent_as_they_are() -> None:
    good = gimpo_alert().encode()
    report = check("kma.xml", good, "cap", Topics())
    (record,) = report.records
    assert (record.topic, record.key, record.value) == (
        "riskmon.cap",
        b"kma@korea.kr,KMA-2026-0001",
        good,
    )
    bad = gimpo_alert(area="<polygon>37.6,126.6 37.7,126.6 37.6,126.6</polygon>").encode()
    report = check("bad.xml", bad, "cap", Topics(), report=report)
    assert report.problems == [
        Problem("bad.xml", "info[0]/area[0]/polygon[0]: 3 points, needs at least 4 (a closed ring)")
    ]
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'
    )
    assert check("evil.xml", hostile, "cap", Topics()).problems == [
        Problem("evil.xml", "DOCTYPE: a DOCTYPE is refused (no DTDs, no entities)")
    ]


def test_files_are_read_by_extension(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines(INCIDENT))
    (tmp_path / "b.csv").write_text(
        "sensor_id,kind,value,observed_at,code\nr1,wind_ms,3,2026-11-24T21:00:00+09:00,4157056000\n"
    )
    (tmp_path / "c.xml").write_bytes(THUNDERSTORM)
    report = check_files(
        [tmp_path / "a.jsonl", tmp_path / "b.csv", tmp_path / "c.xml"], "auto", Topics()
    )
    assert not isinstance(report, str)
    assert report.problems == []
    assert [r.topic for r in report.records] == [
        "riskmon.incidents", "riskmon.readings", "riskmon.cap",
    ]  # fmt: skip


def test_duplicates_are_found_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines(INCIDENT))
    (tmp_path / "b.jsonl").write_bytes(lines(INCIDENT))
    report = check_files([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], "auto", Topics())
    assert not isinstance(report, str)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert [str(p) for p in report.problems] == [
        f"{second}:1: duplicate of {first}:1 (same source and id): ignored"
    ]


def test_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert "unknown format" in str(check_files([tmp_path / "a.txt"], "auto", Topics()))
    assert "cannot read" in str(check_files([tmp_path / "missing.jsonl"], "auto", Topics()))
    assert not isinstance(check_files([tmp_path / "a.txt"], "jsonl", Topics()), str)


def test_not_utf8_is_one_problem() -> None:
    report = check("e.jsonl", "사고".encode("euc-kr"), "jsonl", Topics())
    assert report.problems[0].reason.startswith("not UTF-8")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="riskmon")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_the_command_line() -> None:
    args = parse(["publish", "a.jsonl", "b.xml", "--check", "--format", "csv"])
    assert (args.command, args.files, args.check, args.format) == (
        "publish", [Path("a.jsonl"), Path("b.xml")], True, "csv",
    )  # fmt: skip
    assert parse(["publish", "a.jsonl"]).cap_topic is None  # the settings' topic
    with pytest.raises(SystemExit):
        parse(["publish"])
    with pytest.raises(SystemExit):
        parse(["publish", "a", "--format", "yaml"])


def test_check_mode_exit_codes_and_output(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(mixed())
    out = io.StringIO()
    now = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
    status = run_publish(parse(["publish", str(path), "--check"]), Settings(), out=out, now=now)
    assert status == EXIT_BAD
    text = out.getvalue().splitlines()
    assert len(text) == 10  # nine bad lines and the summary
    assert text[0].startswith(f"{path}:5: severity")
    assert text[-1].endswith(
        "3 good (riskmon.incidents 1, riskmon.readings 1, riskmon.safety 1), 9 bad"
    )
    good = tmp_path / "good.jsonl"
    good.write_bytes(lines(INCIDENT, READING))
    out = io.StringIO()
    assert run_publish(parse(["publish", str(good), "--check"]), Settings(), out=out, now=now) == 0
    assert out.getvalue() == "2 records: 2 good (riskmon.incidents 1, riskmon.readings 1), 0 bad\n"


def test_bad_lines_stop_the_send_without_touching_the_broker(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(mixed())
    out = io.StringIO()
    # no RISKMON_KAFKA_BOOTSTRAP: sending would fail; with bad lines nothing is sent at all
    status = run_publish(parse(["publish", str(path)]), Settings(), out=out, now=NOW)
    assert status == EXIT_BAD
    assert out.getvalue().splitlines()[-1] == "nothing sent: fix the bad lines or pass --skip-bad"


def test_usage_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run_publish(parse(["publish", str(tmp_path / "nope.jsonl")]), Settings())
    assert status == EXIT_USAGE
    assert capsys.readouterr().err.startswith("riskmon publish: ")
    assert timedelta(seconds=Settings().max_future_s) == timedelta(seconds=300)
