"""``riskmon whatif`` offline: the simulator's register as baseline, an agency's facts on top,
the ranking the index model gives, and refusals with exit status 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indices import AddFacilities, rank_districts
from streams.cli.main import main
from streams.cli.whatif import register_states
from streams.simulator.safety import PER_10K
from tests.cities import exact_gimpo_config, gimpo_city_toml

AT = "2026-12-01T09:00:00+09:00"
WOLGOT = "4157035000"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["whatif", *args])
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def test_the_register_baseline_holds_the_simulators_facilities() -> None:
    config = exact_gimpo_config()
    states = register_states(config, 7, datetime(2026, 12, 1, tzinfo=UTC))
    residents = config.city.districts[WOLGOT].population / 10_000
    expected = sum(round(per * residents) for per in PER_10K.values())
    facts = states[WOLGOT].sizes()["facts"]
    assert expected < facts < expected + 30  # plus fire stations, police boxes and structures
    again = register_states(config, 7, datetime(2027, 1, 1, tzinfo=UTC))
    assert again[WOLGOT].evaluate(
        config.city.model_districts()[WOLGOT], config.params, 0.0
    ) == states[WOLGOT].evaluate(config.city.model_districts()[WOLGOT], config.params, 0.0)


def test_json_ranking_is_rank_districts_on_the_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    city = gimpo_city_toml(tmp_path)
    status, out, err = run(capsys, "--city", str(city), "--change", "cctv", "--count", "2",
                           "--at", AT, "--json")  # fmt: skip
    assert status == 0, err
    answer = json.loads(out)
    config = exact_gimpo_config()
    at = datetime.fromisoformat(AT)
    states = register_states(config, 7, at)
    ranked = rank_districts(
        [config.city.model_districts()[c] for c in config.city.codes], states, config.params,
        AddFacilities("cctv", 2), at.timestamp(),
    )  # fmt: skip
    assert [d["district"] for d in answer["districts"]] == [r.district for r in ranked]
    assert [d["risk_reduction"] for d in answer["districts"]] == [r.risk_reduction for r in ranked]
    assert answer["basis"]["source"] == "baseline"
    assert "seed 7" in answer["basis"]["detail"]
    status, table, _ = run(capsys, "--city", str(city), "--change", "cctv", "--at", AT)
    assert status == 0
    assert "model riskmon-index/" in table
    assert len([line for line in table.splitlines() if "41570" in line]) == 14


def test_events_on_an_empty_city_and_refusals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    city = str(gimpo_city_toml(tmp_path))
    events = tmp_path / "facts.jsonl"
    fact = {
        "fact": "inspection", "id": "i-1", "source": "gimpo-fms", "structure_id": "bridge-1",
        "grade": "E", "effective_at": "2026-11-30T09:00:00+09:00", "code": WOLGOT,
    }  # fmt: skip
    events.write_text(json.dumps(fact) + "\nnot json\n")
    status, out, err = run(capsys, "--city", city, "--change", "inspection", "--structure",
                           "bridge-1", "--baseline", "empty", "--events", str(events),
                           "--at", AT, "--json")  # fmt: skip
    assert status == 0, err
    assert ":2: skipped" in err
    answer = json.loads(out)
    assert [d["district"] for d in answer["districts"]] == [WOLGOT]
    assert answer["basis"]["detail"] == "empty: no safety facts, then 1 events of facts.jsonl"
    for args in (
        ("--change", "inspection", "--structure", "no-such-bridge"),
        ("--change", "cctv", "--count", "0"),
        ("--change", "cctv", "--from-db", "--baseline", "empty"),
        ("--change", "cctv", "--district", "0000000000"),
    ):
        status, _, err = run(capsys, "--city", city, "--at", AT, *args)
        assert status == 2, args
        assert err.startswith("riskmon whatif: "), err
