"""``riskmon detect`` offline: input formats, header, naive times, bad rows, output columns, and
that the scores are exactly the worker's detector."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indices.detect import DetectorParams, DetectorState
from streams.cli import detect as detect_cli
from streams.cli.detect import (
    BadInput,
    add_arguments,
    parse_time,
    read_points,
    run_detect,
    run_from_args,
)

T0 = 1_795_000_000.0
PARAMS = DetectorParams()


def points(n: int = 400) -> tuple[list[float], list[float]]:
    """Every 30 s a flat value with small noise, and a jump of 3 for the last 20 points."""
    rng = np.random.default_rng(5)
    ts = [T0 + 30.0 * i for i in range(n)]
    xs = (2.0 + 0.05 * rng.standard_normal(n) + np.where(np.arange(n) >= n - 20, 3.0, 0.0)).round(4)
    return ts, xs.tolist()


def iso(t: float, *, naive: bool = False) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    return moment.replace(tzinfo=None).isoformat() if naive else moment.isoformat()


def write(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text(("timestamp,value\n" if header else "") + "".join(f"{r}\n" for r in rows))
    return path


def output_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()]


def expected_scores(ts: list[float], xs: list[float]) -> list[str]:
    state = DetectorState()
    return [f"{state.update(t, x, PARAMS).score:.6f}" for t, x in zip(ts, xs, strict=True)]


def test_iso_input_gives_the_worker_detector_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ts, xs = points()
    source = write(tmp_path / "in.csv", [f"{iso(t)},{x}" for t, x in zip(ts, xs, strict=True)])
    target = tmp_path / "out.csv"
    assert run_detect(source, target, PARAMS) == 0
    rows = output_rows(target)
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == len(ts) + 1
    assert all(len(row) == 3 for row in rows)
    assert [row[0] for row in rows[1:]] == [iso(t) for t in ts]  # text as read
    assert [row[1] for row in rows[1:]] == [str(x) for x in xs]
    assert [row[2] for row in rows[1:]] == expected_scores(ts, xs)
    scores = [float(row[2]) for row in rows[1:]]
    assert max(scores[:-20]) < 0.5 < max(scores[-20:])  # the jump, and only the jump
    err = capsys.readouterr().err
    assert "400 rows, 1 alarms (both)" in err
    assert "stepped back" not in err


def test_epoch_without_header_equals_iso_with_header(tmp_path: Path) -> None:
    ts, xs = points()
    pairs = list(zip(ts, xs, strict=True))
    epoch = write(tmp_path / "e.csv", [f"{t:.1f},{x}" for t, x in pairs], header=False)
    aware = write(tmp_path / "a.csv", [f"{iso(t)},{x}" for t, x in pairs])
    assert run_detect(epoch, tmp_path / "e.out", PARAMS) == 0
    assert run_detect(aware, tmp_path / "a.out", PARAMS) == 0
    e_rows, a_rows = output_rows(tmp_path / "e.out"), output_rows(tmp_path / "a.out")
    assert [row[0] for row in e_rows[1:]] == [f"{t:.1f}" for t in ts]
    assert [row[2] for row in e_rows] == [row[2] for row in a_rows]


def test_naive_times_are_utc_and_offsets_are_honoured(tmp_path: Path) -> None:
    ts, xs = points()
    pairs = list(zip(ts, xs, strict=True))
    naive = write(tmp_path / "n.csv", [f"{iso(t, naive=True)},{x}" for t, x in pairs])
    assert read_points(naive)[2] == ts
    assert parse_time("2026-11-24T21:00:00+09:00") == parse_time("2026-11-24T12:00:00")
    assert parse_time("2026-11-24T12:00:00Z") == parse_time("2026-11-24 12:00:00")
    assert parse_time("2026-11-24T12:00:00.250") == 1_795_521_600.25


def test_blank_lines_and_crlf_are_fine_and_empty_input_gives_a_header(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"timestamp,value\r\n\r\n1795000000,1.0\r\n1795000005,1.5\r\n\r\n")
    assert read_points(source)[2] == [T0, T0 + 5.0]
    empty = write(tmp_path / "empty.csv", [], header=True)
    assert run_detect(empty, tmp_path / "out.csv", PARAMS) == 0
    assert (tmp_path / "out.csv").read_text() == "timestamp,value,anomaly_score\n"


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        (["2026-11-24T12:00:00Z,1.0", "yesterday,2.0"], 3, "not a time"),
        (["1795000000,1.0", "1795000005,high"], 3, "not a number"),
        (["1795000000,1.0", "1795000005,nan"], 3, "not a finite number"),
        (["1795000000,1.0", "1795000005"], 3, "expected 2 fields"),
        (["1795000000,1.0", "1795000005,1.0,x"], 3, "expected 2 fields"),
        (["garbage,1.0"], 2, "not a time"),
    ],
)
def test_a_bad_row_exits_2_naming_its_line_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[str],
    line: int,
    reason: str,
) -> None:
    source = write(tmp_path / "in.csv", rows)
    target = tmp_path / "out.csv"
    assert run_detect(source, target, PARAMS) == 2
    err = capsys.readouterr().err
    assert f"riskmon detect: {source}:{line}: " in err
    assert reason in err
    assert not target.exists()
    with pytest.raises(BadInput) as caught:
        read_points(source)
    assert caught.value.line == line


def test_a_time_that_steps_back_is_scored_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ts, xs = points()
    ts[200] = ts[150]  # a clock glitch: 50 rows back
    source = write(tmp_path / "in.csv", [f"{iso(t)},{x}" for t, x in zip(ts, xs, strict=True)])
    target = tmp_path / "out.csv"
    assert run_detect(source, target, PARAMS) == 0
    rows = output_rows(target)
    assert len(rows) == len(ts) + 1
    assert rows[201][0] == iso(ts[150])  # written as read
    assert [row[2] for row in rows[1:]] == expected_scores(ts, xs)  # the worker's scores
    assert "1 times stepped back (scored at the newest time seen)" in capsys.readouterr().err
    assert read_points(source)[4] == 1


def test_out_of_order_fail_refuses_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.csv", ["1795000005,1.0", "1795000000,1.0"])
    target = tmp_path / "out.csv"
    assert run_detect(source, target, PARAMS, out_of_order="fail") == 2
    assert f"{source}:3: time 1795000000 is earlier than a row before" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.parametrize(("direction", "alarms"), [("up", 1), ("down", 0), ("both", 1)])
def test_direction_is_honoured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], direction: str, alarms: int
) -> None:
    ts, xs = points()  # the jump is a rise
    source = write(tmp_path / "in.csv", [f"{t},{x}" for t, x in zip(ts, xs, strict=True)])
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path)
    parser.add_argument("--output", type=Path)
    add_arguments(parser)
    args = parser.parse_args(
        ["--input", str(source), "--output", str(tmp_path / "o.csv"), "--direction", direction]
    )
    assert run_from_args(args) == 0
    assert f"400 rows, {alarms} alarms ({direction})" in capsys.readouterr().err
    scores = [float(row[2]) for row in output_rows(tmp_path / "o.csv")[1:]]
    assert (max(scores[-20:]) > 0.5) is (direction != "down")


def test_long_files_report_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detect_cli, "PROGRESS_ROWS", 100)
    ts, xs = points()
    source = write(tmp_path / "in.csv", [f"{t},{x}" for t, x in zip(ts, xs, strict=True)])
    assert run_detect(source, tmp_path / "out.csv", PARAMS) == 0
    err = capsys.readouterr().err
    assert "300 rows read" in err
    assert "read 400 rows; scoring" in err


def test_a_bad_first_row_is_not_taken_for_a_header(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", ["garbage,1.0"], header=False)
    with pytest.raises(BadInput, match="line 1: not a time"):
        read_points(source)


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_detect(tmp_path / "absent.csv", tmp_path / "out.csv", PARAMS) == 2
    assert "absent.csv" in capsys.readouterr().err
