"""In-process hand-off between the worker's stages, with the topics still the record of truth.

Every incident crosses three topics inside the worker (riskmon.identity, riskmon.located,
riskmon.alert-input). The topics stay: they are what a restarted or rebalanced worker reads its
stages back from (each stage's checkpoint holds the next offset of its input partition), and what
another worker of the group reads when it owns the next stage's partition. But once the broker
has confirmed a record, the stage that sent it knows the record's partition and offset; if this
worker holds the next stage's state for that partition and that state's next offset is exactly
the record's offset, the next stage applies the object it already has at once, without a fetch, a
JSON parse and a wait for its own agent: the state then equals what reading the log would give,
since it applies the same records in the same order.

Anything else is left to the topic, where the stage's agent reads it as before:

* the partition's state is not held here (another worker's, or not restored yet);
* its next offset is not the record's (the stage is still reading older records, or someone else
  wrote into the partition in between: another worker's stage, a retried send);
* the rest of a hand-off after a missing offset.

When the agent later reads the records applied by hand-off, they lie below the state's next offset
and are skipped before they are decoded (:func:`below`).

The decisions here are pure; the stages call them under their progress lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

from faust.types import TP

__all__ = [
    "Positioned",
    "ReadSwitch",
    "Reads",
    "below",
    "by_partition",
    "contiguous",
    "hand_over",
    "take",
]

T = TypeVar("T")


def contiguous(next_offset: int | None, items: Sequence[tuple[int, T]]) -> list[tuple[int, T]]:
    """The ``(offset, item)`` of ``items`` (in offset order) that continue a state whose next
    offset is ``next_offset`` (None: no state held here, nothing continues it): those below it are
    in the state already (the stage's agent read them from the topic first), then the run that
    starts exactly at it, up to the first missing offset.

    >>> contiguous(5, [(5, "a"), (6, "b"), (8, "c")])
    [(5, 'a'), (6, 'b')]
    >>> contiguous(5, [(3, "a"), (4, "b"), (5, "c"), (6, "d")])
    [(5, 'c'), (6, 'd')]
    >>> contiguous(4, [(5, "a")]), contiguous(None, [(0, "a")]), contiguous(9, [(7, "a")])
    ([], [], [])
    >>> contiguous(5, [(5, "a"), (5, "b"), (7, "c")])  # a repeated offset is not a run
    [(5, 'a')]
    """
    if next_offset is not None and items and items[0][0] == next_offset:
        # The usual hand-off: exactly the next offsets, in order (checked in one comparison).
        end = next_offset + len(items)
        if items[-1][0] == end - 1 and [o for o, _ in items] == list(range(next_offset, end)):
            return list(items)
    taken: list[tuple[int, T]] = []
    expected = next_offset
    for offset, item in items:
        if expected is None:
            break
        if offset < expected and not taken:
            continue
        if offset != expected:
            break
        taken.append((offset, item))
        expected = offset + 1
    return taken


def take(
    next_offset: int | None, items: Sequence[tuple[int, T]], count: Callable[[str, int], None]
) -> list[tuple[int, T]]:
    """:func:`contiguous`, counting through ``count(outcome, n)`` what became of ``items``:
    ``applied`` here, ``read_first`` (the stage's agent had read them from the topic already)
    and ``left`` to the topic.

    >>> seen = []
    >>> take(5, [(4, "a"), (5, "b"), (7, "c")], lambda what, n: seen.append((what, n)))
    [(5, 'b')]
    >>> seen
    [('applied', 1), ('read_first', 1), ('left', 1)]
    """
    taken = contiguous(next_offset, items)
    first = 0 if next_offset is None else sum(1 for offset, _ in items if offset < next_offset)
    left = len(items) - len(taken) - first
    for outcome, n in (("applied", len(taken)), ("read_first", first), ("left", left)):
        if n:
            count(outcome, n)
    return taken


Reads = dict[int, tuple[int, int]]
"""What a hand-off means for reading each partition of the stage's topic that it holds:
``(stands, handed_to)``, the offset the stage's state stands at after it, and one past the
highest offset it was handed. ``stands < handed_to``: something was left to the topic, and the
agent must read the partition at least up to ``handed_to``."""


class ReadSwitch:
    """Which partitions of the worker's own intermediate topics it does not read (Faust's
    ``pause_partitions``) because the hand-off gave each stage every record of them.

    A partition is paused once its stage stands past every record ever left to the topic (a
    hand-off taken whole, after the agent read what an earlier one left), and read again (from
    where its stage stands) as soon as a hand-off leaves something, and at each :meth:`recheck`
    (a timer) if its log goes on further: records that did not come this way (written by another
    worker of the group, or by a send that was retried) are then read within that interval.
    """

    def __init__(self) -> None:
        self.paused: set[TP] = set()
        self.owed: dict[TP, int] = {}  # left to the topic: read at least up to this offset
        self.inflight: Counter[TP] = Counter()

    @contextmanager
    def flying(self, tps: Iterable[TP]) -> Iterator[None]:
        """Count one record in flight per item of ``tps`` (with repeats) for the duration: this
        worker's own records, sent and not handed off yet, lie in the log past where their
        stage stands without being anyone else's (:meth:`recheck` allows for them)."""
        sent = Counter(tps)
        self.inflight.update(sent)
        try:
            yield
        finally:
            self.inflight.subtract(sent)
            for tp in sent:
                if self.inflight[tp] <= 0:
                    del self.inflight[tp]

    def settle(self, topic: str, reads: Reads) -> tuple[set[TP], dict[TP, int]]:
        """The partitions of ``topic`` to pause, and those to read again from an offset.

        >>> switch = ReadSwitch()
        >>> switch.settle("t", {0: (3, 3), 1: (7, 9)})  # 1: offsets 7 and 8 left to the topic
        ({TP(topic='t', partition=0)}, {})
        >>> switch.settle("t", {0: (12, 14), 1: (9, 9)})  # 0 leaves something; 1 has read them
        ({TP(topic='t', partition=1)}, {TP(topic='t', partition=0): 12})

        Hand-offs can come out of order: 22..24 are left (the stage stands at 20), then 20 and
        21 come and are taken whole; the partition is still read, for 22..24.

        >>> switch.settle("t", {2: (20, 25)}), switch.settle("t", {2: (22, 22)})
        ((set(), {}), (set(), {}))
        """
        pause: set[TP] = set()
        resume: dict[TP, int] = {}
        for partition, (stands, handed_to) in reads.items():
            tp = TP(topic, partition)
            owed = max(self.owed.pop(tp, 0), handed_to)
            if stands >= owed:
                if tp not in self.paused:
                    pause.add(tp)
                continue
            self.owed[tp] = owed
            if tp in self.paused:
                resume[tp] = stands
        self.paused |= pause
        self.paused -= resume.keys()
        return pause, resume

    def recheck(
        self, ends: Mapping[TP, int] | None, next_offsets: Mapping[TP, int | None]
    ) -> dict[TP, int | None]:
        """The paused partitions to read again, with the offset to read from (None: no state
        held, Faust's position): those whose log ``ends`` (the broker's end offsets) lie past
        where their stage stands (``next_offsets``) plus this worker's own records in flight
        there (:meth:`flying`), every one when the ends are unknown.

        A stage that took every hand-off of a partition stands at the end of what it was
        handed; a record that did not come that way lies at or past that offset, so the end of
        the log is past it. This holds on Tansu too, whose end offset is the last record
        batch's first offset + 1 (a batch is one producer's: a foreign batch starts at or past
        the stage's offset, and if the last batch is one handed off, nothing foreign can lie
        before it unread, since hand-offs are taken only contiguously).

        >>> a, b = TP("t", 0), TP("t", 1)
        >>> switch = ReadSwitch()
        >>> switch.paused = {a, b}
        >>> switch.recheck({a: 10, b: 12}, {a: 10, b: 11})
        {TP(topic='t', partition=1): 11}
        >>> switch.paused == {a}, switch.recheck(None, {a: 10}), switch.paused
        (True, {TP(topic='t', partition=0): 10}, set())
        """
        stale: dict[TP, int | None] = {}
        for tp in self.paused:
            at = next_offsets.get(tp)
            if ends is None or at is None or ends.get(tp, 0) > at + self.inflight[tp]:
                stale[tp] = at
        self.paused -= stale.keys()
        return stale

    def release(self) -> set[TP]:
        """Every paused partition, now to be read again (a rebalance: the stages' restores say
        from where); nothing owed is remembered past it."""
        paused, self.paused = self.paused, set()
        self.owed.clear()
        return paused

    def forget(self, revoked: Iterable[TP]) -> None:
        """Partitions no longer this worker's."""
        for tp in revoked:
            self.paused.discard(tp)
            self.owed.pop(tp, None)


class Positioned(Protocol):
    """A stage's state of one partition: where in the log it stands."""

    next_offset: int


async def hand_over(
    held: Mapping[int, Positioned],
    placed: Mapping[int, Sequence[tuple[int, T]]],
    count: Callable[[str, int], None],
    apply: Callable[[dict[int, list[tuple[int, T]]]], Awaitable[None]],
) -> Reads:
    """A stage's side of a hand-off (call it under the stage's progress lock): of ``placed``
    (by partition, as (offset, item)), ``apply`` what continues the states ``held`` by
    partition (:func:`take`); return what that means for reading each held partition."""
    taken: dict[int, list[tuple[int, T]]] = {}
    handed: dict[int, int] = {}  # partition -> one past the highest offset handed
    for partition, batch in placed.items():
        state = held.get(partition)
        if state is None:
            take(None, batch, count)  # not held here: left to the topic
            continue
        took = take(state.next_offset, batch, count)
        handed[partition] = batch[-1][0] + 1
        if took:
            taken[partition] = took
    if taken:
        await apply(taken)
    return {
        partition: (held[partition].next_offset, handed_to)
        for partition, handed_to in handed.items()
        if partition in held
    }


def below(offset: int, partition: int, next_offsets: Mapping[int, int]) -> bool:
    """Whether a record read at ``offset`` of ``partition`` is already in the state (applied by
    hand-off or before a restart), so it need not even be decoded.

    >>> below(3, 0, {0: 4}), below(4, 0, {0: 4}), below(0, 1, {0: 4})
    (True, False, False)
    """
    return offset < next_offsets.get(partition, 0)


def by_partition(
    placed: Sequence[tuple[int, int] | None], items: Sequence[T]
) -> dict[int, list[tuple[int, T]]]:
    """``items`` grouped by the partition the broker put each in, as ``(offset, item)`` in
    offset order; items without a place (replaced by a dead letter) are left out.

    >>> by_partition([(1, 7), None, (0, 3), (1, 6)], ["a", "b", "c", "d"])
    {1: [(6, 'd'), (7, 'a')], 0: [(3, 'c')]}
    """
    grouped: dict[int, list[tuple[int, T]]] = {}
    for where, item in zip(placed, items, strict=True):
        if where is not None:
            grouped.setdefault(where[0], []).append((where[1], item))
    for records in grouped.values():
        records.sort(key=lambda record: record[0])
    return grouped
