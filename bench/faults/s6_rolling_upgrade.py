"""Scenario 6: a rolling upgrade — internal records of another riskmon version read by this one.

The running worker, sink and gateway are "this" version. Records as a *newer* version would
write them are published to the internal topics: a located event and a score update each

* ``newer_field``: with an unknown field (top level and nested), same format marker;
* ``newer_format``: with an unknown field and a ``format`` one above this code's (when the
  contract has a ``format`` field; otherwise the scenario says so);

and as an *older* version wrote them: ``older``: without the ``format`` field. After each, a
plain current record on the same partition shows whether the reader went past it.

Per reader, each record ends as ``used`` (located event: stored by the sink / scored by the
scorer; score update: stored by the sink / delivered to a websocket client), ``dead_lettered``
(a dead letter naming its topic/partition/offset, on riskmon.deadletter or in the history), or
``skipped`` (neither, while the plain record after it was used): ``lost`` counts the skipped.
A newer *format* may be refused but only visibly; skipping it silently is a loss too. The
scenario reports the current behaviour; it is not built to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import websockets
from aiokafka import AIOKafkaProducer
from websockets.exceptions import ConnectionClosed

from bench import Result, progress
from bench.gateway_bench import add_users, bearer_headers
from streams.contract import Incident, LocatedEvent
from streams.ops.embedded import free_port

from .flow import Run
from .oracle import Tally
from .rig import drop_database, fault_settings, fresh_database, rig, shared_server_dsn, wait_until

VARIANTS = ("newer_field", "newer_format", "older", "plain")


@dataclass
class Published:
    variant: str
    topic: str
    partition: int
    offset: int
    ident: str  # located: "source:id"; score: "district/seq"
    outcome: dict[str, str] = field(default_factory=dict)  # reader -> used/dead_lettered/skipped

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def _variant(data: dict[str, Any], variant: str, nested: str | None) -> dict[str, Any]:
    out = dict(data)
    has_format = "format" in out
    if variant in ("newer_field", "newer_format"):
        out["x_added_by_newer_version"] = {"note": "a field this version does not know"}
        if nested and isinstance(out.get(nested), dict):
            out[nested] = {**out[nested], "x_nested_addition": 1}
        if variant == "newer_format" and has_format:
            out["format"] = int(out["format"]) + 1
    elif variant == "older":
        out.pop("format", None)
    return out


class Client:
    """A websocket client that records the (district, seq) of every score it is sent."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.seen: set[tuple[str, int]] = set()
        self.latest: dict[str, int] = {}
        self.live = asyncio.Event()

    async def run(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async with websockets.connect(
                self.url, max_size=None, additional_headers=self.headers
            ) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "snapshot":
                        for u in message["districts"]:
                            self.latest[u["district"]] = u["seq"]
                        self.live.set()
                    elif message["type"] == "scores":  # coalesced: newest state per district
                        for u in message["districts"]:
                            self.seen.add((u["district"], u["seq"]))
                            self.latest[u["district"]] = max(
                                u["seq"], self.latest.get(u["district"], 0)
                            )


def _metrics(base: str, headers: dict[str, str]) -> list[str]:
    request = urllib.request.Request(f"{base}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text: str = response.read().decode()
    words = ("invalid", "undecodable", "refused", "skipped", "decode")
    return [
        line
        for line in text.splitlines()
        if not line.startswith("#") and any(w in line for w in words) and not line.endswith(" 0.0")
    ]


def _invalid_count(base: str, headers: dict[str, str]) -> float:
    """The gateway's count of score records it could not read (0 when it has no such metric)."""
    request = urllib.request.Request(f"{base}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text: str = response.read().decode()
    for line in text.splitlines():
        if (
            line.startswith("riskmon_gateway_updates_consumed_total")
            and 'outcome="invalid"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _stored(dsn: str) -> tuple[set[tuple[str, str]], set[tuple[str, int]], set[str]]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        events = {(r[0], r[1]) for r in await conn.fetch("SELECT source, event_id FROM events")}
        scores = {
            (r[0], int(r[1])) for r in await conn.fetch("SELECT district, seq FROM score_updates")
        }
        letters = {
            f"{r[0]}/{r[1]}/{r[2]}"
            for r in await conn.fetch('SELECT topic, partition, "offset" FROM dead_letters')
        }
    finally:
        await conn.close()
    return events, scores, letters


async def _run(workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        server = await shared_server_dsn(servers)
        dsn = await fresh_database(server)
        port = free_port()
        settings = fault_settings(broker.bootstrap, dsn, workdir / "data", gateway_port=port)
        run = Run("rolling_upgrade", servers, settings)
        try:
            await run.setup()
            assert run.observer is not None
            observer = run.observer
            await add_users(dsn, ("viewer", "viewer"), ("root", "admin"))
            worker = servers.child("worker", "worker", settings)
            sink = servers.child("sink", "sink", settings)
            gateway = servers.child("gateway", "gateway", settings)
            for child in (worker, sink, gateway):
                child.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            client = Client(
                f"ws://127.0.0.1:{port}/ws", bearer_headers(settings, "viewer", "viewer")
            )
            watching = asyncio.create_task(client.run())
            if not await wait_until(client.live.is_set, 90, 0.5):
                raise RuntimeError(f"no snapshot from the gateway:\n{gateway.log_tail()}")
            codes = list(run.config.city.codes)
            has_format = "format" in LocatedEvent.model_fields
            published: list[Published] = []
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            await producer.start()
            try:
                now = datetime.now(UTC)
                for n, variant in enumerate(VARIANTS):
                    for k in range(2):  # the variant, then a plain record after it
                        name = variant if k == 0 else "plain"
                        code = codes[n]
                        incident = Incident(
                            id=f"up-{variant}-{k}", source="upgrade", type="fire", severity=3,
                            occurred_at=now - timedelta(minutes=5), code=code,
                        )  # fmt: skip
                        located = LocatedEvent(
                            kind="incident", district=code, received_at=now,
                            origin=f"upgrade/{n}/{k}", incident=incident,
                        )  # fmt: skip
                        data = _variant(located.model_dump(mode="json"), name, "incident")
                        part = run.config.city.partition_of(code, settings.partitions)
                        meta = await producer.send_and_wait(
                            settings.topics.located,
                            json.dumps(data).encode(),
                            key=code.encode(),
                            partition=part,
                        )
                        published.append(
                            Published(
                                name,
                                meta.topic,
                                meta.partition,
                                meta.offset,
                                f"upgrade:{incident.id}",
                            )
                        )
                # Score updates, one variant at a time (the gateway coalesces a client's
                # updates per district: the plain record must not overtake the variant), each at
                # a seq above any the worker published.
                await wait_until(lambda: all(c in observer.latest for c in codes), 60)
                base_url = f"http://127.0.0.1:{port}"
                admin = bearer_headers(settings, "root", "admin")
                for n, variant in enumerate(VARIANTS):
                    for k in range(2):
                        name = variant if k == 0 else "plain"
                        code = codes[-1 - n]
                        seq = observer.latest[code].seq + 10_000_000 + 10 * n + k
                        update = observer.latest[code].model_copy(
                            update={"seq": seq, "reason": "events"}
                        )
                        data = _variant(update.model_dump(mode="json"), name, "composite")
                        invalid_before = await asyncio.to_thread(_invalid_count, base_url, admin)
                        meta = await producer.send_and_wait(
                            settings.topics.scores, json.dumps(data).encode(), key=code.encode()
                        )
                        record = Published(
                            name, meta.topic, meta.partition, meta.offset, f"{code}/{seq}"
                        )
                        published.append(record)

                        async def answered(
                            before: float = invalid_before, key: tuple[str, int] = (code, seq)
                        ) -> bool:
                            counted = (
                                await asyncio.to_thread(_invalid_count, base_url, admin) > before
                            )
                            return key in client.seen or counted

                        await wait_until(answered, 10, 0.2)
                        if (code, seq) not in client.seen:
                            after = await asyncio.to_thread(_invalid_count, base_url, admin)
                            record.outcome["gateway"] = (
                                "refused_and_counted" if after > invalid_before else "skipped"
                            )
            finally:
                await producer.stop()
            # Wait until the plain records after each variant were used by every reader.
            plain = [p for p in published if p.variant == "plain"]
            located_plain = [p for p in plain if p.topic == settings.topics.located]
            score_plain = [p for p in plain if p.topic == settings.topics.scores]

            def scored(ident: str) -> bool:
                return any(d.event_id == ident for _, u in observer.updates for d in u.drivers)

            async def plain_used() -> bool:
                events, scores, _ = await _stored(dsn)
                return (
                    all(("upgrade", p.ident.split(":", 1)[1]) in events for p in located_plain)
                    and all(scored(p.ident) for p in located_plain)
                    and all(_key(p.ident) in scores for p in score_plain)
                    and all(_key(p.ident) in client.seen for p in score_plain)
                )

            settled = await wait_until(plain_used, 90, 1.0)
            await asyncio.sleep(
                3
            )  # a margin for the variant records' own outcomes (measured after)
            events, scores, letters = await _stored(dsn)
            for p in published:
                on_topic = p.origin in observer.letters
                stored_letter = p.origin in letters
                lettered = "dead_lettered" if (on_topic or stored_letter) else "skipped"
                if p.topic == settings.topics.located:
                    source, ident = p.ident.split(":", 1)
                    p.outcome["sink"] = "used" if (source, ident) in events else lettered
                    p.outcome["scorer"] = "used" if scored(p.ident) else lettered
                else:
                    p.outcome["sink"] = "used" if _key(p.ident) in scores else lettered
                    if _key(p.ident) in client.seen:
                        p.outcome["gateway"] = "used"
                    p.outcome.setdefault("gateway", "skipped")
            metrics = await asyncio.to_thread(_metrics, base_url, admin)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            skipped = [
                (p.variant, p.topic.rsplit(".", 1)[-1], r)
                for p in published
                for r, o in p.outcome.items()
                if o == "skipped"
            ]
            figures = Tally(
                sent=len(published),
                valid=len(published),
                scored=sum(1 for p in published if all(o == "used" for o in p.outcome.values())),
                dead_lettered=sum(
                    1
                    for p in published
                    if any(o != "used" and o != "skipped" for o in p.outcome.values())
                ),
                lost=len(skipped),
            )
            if not settled:
                figures.failures.append(
                    "the plain records after the variants were not all used within 90 s"
                )
            if skipped:
                figures.failures.append(f"skipped silently (variant, topic, reader): {skipped}")
            for child in (worker, sink, gateway):
                if child.exits or not child.alive:
                    figures.failures.append(f"{child.name} exited: {child.exits}")
            progress(
                f"rolling_upgrade: {Counter(o for p in published for o in p.outcome.values())}"
            )
            return run.result(
                figures,
                contract_has_format_field=has_format,
                outcomes={
                    f"{p.topic.rsplit('.', 1)[-1]}:{p.variant}:{p.partition}/{p.offset}": p.outcome
                    for p in published
                },
                gateway_metrics_nonzero=metrics,
                sink_log_warnings=[
                    line[:300]
                    for line in sink.log_text().splitlines()
                    if "level=WARNING" in line or "level=ERROR" in line
                ][:10],
                gateway_log_warnings=[
                    line[:300]
                    for line in gateway.log_text().splitlines()
                    if "level=WARNING" in line or "level=ERROR" in line
                ][:10],
                worker_log_warnings=[
                    line[:300]
                    for line in worker.log_text().splitlines()
                    if ("level=WARNING" in line or "level=ERROR" in line) and "upgrade" in line
                ][:10],
            )
        finally:
            await run.close()
            servers.close()
            await drop_database(server, dsn)


def _key(ident: str) -> tuple[str, int]:
    code, seq = ident.split("/")
    return code, int(seq)


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(workdir))
