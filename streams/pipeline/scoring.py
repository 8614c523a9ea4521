"""Scoring, the pure step: located events -> per-district index state -> :class:`ScoreUpdate`s.

One :class:`PartitionScorer` owns the districts of one partition of the located-events topic. It is
explicit state (round-trips through :meth:`to_checkpoint` / :meth:`from_checkpoint`) and never reads
the clock: the agent passes ``now``. The index model itself is :mod:`indices`; this module only
converts wire messages into its inputs and its results into wire messages.

Idempotency has two layers:

* by position: records at offsets below ``next_offset`` are already in the state and are skipped
  (redelivery after a crash or a seek);
* by identity: incidents and safety facts are deduplicated by ``source:id`` inside
  :class:`indices.DistrictState`, so an agency re-sending an event never counts it twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from indices import (
    MODEL_VERSION,
    District,
    DistrictState,
    Event,
    FacilityIn,
    IncidentIn,
    InspectionIn,
    ModelParams,
    ReadingIn,
    Scores,
    StateLimits,
    WithdrawIn,
)
from indices.config import params_to_mapping
from indices.taxonomy import SENSOR_DOMAIN
from streams.contract import (
    Basis,
    Composite,
    Delta,
    DistrictScores,
    DomainScore,
    Driver,
    GroupScore,
    Incident,
    IncidentWithdrawal,
    InputEvent,
    InspectionFact,
    LocatedEvent,
    ScoreUpdate,
    SensorReading,
)

MAX_DRIVERS = 25
MAX_CONTRIBUTORS = 5
Reason = Literal["events", "tick", "recovered"]


def to_model_event(event: InputEvent) -> Event:
    """The :mod:`indices` input for a validated wire event."""
    if isinstance(event, IncidentWithdrawal):
        return WithdrawIn(
            key=f"{event.source}:{event.id}", type=event.type, t=event.withdrawn_at.timestamp()
        )
    if isinstance(event, Incident):
        return IncidentIn(
            key=f"{event.source}:{event.id}",
            type=event.type,
            severity=event.severity,
            t=event.occurred_at.timestamp(),
            casualties=event.casualties,
        )
    if isinstance(event, SensorReading):
        return ReadingIn(
            sensor_id=event.sensor_id,
            kind=event.kind,
            value=event.value,
            t=event.observed_at.timestamp(),
        )
    if isinstance(event, InspectionFact):
        return InspectionIn(
            key=f"{event.source}:{event.id}",
            structure_id=event.structure_id,
            grade=event.grade,
            t=event.effective_at.timestamp(),
        )
    return FacilityIn(
        key=f"{event.source}:{event.id}",
        facility_id=event.facility_id,
        facility=event.facility,
        present=event.action == "added",
        t=event.effective_at.timestamp(),
    )


def driver_identity(event: Event, params: ModelParams) -> tuple[str, str, str]:
    """(event_id, type, domain) of a model event, as shown to operators."""
    if isinstance(event, IncidentIn):
        return event.key, event.type, params.incident_domain[event.type]
    if isinstance(event, ReadingIn):
        return event.sensor_id, event.kind, SENSOR_DOMAIN[event.kind]
    if isinstance(event, InspectionIn):
        return event.key, "inspection", "safety"
    if isinstance(event, WithdrawIn):
        return event.key, "withdrawal", params.incident_domain.get(event.type, "none")
    return event.key, f"facility:{event.facility}", "safety"


@dataclass(frozen=True)
class ScoringContext:
    """What scoring needs besides state: the districts, the model parameters and how much a
    district's state may hold (not part of the model)."""

    districts: Mapping[str, District]
    params: ModelParams
    limits: StateLimits = field(default_factory=StateLimits)


