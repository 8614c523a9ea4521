"""The hand-off lane: order, batching of what waits, bounds, release, failures, drain."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.worker.lanes import Lane


class Stage:
    """A stage's side of a lane: records each call; ``gate`` holds a call until it is set."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on = fail_on

    async def run(self, items: list[int]) -> None:
        self.calls.append(items)
        await self.gate.wait()
        if self.fail_on in items:
            raise RuntimeError(f"item {self.fail_on}")


async def test_items_run_in_order_and_what_waits_runs_in_one_call() -> None:
    stage = Stage()
    stage.gate.clear()
    lane: Lane[int] = Lane("t", stage.run)
    await lane.submit(1)
    await asyncio.sleep(0)  # the task takes 1 and waits at the gate
    for item in (2, 3, 4):
        await lane.submit(item)
    assert lane.waiting == 3
    stage.gate.set()
    await lane.drain()
    assert stage.calls == [[1], [2, 3, 4]]
    assert lane.waiting == 0
    await lane.close()


async def test_submit_waits_for_room_while_depth_items_wait() -> None:
    stage = Stage()
    stage.gate.clear()
    lane: Lane[int] = Lane("t", stage.run, depth=2)
    await lane.submit(1)
    await asyncio.sleep(0)  # 1 taken: two may wait
    await lane.submit(2)
    await lane.submit(3)
    third = asyncio.create_task(lane.submit(4))
    await asyncio.sleep(0.01)
    assert not third.done()  # bounded: the sender waits
    stage.gate.set()
    await asyncio.wait_for(third, 1)
    await lane.drain()
    assert [item for call in stage.calls for item in call] == [1, 2, 3, 4]
    await lane.close()


async def test_release_runs_after_the_call_whatever_its_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stage = Stage(fail_on=2)
    stage.gate.clear()
    failures: list[int] = []
    released: list[tuple[int, int]] = []  # (item, calls made when it was released)
    lane: Lane[int] = Lane("t", stage.run, failed=lambda: failures.append(1))
    for item in (1, 2):
        await lane.submit(item, lambda item=item: released.append((item, len(stage.calls))))  # type: ignore[misc]
        await asyncio.sleep(0)
    assert released == []  # still held at the gate
    with caplog.at_level(logging.ERROR, logger="riskmon.worker"):
        stage.gate.set()
        await lane.drain()
    assert released == [(1, 1), (2, 2)]  # each released once its own call ended
    assert failures == [1]
    assert "hand-off failed lane=t items=1" in caplog.text
    await lane.submit(3)  # the lane goes on after a failure
    await lane.drain()
    assert stage.calls[-1] == [3]
    await lane.close()


async def test_drain_waits_for_items_submitted_during_a_call() -> None:
    stage = Stage()
    stage.gate.clear()
    lane: Lane[int] = Lane("t", stage.run)
    await lane.submit(1)
    await asyncio.sleep(0)
    drained = asyncio.create_task(lane.drain())
    await lane.submit(2)
    stage.gate.set()
    await asyncio.sleep(0)
    await asyncio.wait_for(drained, 1)
    assert stage.calls == [[1], [2]]
    await lane.close()


async def test_close_runs_what_waits_then_stops_and_a_new_submit_starts_again() -> None:
    stage = Stage()
    lane: Lane[int] = Lane("t", stage.run)
    await lane.drain()  # nothing submitted: returns at once
    await lane.submit(1)
    await lane.close()
    assert stage.calls == [[1]]
    await lane.submit(2)
    await lane.drain()
    assert stage.calls == [[1], [2]]
    await lane.close()


def test_a_lane_holds_at_least_one_item() -> None:
    async def run(items: list[int]) -> None:
        pass

    with pytest.raises(ValueError, match="at least one"):
        Lane("t", run, depth=0)
