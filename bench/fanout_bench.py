"""``gateway_fanout_large``: one gateway fanning score updates out to 1,000, 2,000 and 5,000
websocket clients (issue 18).

The embedded Tansu broker, a fresh PostgreSQL database (the accounts: the clients log in with a
bearer token) and, for each client count N, a fresh ``riskmon gateway`` child process with its
connection limits (per gateway and per user) raised to the run's largest N. The clients run in
``processes`` child processes of their own (:mod:`bench.fanout_clients`, N / processes clients
each): one Python process cannot take the frames of thousands of clients fast enough. For each N:

1. the gateway's RSS (psutil) once it serves every district; the clients connect (connect time:
   first handshake to last snapshot, over every process); its RSS with N connected. Memory per
   client = the difference / N.
2. ``rate_per_s`` score updates a second of realistic size (:func:`bench.gateway_bench.
   score_update`) for ``duration_s``, round-robin over the districts, their produce times
   (``time.monotonic``) kept by (district, seq); then ``settle_s`` for stragglers.
3. Each client process matches what its clients received against what was produced.

Latency of one (client, produced update) pair: from the produce time to the arrival of the first
frame carrying that district at the update's seq *or a newer one*. The gateway coalesces: a
client gets at most one ``scores`` message per ``RISKMON_WS_COALESCE_MS`` with the newest state
of each district changed since its previous one, so an update superseded within that time is
delivered by the frame that carries its successor; its latency is that frame's arrival. The
share of pairs whose own seq arrived is ``exact_seq_share``. ``final_state_share`` is the share
of the N clients that end with every district's last produced state (must be 1.0).

Reported besides: frames per client per second while producing, updates per frame, the cores
each process used while producing (gateway, broker, every client process, this process) and
while connecting, the machine's busy cores (everyone's, other users' work included) and its load
average before and after, and the gateway's own counters (``/metrics``, as an admin).

Targets (issue 18, stated for 5,000 clients; ``checks`` and ``met`` apply them at every N): RSS
per client ≤ 20 KB (20,000 bytes), latency p99 ≤ 250 ms, every client with the final state of
every district, no client refused or dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
from aiokafka import AIOKafkaProducer

from bench import Result, progress
from bench.gateway_bench import (
    _seed,
    _wait_gateway,
    add_users,
    bearer_headers,
    gateway_settings,
    score_update,
    start_gateway,
)
from bench.gateway_limits_bench import RssSampler
from bench.rig import CpuMeter, postgres_database, raise_open_files
from streams.city.config import load_city_config
from streams.ops.embedded import EmbeddedBroker, free_port, stop_process
from streams.ops.topics import create_topics
from streams.settings import Settings

__all__ = ["FULL", "QUICK", "Sizes", "run"]

KIB = 1024
MIB = 1024 * KIB
RSS_PER_CLIENT_TARGET_BYTES = 20_000  # "≤ 20 KB each"
P99_TARGET_MS = 250.0
TARGET_CLIENTS = 5000
HIST_PER_MS = 10  # the client processes' latency histogram: buckets of 0.1 ms
CLIENTS_SCRIPT = Path(__file__).with_name("fanout_clients.py")
TOKEN_ENV = "RISKMON_BENCH_TOKEN"


@dataclass(frozen=True)
class Sizes:
    clients: tuple[int, ...]  # client counts, one phase (and one fresh gateway) each
    processes: int  # client processes
    duration_s: float  # of producing
    rate_per_s: float  # score updates produced per second
    settle_s: float  # wait after the last update for stragglers


FULL = Sizes(
    clients=(1000, 2000, 5000), processes=4, duration_s=20.0, rate_per_s=30.0, settle_s=5.0
)
QUICK = Sizes(clients=(100, 200), processes=4, duration_s=5.0, rate_per_s=30.0, settle_s=2.0)


# --- the client processes --------------------------------------------------------------------


@dataclass
class ClientProcesses:
    """The client child processes of one phase; stopped by their PIDs."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self,
        port: int,
        counts: Sequence[int],
        token: str,
        log_path: Path,
        extra: Sequence[str] = (),
    ) -> None:
        """One client process per entry of ``counts``; ``extra``: more options of
        :mod:`bench.fanout_clients`."""
        env = dict(os.environ)
        env[TOKEN_ENV] = token
        with log_path.open("ab") as log:
            for count in counts:
                self.procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(CLIENTS_SCRIPT),
                            "--port",
                            str(port),
                            "--clients",
                            str(count),
                            *extra,
                        ],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log,
                        env=env,
                    )
                )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def read_all(self, timeout_s: float) -> list[dict[str, Any]]:
        """One JSON line from every process (within ``timeout_s`` in all)."""
        async with asyncio.timeout(timeout_s):
            return list(await asyncio.gather(*(self._read(p) for p in self.procs)))

    async def _read(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            raise RuntimeError(f"client process {proc.pid} exited with {proc.wait()}")
        data: dict[str, Any] = json.loads(line)
        return data

    def tell_all(self, command: dict[str, object]) -> None:
        line = (json.dumps(command) + "\n").encode()
        for proc in self.procs:
            stdin: IO[bytes] | None = proc.stdin
            assert stdin is not None
            stdin.write(line)
            stdin.flush()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # end of stdin: a process still waiting exits
        for proc in self.procs:
            stop_process(proc, timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()


def split(n: int, parts: int) -> list[int]:
    """``n`` clients over at most ``parts`` processes, as evenly as possible.

    >>> split(5000, 4), split(10, 4), split(2, 4)
    ([1250, 1250, 1250, 1250], [3, 3, 2, 2], [1, 1])
    """
    parts = max(1, min(parts, n))
    return [n // parts + (i < n % parts) for i in range(parts)]


# --- the gateway -----------------------------------------------------------------------------


def _http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as answer:
        return int(answer.code), answer.read()


async def _wait_ready(base: str, districts: int, gateway: subprocess.Popen[bytes]) -> None:
    """Every district served and the scores backlog read (``/readyz`` 200)."""
    await _wait_gateway(base, districts, gateway)
    deadline = time.monotonic() + 60
    while (await asyncio.to_thread(_http_get, f"{base}/readyz"))[0] != 200:
        if gateway.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not become ready within 60 s")
        await asyncio.sleep(0.2)


COUNTED = (
    "riskmon_gateway_messages_sent",
    "riskmon_gateway_score_updates_sent",
    "riskmon_gateway_scores_built",
    "riskmon_gateway_refused",
    "riskmon_gateway_updates_consumed",
    "riskmon_gateway_socket_writes",
    "riskmon_gateway_write_passes",
)


async def _counters(base: str, admin: dict[str, str]) -> dict[str, float]:
    """The gateway's counters of what it sent, built, refused and consumed (``/metrics``)."""
    status, body = await asyncio.to_thread(_http_get, f"{base}/metrics", admin)
    if status != 200:
        return {}
    found: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(COUNTED) and not name.startswith("#") and "_created" not in name:
            found[name] = float(value)
    return found


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- one phase -------------------------------------------------------------------------------


@dataclass
class Rig:
    settings: Settings
    broker_pid: int
    token: str  # the clients' bearer token
    admin: dict[str, str]  # handshake headers of an admin (reads /metrics)
    workdir: Path
    sizes: Sizes
    seq: int = 2  # next seq to produce; the seeded updates have seq 1


async def _produce(rig: Rig, codes: Sequence[str]) -> list[tuple[str, int, float]]:
    """``rate_per_s`` updates a second for ``duration_s``; (district, seq, produce time) each."""
    city = load_city_config().city
    sizes, settings = rig.sizes, rig.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_bootstrap(), linger_ms=0)
    await producer.start()
    sent: list[tuple[str, int, float]] = []
    try:
        started = time.monotonic()
        for i in range(round(sizes.duration_s * sizes.rate_per_s)):
            code = codes[i % len(codes)]
            seq = rig.seq
            rig.seq += 1
            await asyncio.sleep(max(0.0, started + i / sizes.rate_per_s - time.monotonic()))
            value = score_update(code, city.districts[code].name_ko, seq)
            sent.append((code, seq, time.monotonic()))
            await producer.send(settings.topics.scores, value, key=code.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _phase(rig: Rig, n: int) -> Result:
    """A fresh gateway, ``n`` clients over the client processes, the update storm, figures."""
    sizes = rig.sizes
    settings = rig.settings.model_copy(update={"gateway_port": free_port()})
    port = settings.gateway_port
    base = f"http://127.0.0.1:{port}"
    codes = sorted(load_city_config().city.codes)
    log_path = rig.workdir / f"gateway-{n}.log"
    gateway = await asyncio.to_thread(start_gateway, settings, log_path)
    clients = ClientProcesses()
    label = f"gateway_fanout_large {n}"
    try:
        await _wait_ready(base, len(codes), gateway)
        await asyncio.sleep(2.0)
        sampler = RssSampler(gateway.pid)
        rss_before = sampler.now()
        load_before = _loadavg()
        counts = split(n, sizes.processes)
        progress(
            f"{label}: gateway RSS {rss_before / MIB:.1f} MiB; connecting {n} clients "
            f"({len(counts)} processes); load {load_before}"
        )
        clients.start(port, counts, rig.token, rig.workdir / f"clients-{n}.log")
        pids = {"gateway": gateway.pid, "broker": rig.broker_pid}
        pids.update({f"clients_{i + 1}": pid for i, pid in enumerate(clients.pids)})
        connect_cpu = CpuMeter(dict(pids))
        connect_cpu.start()
        hello = await clients.read_all(60 + n / 20)
        connect_cores = connect_cpu.shares()
        connected = sum(int(h["clients"]) for h in hello)
        client_loop = ",".join(sorted({str(h.get("loop", "asyncio")) for h in hello}))
        failures: Counter[str] = Counter()
        for h in hello:
            failures.update(h["failures"])
        lives = [float(h["last_live"]) for h in hello if h["clients"]]
        connect_s = max(lives) - min(float(h["first_start"]) for h in hello) if lives else None
        await asyncio.sleep(2.0)
        rss_connected = sampler.now()
        status, body = await asyncio.to_thread(_http_get, f"{base}/healthz")
        gateway_clients = json.loads(body).get("clients") if status == 200 else None
        client_rss = sum(psutil.Process(pid).memory_info().rss for pid in clients.pids)
        gateway_files = _fd_limit(gateway.pid)
        progress(
            f"{label}: {connected} connected in {connect_s or 0:.1f} s "
            f"(failures {dict(failures)}); gateway RSS {rss_connected / MIB:.1f} MiB"
        )

        counted_before = await _counters(base, rig.admin)
        cpu = CpuMeter(dict(pids))
        sampler.start()
        psutil.cpu_percent()  # machine-wide, from here
        cpu.start()
        sent = await _produce(rig, codes)
        cores = cpu.shares()
        machine_busy = psutil.cpu_percent() / 100 * (os.cpu_count() or 1)
        t0, t_last = sent[0][2], sent[-1][2]
        await asyncio.sleep(sizes.settle_s)
        load_after = _loadavg()
        rss_after = sampler.now()
        rss_peak = await sampler.stop()
        counted_after = await _counters(base, rig.admin)

        sent_path = rig.workdir / f"sent-{n}.json"
        sent_path.write_text(json.dumps(sent))
        clients.tell_all({"sent": str(sent_path), "t0": t0, "t_last": t_last})
        results = await clients.read_all(300)
    except BaseException:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        progress(f"{label}: failed; gateway log tail:\n{tail}")
        raise
    finally:
        clients.stop()
        stop_process(gateway, timeout=15)
    counted = {
        k: v - counted_before.get(k, 0.0)
        for k, v in counted_after.items()
        if v - counted_before.get(k, 0.0)
    }
    result = _figures(
        n,
        sizes,
        sent=sent,
        results=results,
        connected=connected,
        failures=failures,
        rss=(rss_before, rss_connected, rss_peak, rss_after),
    )
    result.update(
        {
            "connect_s": None if connect_s is None else round(connect_s, 2),
            "client_loop": client_loop,
            "gateway_clients_reported": gateway_clients,
            "client_processes_rss_mib": round(client_rss / MIB, 1),
            "cores": cores,
            "cores_clients_total": round(
                sum(v or 0.0 for k, v in cores.items() if k.startswith("clients_")), 2
            ),
            "cores_ours_total": round(sum(v or 0.0 for v in cores.values()), 2),
            "machine_cores_busy": round(machine_busy, 2),
            "connect_cores": connect_cores,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "gateway_counted": counted,
            "gateway_open_files_limit": gateway_files,
        }
    )
    latency = result["latency_ms"]
    progress(
        f"{label}: p50/p99 {latency.get('p50')}/{latency.get('p99')} ms, "
        f"final state {result['final_state_share']}, "
        f"{result['rss_per_client_bytes']} B/client, gateway {cores.get('gateway')} cores"
    )
    return result


def _fd_limit(pid: int) -> int | None:
    with contextlib.suppress(psutil.Error, AttributeError):
        return int(psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)[0])
    return None


def _percentiles(histogram: Counter[int], undelivered: int) -> dict[str, float | None]:
    """p50/p95/p99 from 0.1 ms buckets (each bucket's lower edge); an undelivered pair ranks
    above every delivered one, and a percentile that falls among them is None."""
    total = sum(histogram.values()) + undelivered
    out: dict[str, float | None] = {}
    if not total:
        return out
    ordered = sorted(histogram.items())
    for name, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0)):
        rank = min(total - 1, int(q / 100 * total))
        out[name] = None
        seen = 0
        for bucket, count in ordered:
            seen += count
            if seen > rank:
                out[name] = round(bucket / HIST_PER_MS, 1)
                break
    return out


