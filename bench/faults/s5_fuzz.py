"""Scenario 5: fuzzed inputs (hypothesis, seeded) mixed at random into a valid stream.

Every record is judged offline by the worker's own ingest step when it is sent: a fuzzed record
the step accepts is expected to be located and scored like any valid one, every other one to end
as a dead letter (counted on riskmon.deadletter by its topic/partition/offset). The valid
neighbours must all be scored, the scores must equal the offline scorer's, the history must hold
every valid event and every dead letter, and the worker must not crash (a supervisor restarts it
and reports any exit).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Result, progress

from .flow import Run
from .fuzz import Builder, Recipe, recipes
from .rig import drop_database, fault_settings, fresh_database, rig, shared_server_dsn
from .stream import Publisher, mixed_stream


@dataclass(frozen=True)
class Sizes:
    fuzzed: int
    valid: int
    seed: int = 5


FULL = Sizes(fuzzed=10_000, valid=5_000)
SHORT = Sizes(fuzzed=1_000, valid=1_000)


async def _run(sizes: Sizes, workdir: Path, drawn: list[Recipe]) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        server = await shared_server_dsn(servers)
        dsn = await fresh_database(server)
        run = Run("fuzz", servers, fault_settings(broker.bootstrap, dsn, workdir / "data"))
        try:
            await run.setup()
            now = datetime.now(UTC)
            builder = Builder(run.config, now)
            fuzzed = [builder.build(n, recipe) for n, recipe in enumerate(drawn)]
            records = mixed_stream(run.config, sizes.valid, sizes.seed, now) + fuzzed
            random.Random(sizes.seed).shuffle(records)
            progress(
                f"fuzz: {len(fuzzed)} fuzzed records drawn: {Counter(r.category for r in fuzzed)}"
            )
            worker = servers.child("worker", "worker", run.settings)
            sink = servers.child("sink", "sink", run.settings)
            worker.start()
            sink.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            async with Publisher(run.settings) as publisher:
                for start in range(0, len(records), 200):
                    await run.send(publisher, records[start : start + 200])
            figures = await run.finish()
            assert run.expected is not None
            assert run.observer is not None
            outcome: dict[str, Counter[str]] = {}
            for sent in run.sent:
                if sent.record.category == "valid":
                    continue
                where = (
                    "located"
                    if sent.origin in run.observer.located
                    else "dead_letter"
                    if sent.origin in run.observer.letters
                    else "neither"
                )
                predicted = "valid" if sent.origin in run.expected.valid else "invalid"
                outcome.setdefault(sent.record.category, Counter())[f"{predicted}->{where}"] += 1
            log = worker.log_text()
            return run.result(
                figures,
                fuzzed=len(fuzzed),
                fuzzed_valid=sum(
                    1
                    for s in run.sent
                    if s.record.category != "valid" and s.origin in run.expected.valid
                ),
                outcome_by_category={k: dict(v) for k, v in sorted(outcome.items())},
                largest_dead_letter_bytes=max(run.observer.letter_sizes, default=0),
                worker_unexpected_ingest_errors=log.count("ingest failed unexpectedly"),
                worker_tracebacks=log.count("Traceback"),
            )
        finally:
            await run.close()
            servers.close()
            await drop_database(server, dsn)


def run(short: bool, workdir: Path) -> Result:
    sizes = SHORT if short else FULL
    # Drawn before any client runs: hypothesis checks that nothing else uses the global
    # `random` while it draws (aiokafka's tasks do).
    drawn = recipes(sizes.fuzzed, sizes.seed)
    return asyncio.run(_run(sizes, workdir, drawn))
