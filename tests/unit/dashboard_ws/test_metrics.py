"""Metrics and health read from the hub's and the shell's counters; the modules' examples run."""

from __future__ import annotations

import doctest
import time
from types import ModuleType

import pytest
from prometheus_client import generate_latest

import dashboard_ws.hub
import dashboard_ws.logfmt
import dashboard_ws.metrics
from dashboard_ws.hub import Hub
from dashboard_ws.metrics import ShellStats, gateway_registry
from tests.factories import score_update

A = "4157025000"


@pytest.mark.parametrize("module", [dashboard_ws.hub, dashboard_ws.logfmt, dashboard_ws.metrics])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_registry_reports_the_counters_at_scrape_time() -> None:
    hub = Hub()
    shell = ShellStats(stale_after_s=15.0)
    registry = gateway_registry(hub, shell)
    assert b"riskmon_gateway_consumer_up 0.0" in generate_latest(registry)

    cid = hub.add_client()
    hub.take_snapshot(cid)
    hub.go_live(cid)
    raw = score_update(A, 1, reason="tick").model_dump_json().encode()
    hub.ingest(raw)
    hub.ingest(raw.replace(b'"seq":1', b'"seq":2'))
    hub.ingest(raw)  # stale
    hub.ingest(b"{}")  # invalid
    shell.snapshots_sent, shell.scores_sent = 1, 0
    shell.write_passes, shell.clients_blocked = 5, 2
    shell.consumer_running, shell.last_fetch_at = True, time.monotonic()

    text = generate_latest(registry).decode()
    for line in [
        "riskmon_gateway_clients 1.0",
        "riskmon_gateway_districts 1.0",
        "riskmon_gateway_consumer_up 1.0",
        'riskmon_gateway_messages_sent_total{type="snapshot"} 1.0',
        'riskmon_gateway_updates_consumed_total{outcome="accepted"} 2.0',
        'riskmon_gateway_updates_consumed_total{outcome="stale"} 1.0',
        'riskmon_gateway_updates_consumed_total{outcome="invalid"} 1.0',
        "riskmon_gateway_coalesced_drops_total 1.0",
        "riskmon_gateway_write_passes_total 5.0",
        "riskmon_gateway_clients_blocked 2.0",
    ]:
        assert line in text.splitlines()