def _figures(
    n: int,
    sizes: Sizes,
    *,
    sent: Sequence[tuple[str, int, float]],
    results: Sequence[dict[str, Any]],
    connected: int,
    failures: Counter[str],
    rss: tuple[int, int, int, int],
) -> Result:
    rss_before, rss_connected, rss_peak, rss_after = rss
    histogram: Counter[int] = Counter()
    for r in results:
        histogram.update({int(k): int(v) for k, v in r["latency_hist"].items()})

    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    pairs, exact, undelivered = total("pairs"), total("exact"), total("undelivered")
    frames, in_frames = total("scores_frames"), total("updates_in_frames")
    rates = [float(x) for r in results for x in r["frame_rates"]]
    closed: Counter[str] = Counter()
    verify: Counter[str] = Counter()
    for r in results:
        closed.update(r["closed_by_gateway"])
        verify.update({k: v for k, v in r["verify"].items() if k != "every"})
    latency: dict[str, float | int | None] = {
        **_percentiles(histogram, undelivered),
        "max": max((float(r["latency_max_ms"]) for r in results), default=None),
        "pairs": pairs,
    }
    per_client = (rss_connected - rss_before) / n
    final_share = total("clients_with_final_state") / n
    p99 = latency.get("p99")
    checks = {
        "rss_per_client": per_client <= RSS_PER_CLIENT_TARGET_BYTES,
        "latency_p99": p99 is not None and p99 <= P99_TARGET_MS,
        "final_state_every_client": final_share == 1.0,
        "every_client_connected_and_kept": connected == n and not closed,
        "frames_parsed_right": verify["mismatches"] == 0 and total("seq_not_increasing") == 0,
    }
    window = sent[-1][2] - sent[0][2] if len(sent) > 1 else 0.0
    return {
        "clients": n,
        "client_processes": len(results),
        "connected": connected,
        "connect_failures": dict(failures),
        "rss_before_mib": round(rss_before / MIB, 1),
        "rss_connected_mib": round(rss_connected / MIB, 1),
        "rss_per_client_bytes": round(per_client),
        "rss_per_client_kib": round(per_client / KIB, 1),
        "rss_peak_during_updates_mib": round(rss_peak / MIB, 1),
        "rss_after_updates_mib": round(rss_after / MIB, 1),
        "rss_peak_per_client_kib": round((rss_peak - rss_before) / n / KIB, 1),
        "updates": len(sent),
        "produce_rate_per_s": round((len(sent) - 1) / window, 1) if window else None,
        "produce_s": round(window, 1),
        "settle_s": sizes.settle_s,
        "latency_ms": latency,
        "undelivered_pairs": undelivered,
        "exact_seq_share": round(exact / pairs, 4) if pairs else None,
        "final_state_share": round(final_share, 4),
        "frames_per_client_per_s": {
            "mean": round(sum(rates) / len(rates), 2) if rates else None,
            "min": round(min(rates), 2) if rates else None,
            "max": round(max(rates), 2) if rates else None,
        },
        "updates_per_frame": round(in_frames / frames, 2) if frames else None,
        "frame_kib_mean": round(total("scores_bytes") / frames / KIB, 1) if frames else None,
        "heartbeats": total("heartbeats"),
        "closed_by_gateway": dict(closed),
        "still_open_at_end": total("still_open"),
        "verify": dict(verify),
        "checks": checks,
        "target": (
            f"RSS ≤ {RSS_PER_CLIENT_TARGET_BYTES:,} bytes per client, latency p99 ≤ "
            f"{P99_TARGET_MS:g} ms, every client with every district's final state, no client "
            f"refused or dropped (the issue's target is at {TARGET_CLIENTS:,} clients)"
        ),
        "met": all(checks.values()),
    }


