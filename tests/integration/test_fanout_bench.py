"""Smoke test of ``gateway_fanout_large`` (``python -m bench --quick --only gateway_fanout_large``):
it runs against real servers (embedded broker, PostgreSQL, a gateway and client processes) and
reports every figure. No timing or memory figure is asserted: targets are the benchmark's
business (bench/README.md). Also: the client processes' shortcut for reading ``scores`` messages
(regular expressions instead of JSON) agrees with the JSON on a message the gateway's hub built.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench import fanout_bench
from bench.fanout_clients import district_seqs
from bench.gateway_bench import score_update
from dashboard_ws.hub import Hub, Outgoing
from streams.contract import ScoreUpdate
from streams.contract.base import read_internal


def test_scores_message_read_without_json_matches_json() -> None:
    hub = Hub()
    names = {"4157056000": "풍무동", "4157025000": 'odd "name" \\ {"district":"x"}'}
    for code, name in names.items():
        hub.offer(read_internal(ScoreUpdate, score_update(code, name, 5)))
    cid = hub.add_client()
    hub.take_snapshot(cid)
    hub.go_live(cid)
    for seq, (code, name) in enumerate(names.items(), start=9):
        hub.offer(read_internal(ScoreUpdate, score_update(code, name, seq)))
    out = hub.pop_next(cid, datetime.now(UTC))
    assert isinstance(out, Outgoing)
    decoded = [(d["district"].encode(), d["seq"]) for d in json.loads(out.text)["districts"]]
    assert district_seqs(out.text.encode()) == decoded
    assert len(decoded) == 2


@pytest.mark.integration
@pytest.mark.slow
def test_quick_run_reports_every_figure() -> None:
    results = fanout_bench.run(quick=True)
    assert set(results) == {f"gateway_fanout_large_{n}_clients" for n in fanout_bench.QUICK.clients}
    for name, result in results.items():
        n = result["clients"]
        assert result["connected"] == n, name
        assert result["gateway_clients_reported"] == n, name
        assert result["updates"] > 0, name
        assert result["final_state_share"] == 1.0, name
        assert result["undelivered_pairs"] == 0, name
        assert result["latency_ms"]["pairs"] == n * result["updates"], name
        for figure in ("p50", "p95", "p99", "max"):
            assert isinstance(result["latency_ms"][figure], float), (name, figure)
        assert 0 < result["exact_seq_share"] <= 1, name
        assert result["verify"]["verified"] > 0, name
        assert result["verify"]["mismatches"] == 0, name
        assert result["frames_per_client_per_s"]["mean"] > 0, name
        assert isinstance(result["rss_per_client_bytes"], int), name
        assert {"gateway", "broker", "bench"} <= set(result["cores"]), name
        assert len([k for k in result["cores"] if k.startswith("clients_")]) == 4, name
        assert len(result["loadavg_before"]) == len(result["loadavg_after"]) == 3, name
        assert isinstance(result["target"], str), name
        assert isinstance(result["met"], bool), name
