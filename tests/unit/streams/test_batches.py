"""take_batches: the agents' batch intake straight from a channel's queue (Faust's conductor and
consumer stand in as small fakes with the attributes the function reads; the real path runs in
every integration test of the worker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.worker.batches import take_batches


@dataclass(eq=False)
class Msg:
    offset: int
    generation_id: int = 1
    topic: str = "t"
    tp: tuple[str, int] = ("t", 0)
    tracked: bool = False


@dataclass
class Ev:
    message: Msg
    acked: list[int]

    def ack(self) -> bool:
        self.acked.append(self.message.offset)
        return True


class Flow:
    active = True

    def is_active(self) -> bool:
        return self.active


@dataclass
class Fake:
    queue: ThrowableQueue[Any] = field(
        default_factory=lambda: ThrowableQueue(maxsize=10_000, flow_control=FlowControlEvent())
    )
    acked: list[int] = field(default_factory=list)
    generation: int = 1

    def __post_init__(self) -> None:
        self.flow = Flow()
        outer = self

        class Consumer:
            unacked: ClassVar[set[Any]] = set()

        class Topics:
            acking_topics: ClassVar[set[str]] = {"t"}

        class Sensors:
            def on_message_in(self, *a: Any) -> None: ...
            def on_message_out(self, *a: Any) -> None: ...

        class App:
            consumer = Consumer()
            topics = Topics()
            flow_control = outer.flow
            sensors = Sensors()

            @property
            def consumer_generation_id(self) -> int:
                return outer.generation

        class Chan:
            queue = outer.queue

            def __aiter__(self) -> Chan:
                return self

            async def __anext__(self) -> Any:
                return await outer.queue.get()

        class Stream:
            app = App()
            channel = Chan()

        self.stream = Stream()

    def put(self, *offsets: int, generation: int = 1) -> None:
        for o in offsets:
            self.queue.put_nowait(Ev(Msg(o, generation), self.acked))


async def test_a_lone_record_goes_through_at_once_and_is_acked_after_its_batch() -> None:
    fake = Fake()
    fake.put(0)
    batches = take_batches(fake.stream, 100, 5.0)
    started = asyncio.get_running_loop().time()
    first = await anext(batches)
    assert asyncio.get_running_loop().time() - started < 1.0  # not the 5 s window
    assert [e.message.offset for e in first] == [0]
    assert fake.acked == []  # not before the body finished
    fake.put(1, 2, 3)
    second = await anext(batches)
    assert fake.acked == [0]
    assert [e.message.offset for e in second] == [1, 2, 3]
    assert all(e.message.tracked for e in first + second)
    await batches.aclose()


async def test_max_records_bounds_a_batch() -> None:
    fake = Fake()
    fake.put(*range(25))
    batches = take_batches(fake.stream, 10, 5.0)
    sizes = [len(await anext(batches)) for _ in range(3)]
    assert sizes == [10, 10, 5]
    await batches.aclose()


async def test_records_of_an_old_generation_or_during_a_rebalance_are_skipped_and_acked() -> None:
    fake = Fake(generation=2)
    fake.put(0, 1, generation=1)
    fake.put(2, generation=2)
    batches = take_batches(fake.stream, 10, 5.0)
    batch = await anext(batches)
    assert [e.message.offset for e in batch] == [2]
    assert fake.acked == [0, 1]
    fake.flow.active = False  # a rebalance: what is taken now is skipped
    fake.put(3, generation=2)
    nxt = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert not nxt.done()
    assert fake.acked == [0, 1, 2, 3]
    fake.flow.active = True
    fake.put(4, generation=2)
    assert [e.message.offset for e in await nxt] == [4]
    await batches.aclose()


async def test_a_body_that_raises_acknowledges_nothing_of_its_batch() -> None:
    fake = Fake()
    fake.put(0, 1)

    async def consume() -> None:
        async for _batch in take_batches(fake.stream, 10, 5.0):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        await consume()
    assert fake.acked == []


async def test_the_iteration_ends_when_faust_ends_the_channel() -> None:
    fake = Fake()

    async def consume() -> int:
        n = 0
        async for _batch in take_batches(fake.stream, 10, 5.0):
            n += 1
        return n

    task = asyncio.ensure_future(consume())
    fake.put(0)
    await asyncio.sleep(0.05)
    await fake.queue.throw(StopAsyncIteration())
    assert await asyncio.wait_for(task, 2) == 1