@dataclass(frozen=True)
class Published:
    """What ``delta`` and the tick's change test need from a district's last publication."""

    composite: float
    safety: float
    risks: dict[str, float]

    @classmethod
    def of(cls, scores: Scores) -> Published:
        return cls(
            scores.composite, scores.safety, {name: d.risk for name, d in scores.domains.items()}
        )

    def change(self, scores: Scores) -> float:
        """Largest absolute change across composite, safety and domain risks."""
        changes = [abs(scores.composite - self.composite), abs(scores.safety - self.safety)]
        changes += [abs(d.risk - self.risks[name]) for name, d in scores.domains.items()]
        return max(changes)

    def to_dict(self) -> dict[str, Any]:
        return {"composite": self.composite, "safety": self.safety, "risks": self.risks}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Published:
        return cls(data["composite"], data["safety"], dict(data["risks"]))


@dataclass
class DistrictSlot:
    """A district's model state plus what was last published for it (for seq and delta)."""

    state: DistrictState
    seq: int = 0
    last: Published | None = None


@dataclass(frozen=True)
class Conflict:
    """A located event the scorer cannot count (it is dead-lettered): its id was already
    counted with different content (``conflict``), or its district is not one of the city's
    (``unknown_district``: a record of another configuration, or forged)."""

    offset: int
    event: LocatedEvent
    reason: str
    error: Literal["conflict", "unknown_district", "state_full"] = "conflict"


@dataclass(frozen=True)
class Gap:
    """Offsets of the located-events log the scorer never saw: the log lost them (retention,
    a truncated partition) or a consumer skipped them. Counted and logged, never silent."""

    start: int  # first missing offset
    end: int  # first offset seen after them


@dataclass
class BatchOutcome:
    updates: list[ScoreUpdate] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)


