"""Smoke test of ``load_latency`` (``python -m bench.load_bench --quick``): incidents at a paced
rate through real servers (embedded broker, PostgreSQL, a worker, a gateway and client processes)
to websocket clients, and every figure reported. No timing is asserted: targets are the
benchmark's business (bench/README.md); only that every client ends with every district's final
state. Also: the client processes' ``bytes.find`` reading of ``scores`` messages agrees with the
JSON on a message the gateway's hub built, drivers carried from missed updates included.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bench import load_bench
from bench.fanout_clients import district_seqs, district_seqs_find
from bench.gateway_bench import score_update
from dashboard_ws.hub import Hub, Outgoing
from streams.contract import ScoreUpdate
from streams.contract.base import read_internal


def test_scores_message_read_with_find_matches_json() -> None:
    hub = Hub()
    names = {"4157056000": "풍무동", "4157025000": 'odd "name" \\ {"district":"x"} ,"seq":1'}
    for code, name in names.items():
        hub.offer(read_internal(ScoreUpdate, score_update(code, name, 5)))
    cid = hub.add_client()
    hub.take_snapshot(cid)
    hub.go_live(cid)
    for seq in (9, 10, 11):  # the client misses 9 and 10: their drivers are carried into 11
        for code, name in names.items():
            hub.offer(read_internal(ScoreUpdate, score_update(code, name, seq)))
    out = hub.pop_next(cid, datetime.now(UTC))
    assert isinstance(out, Outgoing)
    message = json.loads(out.text)
    decoded = [(d["district"].encode(), d["seq"]) for d in message["districts"]]
    assert len(message["districts"][0]["drivers"]) > 3  # carried drivers are in the frame
    assert district_seqs_find(out.text.encode()) == decoded == district_seqs(out.text.encode())
    assert decoded == [(b"4157025000", 11), (b"4157056000", 11)]


@pytest.mark.integration
@pytest.mark.slow
def test_quick_run_reports_every_figure() -> None:
    # The clients offer compression as browsers do (the fan-out bench's clients do not): the
    # gateway's shared compressed frames go end to end, inflated and checked by every client.
    sizes = replace(load_bench.QUICK, deflate=True)
    results = load_bench.run(quick=True, sizes=sizes)
    assert set(results) == {"load_latency"}
    result = results["load_latency"]
    n = sizes.clients
    incidents = round(sizes.rate_per_s * sizes.duration_s)
    assert result["connected"] == n
    assert result["gateway_clients_reported"] == n
    assert result["incidents_produced"] == incidents
    assert result["produce_failures"] == {}
    assert result["incidents_located"] == result["incidents_produced"]
    assert result["final_state_share"] == 1.0
    assert result["districts_final_seq"] == 14
    assert result["latency_ms"]["pairs"] == result["pairs_expected"] == n * incidents
    for part in ("latency_ms", "scores_topic_to_client_ms"):
        for figure in ("p50", "p95", "p99", "max"):
            assert isinstance(result[part][figure], float), (part, figure)
    for figure in ("p50", "p95", "p99"):
        assert isinstance(result["latency_delivered_ms"][figure], float), figure
    for figure in ("p50", "p95", "p99", "max"):
        assert isinstance(result["scores_topic_ms"][figure], float), figure
        assert isinstance(result["produce_lateness_ms"][figure], float), figure
    assert 0 <= result["undelivered_share"] <= 1
    assert 0 < result["exact_seq_share"] <= 1
    assert isinstance(result["produce_rate_per_s"], float)
    assert result["verify"]["verified"] > 0
    assert result["verify"]["mismatches"] == 0
    assert result["seq_not_increasing"] == 0
    assert result["frames_per_client_per_s"]["mean"] > 0
    assert result["clients_offer_deflate"] is True
    assert result["clients_inflating"] == n
    assert 0 < result["frame_kib_wire_mean"] < result["frame_kib_mean"]
    checked = result["driver_check"]
    assert checked["named_first_in_covering_update"] == checked["named_as_driver"] > 0
    worker = result["worker"]
    assert worker["incidents_covered"] + worker["incidents_unscored"] == incidents
    assert isinstance(worker["scored_per_s_while_producing"], float)
    assert isinstance(worker["kept_up"], bool)
    assert worker["backlog_incidents_per_s"]
    assert worker["counted"]['riskmon_ingested_total{kind="incident"}'] > 0
    assert worker["score_updates_by_reason"].get("events", 0) > 0
    assert result["gateway"]["counted"]
    assert isinstance(result["gateway"]["rss_connected_mib"], float)
    cores = result["cores"]
    assert {"gateway", "worker", "broker", "bench"} <= set(cores)
    assert len([k for k in cores if k.startswith("clients_")]) == 4
    assert isinstance(result["machine_cores_busy"], float)
    for load in ("loadavg_before", "loadavg_after", "loadavg_at_start"):
        assert len(result[load]) == 3, load
    assert set(result["checks"]) >= {"latency_p50", "latency_p99", "final_state_every_client"}
    assert isinstance(result["target"], str)
    assert isinstance(result["met"], bool)
