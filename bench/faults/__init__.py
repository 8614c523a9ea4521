"""The fault suite: riskmon on real servers under crashes, outages, bad input and slow clients.

``python -m bench.faults [scenario ...] [--short] [--out FILE.json]`` runs scenarios and prints one
JSON object like the benchmarks (``bench/README.md``, "Fault suite"). Each scenario starts its own
servers (the embedded Tansu broker, PostgreSQL, ``riskmon worker``/``sink``/``gateway`` child
processes stopped by PID), injects its fault, then checks the published scores against the offline
scorer (:mod:`streams.pipeline.offline`'s steps) at each district's own evaluation time and the
history tables against what was sent.

Modules: :mod:`bench.faults.rig` (servers and processes), :mod:`bench.faults.stream` (the mixed
valid stream and the fuzzed records), :mod:`bench.faults.oracle` (expectations, topic observation,
history and the figures), and one module per scenario (``s1_worker_kills`` ... ``s7_slow_clients``).
"""

from __future__ import annotations

SCENARIOS: dict[str, str] = {
    "worker_kills": "bench.faults.s1_worker_kills",
    "workers_and_pg_outage": "bench.faults.s2_workers_pg_outage",
    "broker_restart": "bench.faults.s3_broker_restart",
    "sink_and_pg_restart": "bench.faults.s4_sink_pg_restart",
    "fuzz": "bench.faults.s5_fuzz",
    "rolling_upgrade": "bench.faults.s6_rolling_upgrade",
    "slow_clients": "bench.faults.s7_slow_clients",
}
"""Scenario name -> module; each module has ``run(short: bool, workdir: Path) -> Result``."""