def model_fingerprint(params: ModelParams) -> str:
    """Identifies the model and its parameters; a checkpoint made under another is not reused
    (e.g. its decayed sums were computed with other half-lives)."""
    text = json.dumps([MODEL_VERSION, params_to_mapping(params)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def city_fingerprint(codes: Iterable[str]) -> str:
    """Identifies the districts one located partition holds: a checkpoint of a partition that
    held other districts (the city's district list or the partition count changed, which remaps
    districts to partitions) is not reused.

    >>> city_fingerprint(["b", "a"]) == city_fingerprint(["a", "b"]) != city_fingerprint(["a"])
    True
    """
    text = json.dumps(sorted(codes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def next_seq(previous: int, now: datetime) -> int:
    """Per-district sequence: microseconds of ``now``, and always above ``previous``.

    Tied to time so that a restarted worker, which resumes from a checkpoint taken before its last
    publications, still publishes numbers above everything it published before the crash.
    """
    return max(previous + 1, int(now.timestamp() * 1_000_000))


class PartitionScorer:
    """Index state of the districts of one located-events partition."""

    def __init__(
        self,
        partition: int,
        codes: Iterable[str],
        next_offset: int = 0,
        slots: dict[str, DistrictSlot] | None = None,
    ) -> None:
        self.partition = partition
        self.next_offset = next_offset
        self.slots: dict[str, DistrictSlot] = slots if slots is not None else {}
        for code in codes:
            self.slots.setdefault(code, DistrictSlot(DistrictState.new()))

    # --- events ---------------------------------------------------------------------------------
    def process(
        self, batch: Sequence[tuple[int, LocatedEvent]], ctx: ScoringContext, now: datetime
    ) -> BatchOutcome:
        """Apply a batch (offset, event) in offset order; one update per touched district."""
        outcome = BatchOutcome()
        touched: dict[str, list[Event]] = {}
        for offset, located in batch:
            if offset < self.next_offset:
                self._count(outcome, "redelivered")
                continue
            if offset > self.next_offset and self.next_offset > 0:
                # (a scorer that starts at 0 may begin past the log's retained start)
                outcome.gaps.append(Gap(self.next_offset, offset))
                self._count(outcome, "gap")
            self.next_offset = offset + 1
            if located.district not in ctx.districts:
                self._count(outcome, "unknown_district")
                outcome.conflicts.append(
                    Conflict(
                        offset,
                        located,
                        f"district {located.district} is not one of the city's "
                        f"{len(ctx.districts)} districts (another city configuration?)",
                        "unknown_district",
                    )
                )
                continue
            slot = self.slots.setdefault(located.district, DistrictSlot(DistrictState.new()))
            event = to_model_event(located.event)
            result = slot.state.apply(event, ctx.params, ctx.limits)
            self._count(outcome, result)
            if result == "applied":
                touched.setdefault(located.district, []).append(event)
            elif result == "over_capacity":
                sizes = slot.state.sizes()
                outcome.conflicts.append(
                    Conflict(
                        offset,
                        located,
                        f"district {located.district}'s state is full for this {located.kind} "
                        f"(it holds {sizes['incidents']} incidents, {sizes['sensors']} sensors, "
                        f"{sizes['facts']} safety facts; limits {ctx.limits.max_incidents}, "
                        f"{ctx.limits.max_sensors}, {ctx.limits.max_facts}): a sender is making "
                        "up ids, or the limits (RISKMON_STATE_MAX_*) are too low",
                        "state_full",
                    )
                )
            elif result == "conflict":
                event_id = driver_identity(event, ctx.params)[0]
                outcome.conflicts.append(
                    Conflict(
                        offset,
                        located,
                        (
                            f"{located.kind} {event_id} was already counted with other content; "
                            "events are immutable: publish a correction under a new id"
                        ),
                    )
                )
        for code, events in touched.items():
            outcome.updates.append(self._publish(code, ctx, now, "events", events))
        return outcome

    # --- time -----------------------------------------------------------------------------------
    def tick(self, ctx: ScoringContext, now: datetime, min_change: float) -> list[ScoreUpdate]:
        """Re-evaluate every district at ``now``; an update for each that moved by > min_change."""
        updates = []
        at = now.timestamp()
        for code, slot in sorted(self.slots.items()):
            slot.state.prune(ctx.params, at)
            scores = slot.state.evaluate(ctx.districts[code], ctx.params, at)
            if slot.last is None or slot.last.change(scores) > min_change:
                updates.append(self._publish(code, ctx, now, "tick", [], scores))
        return updates

    def publish_all(
        self, ctx: ScoringContext, now: datetime, reason: Reason = "recovered"
    ) -> list[ScoreUpdate]:
        """An update for every district (after start or recovery, so every gateway has them)."""
        return [self._publish(code, ctx, now, reason, []) for code in sorted(self.slots)]

    def _publish(
        self,
        code: str,
        ctx: ScoringContext,
        now: datetime,
        reason: Reason,
        events: Sequence[Event],
        scores: Scores | None = None,
    ) -> ScoreUpdate:
        slot = self.slots[code]
        slot.seq = next_seq(slot.seq, now)
        update, slot.last = make_update(
            ctx.districts[code],
            slot.state,
            ctx.params,
            now,
            reason=reason,
            events=events,
            last=slot.last,
            seq=slot.seq,
            basis=Basis(partition=self.partition, next_offset=self.next_offset),
            scores=scores,
        )
        return update

    @staticmethod
    def _count(outcome: BatchOutcome, what: str) -> None:
        outcome.counts[what] = outcome.counts.get(what, 0) + 1

    # --- persistence ----------------------------------------------------------------------------
    def to_checkpoint(self, fingerprint: str) -> dict[str, Any]:
        """JSON-safe state: everything needed to resume exactly where this scorer is now, with
        the fingerprints of the model and of the districts it was computed for."""
        return {
            "partition": self.partition,
            "next_offset": self.next_offset,
            "model_version": MODEL_VERSION,
            "model_fingerprint": fingerprint,
            "city_fingerprint": city_fingerprint(self.slots),
            "districts": {
                code: {
                    "state": slot.state.to_dict(),
                    "seq": slot.seq,
                    "last": slot.last.to_dict() if slot.last else None,
                }
                for code, slot in self.slots.items()
            },
        }

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any], codes: Iterable[str]) -> PartitionScorer:
        slots = {
            code: DistrictSlot(
                DistrictState.from_dict(entry["state"]),
                int(entry["seq"]),
                Published.from_dict(entry["last"]) if entry["last"] else None,
            )
            for code, entry in data["districts"].items()
        }
        return cls(int(data["partition"]), codes, int(data["next_offset"]), slots)


def make_update(
    district: District,
    state: DistrictState,
    params: ModelParams,
    now: datetime,
    *,
    reason: Reason,
    events: Sequence[Event],
    last: Published | None,
    seq: int,
    basis: Basis | None,
    scores: Scores | None = None,
    model_version: str = MODEL_VERSION,
) -> tuple[ScoreUpdate, Published]:
    """A district's :class:`ScoreUpdate` at ``now`` after ``events`` were applied to ``state``,
    with ``delta`` against ``last`` (what was published before); also what it publishes.

    The worker and replay both make their updates here, so a replay reproduces the live ones.
    """
    at = now.timestamp()
    if scores is None:
        scores = state.evaluate(district, params, at)
    # (-contribution, event_id, type, domain): sorted as tuples, and only the first MAX_DRIVERS
    # become wire objects (a busy batch has hundreds of events per district).
    moved = []
    for event in events:
        event_id, kind, domain = driver_identity(event, params)
        moved.append((-state.contribution(event, district, params, at), event_id, kind, domain))
    moved.sort(key=lambda m: (m[0], m[1]))
    drivers = [
        Driver(event_id=event_id, type=kind, domain=domain, contribution=-negative)
        for negative, event_id, kind, domain in moved[:MAX_DRIVERS]
    ]
    previous = last or Published.of(scores)
    delta = Delta(
        composite=scores.composite - previous.composite,
        safety=scores.safety - previous.safety,
        domains={n: d.risk - previous.risks[n] for n, d in scores.domains.items()},
    )
    # A recovered update may be a gateway's first: explain every domain with a hazard.
    changed = (
        None
        if reason == "recovered"
        else ({n for n, v in delta.domains.items() if v != 0.0} | {m[3] for m in moved})
    )
    base = build_scores(district, state, params, now, scores, changed, model_version)
    update = ScoreUpdate(
        **dict(base),
        seq=seq,
        reason=reason,
        delta=delta,
        drivers=drivers,
        basis=basis,
    )
    return update, Published.of(scores)


def build_scores(
    district: District,
    state: DistrictState,
    params: ModelParams,
    now: datetime,
    scores: Scores | None = None,
    explain: Iterable[str] | None = None,
    model_version: str = MODEL_VERSION,
) -> DistrictScores:
    """The wire form of a district's scores at ``now``, with the current contributors of the
    domains in ``explain`` (every domain with a hazard when None)."""
    at = now.timestamp()
    scores = scores or state.evaluate(district, params, at)
    domains = (
        sorted(explain)
        if explain is not None
        else [n for n, d in scores.domains.items() if d.hazard > 0]
    )
    contributors = {
        name: [
            Driver(event_id=event_id, type=kind, domain=name, contribution=value)
            for event_id, kind, value in state.drivers(
                name, district, params, at, limit=MAX_CONTRIBUTORS
            )
        ]
        for name in domains
        if name in scores.domains
    }
    return DistrictScores(
        district=district.code,
        name=district.name,
        as_of=now,
        model_version=model_version,
        composite=Composite(value=scores.composite, grade=scores.grade),
        domains={
            name: DomainScore(
                hazard=d.hazard,
                risk=d.risk,
                grade=d.grade,
                intensity=d.intensity,
                sensor_hazard=d.sensor_hazard,
            )
            for name, d in scores.domains.items()
        },
        groups={
            name: GroupScore(hazard=g.hazard, risk=g.risk, grade=g.grade)
            for name, g in scores.groups.items()
        },
        vulnerability=scores.vulnerability,
        coping_lack=scores.coping_lack,
        safety=scores.safety,
        confidence=scores.confidence,
        freshness_s=dict(scores.freshness_s),
        stale_feeds=list(scores.stale_feeds),
        events=scores.events,
        contributors=contributors,
    )
