"""Scenario 3: the broker stopped mid-stream and started again, empty (Tansu keeps no logs).

The stream is sent at a steady pace; about half-way the broker is stopped while records are
still being sent. Then the documented path (docs/operations.md, "Kafka rebuilt, PostgreSQL
kept"): stop the worker and the sink, start the broker again (same address, empty logs), run the
set-up step ``riskmon topics`` (which must begin stream epoch 2), start the worker and the sink.
The publisher re-sends every chunk the old broker did not acknowledge, then the rest.

Checked: epoch 2's scores equal the offline scorer on the records of the new log only, and the
history's epoch 2 holds them all; epoch 1's history holds what the sink had stored before the
stop. Records the old broker acknowledged but the sink had not stored went with the broker's
memory (Apache Kafka keeps them); they are reported as ``lost_with_broker_log``, not as ``lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Result, progress

from .flow import Run
from .oracle import Expected, Observer, history
from .rig import (
    drop_database,
    fault_settings,
    fresh_database,
    rig,
    run_cli,
    shared_server_dsn,
    wait_until,
)
from .stream import Publisher, Record, Sent, mixed_stream


@dataclass(frozen=True)
class Sizes:
    events: int
    send_s: float  # the whole stream's pace
    stop_timeout_s: float  # SIGTERM, then SIGKILL after this long
    seed: int = 3


FULL = Sizes(events=20_000, send_s=60.0, stop_timeout_s=30.0)
SHORT = Sizes(events=3_000, send_s=12.0, stop_timeout_s=10.0)


class Sender:
    """Sends chunks at a pace. While the broker is ``down`` it holds back new chunks; a chunk the
    broker did not acknowledge is sent again (a publisher re-sending what was not acknowledged).
    A chunk acknowledged after ``new_broker_at`` is in the new broker's log (the producer's own
    retries may deliver an in-flight chunk there), any other in the old one's."""

    def __init__(self, run: Run, records: list[Record], duration_s: float) -> None:
        self.run = run
        self.chunks = [records[i : i + 100] for i in range(0, len(records), 100)]
        self.duration_s = duration_s
        self.down = asyncio.Event()
        self.back = asyncio.Event()
        self.new_broker_at: float | None = None
        self.failed = 0
        self.sent_old: list[Sent] = []

    async def go(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        publisher = Publisher(self.run.settings)
        await publisher.__aenter__()
        try:
            for n, part in enumerate(self.chunks):
                await asyncio.sleep(
                    max(0.0, start + self.duration_s * n / len(self.chunks) - loop.time())
                )
                if self.down.is_set():
                    await self.back.wait()
                while True:
                    try:
                        sent = await asyncio.wait_for(publisher.send(part), 30)
                    except Exception:  # the broker is away: wait for the new one, then again
                        self.failed += 1
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(publisher.__aexit__(), 10)
                        await self.back.wait()
                        publisher = Publisher(self.run.settings)
                        await publisher.__aenter__()
                        continue
                    break
                if self.new_broker_at is None or time.monotonic() < self.new_broker_at:
                    self.sent_old.extend(sent)
                else:
                    assert self.run.expected is not None
                    self.run.sent.extend(sent)
                    self.run.expected.add(sent, datetime.now(UTC))
        finally:
            with contextlib.suppress(Exception):
                await publisher.__aexit__()


async def _run(sizes: Sizes, workdir: Path) -> Result:
    with rig(workdir) as servers:
        broker = await asyncio.to_thread(servers.start_broker)
        server = await shared_server_dsn(servers)
        dsn = await fresh_database(server)
        run = Run(
            "broker_restart", servers, fault_settings(broker.bootstrap, dsn, workdir / "data")
        )
        try:
            await run.setup()
            records = mixed_stream(run.config, sizes.events, sizes.seed, datetime.now(UTC))
            worker = servers.child("worker", "worker", run.settings)
            sink = servers.child("sink", "sink", run.settings)
            worker.start()
            sink.start()
            run.notes["worker_ready_s"] = await run.wait_scores_flow(run.started, within=120)
            sender = Sender(run, records, sizes.send_s)
            sending = asyncio.create_task(sender.go())
            # Stop the broker mid-stream: once half the stream is acknowledged.
            await wait_until(lambda: len(sender.sent_old) >= len(records) // 2, sizes.send_s * 4)
            old_observer = run.observer
            assert old_observer is not None
            sender.down.set()
            broker.process.kill()  # abrupt: the broker's process dies (SIGKILL by its PID)
            stopped_at = time.monotonic()
            await asyncio.to_thread(broker.process.wait, 15)
            sent_old = list(sender.sent_old)
            progress(f"broker_restart: broker stopped after {len(sent_old)} acknowledged")
            located_before_stop = sum(1 for s in sent_old if s.origin in old_observer.located)
            # What the worker and sink do with the broker gone (they are stopped next, as
            # documented; a crash here would show as an exit).
            await asyncio.sleep(5)  # the outage's length: part of the fault, not a wait
            alive_during_outage = {"worker": worker.alive, "sink": sink.alive}
            await old_observer.stop()
            stops: dict[str, object] = {}
            for child in (worker, sink):
                t0 = time.monotonic()
                await asyncio.to_thread(child.stop, sizes.stop_timeout_s)
                assert child.process is not None
                # -9: SIGTERM did not stop it in time, so it was SIGKILLed
                stops[child.name] = {
                    "stop_s": round(time.monotonic() - t0, 1),
                    "exit": child.process.returncode,
                }
            stored_old = await history(dsn, 1, run.settings.topics.deadletter)
            run.expected = Expected(run.config)  # the new log's records from here on
            sender.new_broker_at = time.monotonic()
            broker = await asyncio.to_thread(servers.start_broker, broker.port)
            restarted_at = time.monotonic()
            status, output = await run_cli(run.settings, "topics")
            progress(f"broker_restart: riskmon topics -> {status}: {output.strip()[-200:]}")
            run.observer = Observer(run.settings)
            await run.observer.start()
            worker.start()
            sink.start()
            sender.back.set()
            await sending
            run.recoveries.append(await run.wait_scores_flow(restarted_at))
            figures = await run.finish(epoch=2)
            if None in run.recoveries:
                figures.failures.append(
                    "no score update within 180 s of the broker coming back: recovery_s "
                    + str(run.recoveries)
                )
            # epoch 1: what the old broker acknowledged against what the sink stored before it
            old = Expected.of(run.config, sent_old, datetime.now(UTC))
            stored_keys = stored_old.events if stored_old else set()
            lost_with_log = len(old.event_keys - stored_keys)
            if "stream epoch: 2" not in output:
                figures.failures.insert(0, f"riskmon topics did not begin epoch 2: {output[-300:]}")
            figures.sent += len(sent_old)
            return run.result(
                figures,
                sent_to_old_broker=len(sent_old),
                located_before_stop=located_before_stop,
                stored_in_epoch_1=len(stored_keys & old.event_keys),
                lost_with_broker_log=lost_with_log,
                chunk_sends_failed=sender.failed,
                topics_step=output.strip().splitlines()[-1:] if output.strip() else [],
                alive_while_broker_down=alive_during_outage,
                outage_s=round(restarted_at - stopped_at, 1),
                sigterm_while_broker_down=stops,
            )
        finally:
            await run.close()
            servers.close()
            await drop_database(server, dsn)


def run(short: bool, workdir: Path) -> Result:
    return asyncio.run(_run(SHORT if short else FULL, workdir))
