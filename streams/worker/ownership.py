"""Which partitions this worker holds: the value both stages decide ownership by.

Faust's ``consumer.assignment()`` keeps listing revoked partitions until the next assignment
lands, and Faust seeks (and a batch that waited may arrive) in between. :class:`Ownership` is what
the group granted instead: the newest assignment minus what was revoked since. The consumer
(:mod:`streams.worker.app`) replaces it at each signal; the stages read it.

>>> located = Ownership().assign({TP("located", 0), TP("located", 1), TP("alerts", 0)})
>>> sorted(located.partitions("located"))
[0, 1]
>>> after = located.revoke({TP("located", 1)})  # mid-rebalance: assignment() still lists 1
>>> sorted(after.partitions("located")), after.holds("located", 1), located.holds("located", 1)
([0], False, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from faust.types import TP


@dataclass(frozen=True, slots=True)
class Ownership:
    """Partitions granted by the newest assignment, minus those revoked since (immutable)."""

    granted: frozenset[TP] = frozenset()

    def assign(self, assigned: Iterable[TP]) -> Ownership:
        """After an assignment (eager rebalancing: ``assigned`` is the whole new assignment)."""
        return Ownership(frozenset(assigned))

    def revoke(self, revoked: Iterable[TP]) -> Ownership:
        return Ownership(self.granted - frozenset(revoked))

    def partitions(self, topic: str) -> frozenset[int]:
        return frozenset(tp.partition for tp in self.granted if tp.topic == topic)

    def holds(self, topic: str, partition: int) -> bool:
        return TP(topic, partition) in self.granted
