"""Smoke test of the index benchmarks (``python -m bench --quick``): they run and report every
figure. No timing is asserted here; speed targets are the benchmarks' business (bench/README.md).
The pipeline benchmark needs servers and is not run by tests."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import INDEX_BENCHES, main, run  # bench/ is importable via pytest's pythonpath
from bench.anomaly_eval import default_corpus


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    data = run(quick=True, only=INDEX_BENCHES)
    parsed: dict[str, object] = json.loads(json.dumps(data))  # JSON-safe all the way down
    return parsed


def results_of(report: dict[str, object]) -> dict[str, dict[str, object]]:
    results = report["results"]
    assert isinstance(results, dict)
    return results


def test_machine_is_described(report: dict[str, object]) -> None:
    machine = report["machine"]
    assert isinstance(machine, dict)
    assert {"cpu_count", "python", "numpy", "platform"} <= set(machine)
    assert report["quick"] is True


def test_every_index_benchmark_reports_target_and_met(report: dict[str, object]) -> None:
    results = results_of(report)
    assert set(results) == {
        "indices_incremental",
        "indices_batch_1_district",
        "indices_batch_14_districts",
        "indices_memory",
    }
    for name, result in results.items():
        assert "target" in result, name
        assert "met" in result, name
        if result["target"] is None:
            assert result["met"] is None, name
        else:
            assert isinstance(result["met"], bool), name


def test_incremental_figures(report: dict[str, object]) -> None:
    result = results_of(report)["indices_incremental"]
    assert result["target"] == {"apply_per_s": 200_000}
    for figure in ("apply_per_s", "evaluate_per_s_grown_state", "evaluate_per_s_month_state"):
        value = result[figure]
        assert isinstance(value, int)
        assert value > 0, figure
    outcomes = result["outcomes"]
    assert isinstance(outcomes, dict)
    assert sum(outcomes.values()) == result["events"]
    assert outcomes["duplicate"] > 0  # the mix has redeliveries
    assert "conflict" not in outcomes  # redeliveries are equal copies


def test_batch_figures(report: dict[str, object]) -> None:
    results = results_of(report)
    for name, districts in (("indices_batch_1_district", 1), ("indices_batch_14_districts", 14)):
        result = results[name]
        assert result["districts"] == districts
        assert result["target"] == {"events_per_s": 2_000_000}
        events_per_s = result["events_per_s"]
        assert isinstance(events_per_s, int)
        assert events_per_s > 0


def test_memory_figures(report: dict[str, object]) -> None:
    result = results_of(report)["indices_memory"]
    held = result["held"]
    assert isinstance(held, dict)
    assert held["readings"] == 30  # newest reading per sensor only
    assert held["facts"] == 1000
    state_bytes, json_bytes = result["state_bytes"], result["to_dict_json_bytes"]
    assert isinstance(state_bytes, int)
    assert isinstance(json_bytes, int)
    assert state_bytes > 0
    assert json_bytes > 0


def test_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--quick", "--only", "indices_memory"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert set(data) == {"machine", "quick", "results"}
    assert set(data["results"]) == {"indices_memory"}


@pytest.mark.skipif(
    not (default_corpus() / "labels.json").exists(), reason="the anomaly-dev corpus is not here"
)
def test_anomaly_bench_reports_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--quick", "--only", "anomaly"])
    result = json.loads(capsys.readouterr().out)["results"]["anomaly_dev"]
    for name in ("riskmon", "windowed_gaussian", "legacy"):
        assert set(result[name]) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert result["series"] == 20
    assert result["met"] is None  # a subset: the target is for the whole corpus
