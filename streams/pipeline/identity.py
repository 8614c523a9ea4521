"""One identity per ``(source, id)`` across the whole city, not per district.

The scorer deduplicates per district (each district's state holds its own keys), so an incident
or safety fact re-sent with another location (a corrected address, a geocoder that changed its
mind, a forged copy) would land in another district's state and count twice. The identity step
sits between ingest and scoring: ingest sends incidents and safety facts to
``riskmon.identity``, partitioned by a hash of the identity (:func:`identity_partition`), so
every copy of one identity meets the same :class:`IdentityLedger`, which remembers the district
each identity was first placed in:

* first sighting: remembered, forwarded to ``riskmon.located`` (the scorer decides the rest:
  applied, an exact duplicate, or a conflict of content within the district);
* seen before in the same district: forwarded (the scorer answers ``duplicate`` or ``conflict``);
* seen before in another district: not forwarded; dead-lettered ``conflict`` naming both
  districts ("publish a correction under a new id", as for any changed content).

Readings skip this step: a sensor's reading is identified by the sensor and its time, the newest
per sensor counts, and a sensor that is moved is a new placement, not a copy.

State is bounded: an identity is forgotten once its event is older than the model's horizon for
it (an incident's domain horizon; a safety fact's, the longest one), after which a copy adds
less than 1e-12 of its mark anywhere; and at most ``max_identities`` per partition are held (a
new one beyond is dead-lettered ``state_full``). Pure; the I/O is
:mod:`streams.worker.identity_stage`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from indices import Event, IncidentIn, ModelParams
from streams.contract import LocatedEvent, SensorReading
from streams.pipeline.scoring import Conflict, Gap, to_model_event

IDENTITY_FORMAT = 1


def identity_of(located: LocatedEvent) -> str | None:
    """The city-wide identity of ``located``: ``"incident:SOURCE:ID"`` or ``"safety:SOURCE:ID"``;
    None for readings (they do not go through this step). Read off the wire event (every kind
    but a reading has a source and an id), without the model event's conversion."""
    if located.kind == "reading":
        return None
    wire = located.event
    assert not isinstance(wire, SensorReading)  # the kind says so
    # A withdrawal has its incident's identity: the two meet in one ledger and one district.
    kind = "incident" if located.kind == "withdrawal" else located.kind
    return f"{kind}:{wire.source}:{wire.id}"


def identity_partition(identity: str, partitions: int) -> int:
    """The ``riskmon.identity`` partition of ``identity``: CRC-32 of its UTF-8 bytes, modulo
    ``partitions`` (stable across processes and versions, unlike Python's ``hash``).

    >>> identity_partition("incident:gimpo-fire:981", 4) == identity_partition(
    ...     "incident:gimpo-fire:981", 4)
    True
    """
    return zlib.crc32(identity.encode()) % partitions


def forget_after_s(
    located: LocatedEvent, params: ModelParams, event: Event | None = None
) -> float | None:
    """How long after its own time an identity can still matter; None: not at all (an incident
    type the city does not count). ``event``: its model event, when the caller has it already."""
    event = to_model_event(located.event) if event is None else event
    if isinstance(event, IncidentIn):
        domain = params.incident_domain.get(event.type)
        return None if domain is None else params.horizon_s(domain)
    return params.fact_horizon_s()


@dataclass(frozen=True, slots=True)
class Seen:
    """Where an identity was first placed, and until when it matters (epoch seconds)."""

    district: str
    until: float


@dataclass
class IdentityOutcome:
    forward: list[tuple[int, LocatedEvent]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


class IdentityLedger:
    """The identities of one ``riskmon.identity`` partition and the next offset to read."""

    def __init__(
        self, partition: int, next_offset: int = 0, seen: dict[str, Seen] | None = None
    ) -> None:
        self.partition = partition
        self.next_offset = next_offset
        self.seen: dict[str, Seen] = seen if seen is not None else {}

    def process(
        self,
        batch: Sequence[tuple[int, LocatedEvent]],
        params: ModelParams,
        max_identities: int,
    ) -> IdentityOutcome:
        """Decide each (offset, event) of ``batch`` in offset order (see the module)."""
        outcome = IdentityOutcome()
        for offset, located in batch:
            if offset < self.next_offset:
                outcome.count("redelivered")
                continue
            if offset > self.next_offset and self.next_offset > 0:
                outcome.gaps.append(Gap(self.next_offset, offset))
                outcome.count("gap")
            self.next_offset = offset + 1
            identity = identity_of(located)
            if identity is None:  # a reading sent here by an older ingest: nothing to decide
                outcome.forward.append((offset, located))
                outcome.count("forwarded")
                continue
            held = self.seen.get(identity)
            if held is None:
                event = to_model_event(located.event)  # once: the conversion is not free
                matters = forget_after_s(located, params, event)
                if matters is not None:
                    if len(self.seen) >= max_identities:
                        outcome.count("over_capacity")
                        outcome.conflicts.append(
                            Conflict(
                                offset,
                                located,
                                f"identity partition {self.partition} holds {len(self.seen)} "
                                f"identities, its limit (RISKMON_STATE_MAX_IDENTITIES): a "
                                "sender is making up ids, or the limit is too low",
                                "state_full",
                            )
                        )
                        continue
                    self.seen[identity] = Seen(located.district, event.t + matters)
                outcome.forward.append((offset, located))
                outcome.count("first")
            elif held.district == located.district:
                outcome.forward.append((offset, located))
                outcome.count("again")
            else:
                outcome.count("moved")
                outcome.conflicts.append(
                    Conflict(
                        offset,
                        located,
                        f"{identity.split(':', 1)[1]} was already counted in district "
                        f"{held.district}; this copy places it in {located.district}: events "
                        "are immutable, publish a correction under a new id",
                    )
                )
        return outcome

    def prune(self, at: float) -> int:
        """Forget identities that no longer matter at ``at`` (epoch seconds); how many."""
        gone = [identity for identity, seen in self.seen.items() if seen.until < at]
        for identity in gone:
            del self.seen[identity]
        return len(gone)

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "format": IDENTITY_FORMAT,
            "partition": self.partition,
            "next_offset": self.next_offset,
            "seen": {k: [v.district, v.until] for k, v in self.seen.items()},
        }

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> IdentityLedger:
        if data.get("format") != IDENTITY_FORMAT:
            raise ValueError(f"identity checkpoint format {data.get('format')!r} is not known")
        seen = {k: Seen(str(d), float(u)) for k, (d, u) in data["seen"].items()}
        return cls(int(data["partition"]), int(data["next_offset"]), seen)
