"""The fault suite's short version (``python -m bench.faults --short``), one test per scenario:
nothing lost, nothing counted twice, and the scenario's own checks pass.

Each scenario starts its own servers (embedded broker; PostgreSQL: the machine's or an embedded
one, and an embedded one it may stop where PostgreSQL fails); figures and reasons are in
``bench/faults``. ``make faults`` runs the full sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.faults.__main__ import run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = [
    "worker_kills",
    "fuzz",
    "broker_restart",
    "workers_and_pg_outage",
    pytest.param(
        "sink_and_pg_restart",
        marks=pytest.mark.xfail(
            strict=False,
            reason="the embedded broker (Tansu 0.6.0) sometimes stops answering every client "
            "when the killed sink's successor joins its group (bench/README.md, Fault suite, "
            "finding 7); the scenario then fails its recovery wait",
        ),
    ),
    "slow_clients",
    "rolling_upgrade",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_short_scenario_loses_nothing_and_counts_nothing_twice(name: str, tmp_path: Path) -> None:
    result = run_scenario(name, short=True, base=tmp_path)
    print(json.dumps(result, indent=1, default=str)[:20_000])  # the figures, shown with -rA
    assert "sent" in result, result.get("reason")  # the scenario ran to its figures
    assert result["lost"] == 0, result["reason"]
    assert result["double_counted"] == 0, result["reason"]
    assert result["passed"], result["reason"]