# --- the run ---------------------------------------------------------------------------------


async def _run(broker: EmbeddedBroker, pg_dsn: str, workdir: Path, sizes: Sizes) -> list[Result]:
    most = max(sizes.clients)
    # every client logs in as the one bench user: both connection limits lifted to the run's
    settings = gateway_settings(
        broker, pg_dsn, workdir, max_connections=most, max_connections_per_user=most
    )
    await create_topics(settings)
    await _seed(settings)
    await add_users(pg_dsn, ("bench", "viewer"), ("root", "admin"))
    token = bearer_headers(settings, "bench", "viewer")["Authorization"].removeprefix("Bearer ")
    rig = Rig(
        settings=settings,
        broker_pid=broker.process.pid,
        token=token,
        admin=bearer_headers(settings, "root", "admin"),
        workdir=workdir,
        sizes=sizes,
    )
    return [await _phase(rig, n) for n in sizes.clients]


def run(quick: bool = False) -> dict[str, Result]:
    """Start the broker and a database; one fresh gateway per client count; stop them all (by
    PID, also on error)."""
    sizes = QUICK if quick else FULL
    most = max(sizes.clients)
    # the gateway holds `most` sockets (+ Kafka, PostgreSQL, its files); each client process
    # its share; every process inherits this limit
    files = raise_open_files(4 * most + 1024)
    if files < most + 512:
        raise RuntimeError(
            f"the open-file limit is {files} and cannot be raised to {most + 512}: too low for "
            f"a gateway with {most} clients"
        )
    started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = _loadavg()
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-fanout-") as tmp:
        workdir = Path(tmp)
        progress("gateway_fanout_large: starting the embedded Tansu broker")
        broker = EmbeddedBroker.start(workdir / "tansu")
        try:
            with postgres_database(workdir) as (pg_dsn, origin):
                phases = asyncio.run(_run(broker, pg_dsn, workdir, sizes))
        finally:
            broker.stop()
    out: dict[str, Result] = {}
    for result in phases:
        result.update(
            {
                "started_utc": started_utc,
                "loadavg_at_start": load_start,
                "open_files_limit": files,
                "postgres": origin,
                "rate_per_s": sizes.rate_per_s,
            }
        )
        out[f"gateway_fanout_large_{result['clients']}_clients"] = result
    return out
