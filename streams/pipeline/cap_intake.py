"""CAP intake, the pure step: ``riskmon.cap`` records -> incidents started and withdrawn.

One :class:`CapIntake` per ``riskmon.cap`` partition. Agencies key their CAP messages by sender
(``riskmon publish`` does), so every message of one sender — an Alert, the Updates that supersede
it, the Cancel that withdraws it — meets the same intake and its :class:`~streams.cap.CapLedger`,
in whatever order they arrive. For each record:

* the XML is read by :func:`~streams.cap.parse_cap` (safe: no DTD, entity, network or XInclude;
  size-capped); a refused or invalid message becomes a dead letter naming the element;
* the ledger says what started and what ended (Update supersedes, Cancel withdraws, ``expires``
  or the default time-to-live ends an alert; redeliveries are no-ops);
* an alert that **starts** becomes one :class:`~streams.contract.Incident` per district it covers
  (:func:`~streams.cap.incidents_of`: ``IDENTIFIER@DISTRICT`` from source ``SENDER``, so the
  district panel names the alert as the driver); an alert of no mapped type, or covering no
  district of the city, is counted and changes no index (an overlay);
* an alert that **ends** becomes one :class:`~streams.contract.IncidentWithdrawal` per incident
  it started: from then on the incident counts for nothing (:class:`indices.WithdrawIn`).

Both are :class:`~streams.contract.LocatedEvent` s for ``riskmon.identity``: a withdrawal has its
incident's identity, so the two meet in one identity partition and then in one district's state.
:meth:`CapIntake.tick` ends expired alerts when no message arrives. The clock is an argument; the
state (ledger, the incidents each alert started, the next offset) round-trips through
:meth:`CapIntake.to_checkpoint` / :meth:`CapIntake.from_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from streams.cap import (
    CapAlert,
    CapError,
    CapLedger,
    LedgerChange,
    classify,
    cover,
    incidents_of,
    parse_cap,
)
from streams.cap.areas import GeocodeTable
from streams.cap.errors import CapRefused
from streams.city.map import CityMap
from streams.contract import DeadLetter, IncidentWithdrawal, LocatedEvent
from streams.contract.deadletters import RawRecord, dead_letter
from streams.pipeline.scoring import Gap

__all__ = ["CAP_INTAKE_FORMAT", "CapIntake", "CapOutcome", "Made"]

CAP_INTAKE_FORMAT = 1
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Made:
    """An incident an alert started: its id (``IDENTIFIER@DISTRICT``), district and type."""

    id: str
    district: str
    type: str


@dataclass
class CapOutcome:
    """What a batch or a tick produced: events for ``riskmon.identity``, dead letters, counts."""

    located: list[LocatedEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # leniencies and unplaced areas, for the log

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def _key_text(key: Key) -> str:
    return f"{key[0]},{key[1]}"


def _key_of(text: str) -> Key:
    sender, identifier = text.split(",")
    return (sender, identifier)


class CapIntake:
    """The CAP messages of one ``riskmon.cap`` partition (see the module's docstring)."""

    def __init__(
        self,
        partition: int,
        next_offset: int = 0,
        ledger: CapLedger | None = None,
        made: dict[Key, list[Made]] | None = None,
    ) -> None:
        self.partition = partition
        self.next_offset = next_offset
        self.ledger = ledger if ledger is not None else CapLedger()
        self.made: dict[Key, list[Made]] = made if made is not None else {}

    def process(
        self,
        batch: Sequence[tuple[int, RawRecord]],
        city: CityMap,
        now: datetime,
        *,
        tables: GeocodeTable | None = None,
    ) -> CapOutcome:
        """Read each (offset, record) of ``batch`` in offset order at ``now``."""
        outcome = CapOutcome()
        for offset, raw in batch:
            if offset < self.next_offset:
                outcome.count("redelivered")
                continue
            if offset > self.next_offset and self.next_offset > 0:
                outcome.gaps.append(Gap(self.next_offset, offset))
                outcome.count("gap")
            self.next_offset = offset + 1
            self._one(raw, city, now, tables, outcome)
        return outcome

    def tick(self, now: datetime) -> CapOutcome:
        """End the alerts whose time is up at ``now`` (withdrawing their incidents)."""
        outcome = CapOutcome()
        self._act(self.ledger.advance(now), None, None, None, now, outcome)
        self._forget()
        return outcome

    def _one(
        self,
        raw: RawRecord,
        city: CityMap,
        now: datetime,
        tables: GeocodeTable | None,
        outcome: CapOutcome,
    ) -> None:
        try:
            parsed = parse_cap(raw.value or b"")
        except CapError as exc:
            kind: Literal["cap_refused", "schema"] = (
                "cap_refused" if isinstance(exc, CapRefused) else "schema"
            )
            outcome.dead.append(dead_letter(raw, kind, f"CAP message: {exc}", now))
            outcome.count(kind)
            return
        alert = parsed.alert
        origin = f"{raw.topic}/{raw.partition}/{raw.offset}"
        outcome.notes += [f"{origin} {alert.identifier}: {note}" for note in parsed.leniencies]
        if alert.status != "Actual":
            outcome.count(f"status_{alert.status.lower()}")
        changes = self.ledger.apply(alert, now)
        self._act(changes, alert, city, tables, now, outcome, origin=origin)
        self._forget()
        outcome.count("read")

    def _act(
        self,
        changes: Sequence[LedgerChange],
        alert: CapAlert | None,
        city: CityMap | None,
        tables: GeocodeTable | None,
        now: datetime,
        outcome: CapOutcome,
        *,
        origin: str = "cap-ledger",
    ) -> None:
        for change in changes:
            if change.change == "started":
                assert alert is not None  # only apply() starts an alert: the one applied
                assert city is not None
                self._start(alert, city, tables, now, origin, outcome)
            else:
                self._end(change, alert, now, origin, outcome)

    def _start(
        self,
        alert: CapAlert,
        city: CityMap,
        tables: GeocodeTable | None,
        now: datetime,
        origin: str,
        outcome: CapOutcome,
    ) -> None:
        classification = classify(alert)
        coverage = cover(alert, city, tables)
        outcome.notes += [f"{origin} {alert.identifier}: {note}" for note in coverage.notes]
        if coverage.unmatched:
            outcome.notes.append(
                f"{origin} {alert.identifier}: geocodes placed in no district: "
                + ", ".join(f"{p.name}={p.value}" for p in coverage.unmatched[:10])
            )
        incidents = incidents_of(alert, coverage, classification)
        if not incidents:
            outcome.count("overlay" if coverage.shares else "outside_city")
            return
        made = []
        for incident in incidents:
            assert incident.code is not None
            outcome.located.append(
                LocatedEvent(
                    kind="incident",
                    district=incident.code,
                    received_at=now,
                    origin=origin,
                    incident=incident,
                )
            )
            made.append(Made(incident.id, incident.code, incident.type))
        self.made[alert.key] = made
        outcome.count("started")
        outcome.count("incidents", len(made))

    def _end(
        self,
        change: LedgerChange,
        alert: CapAlert | None,
        now: datetime,
        origin: str,
        outcome: CapOutcome,
    ) -> None:
        made = self.made.pop(change.key, [])
        if change.reason == "expired" or alert is None:
            entry = self.ledger.entries.get(change.key)
            at = entry.ends_at if entry is not None else now
        else:
            at = alert.sent
        reason: Literal["cancelled", "superseded", "expired"] = (
            change.reason if change.reason in ("cancelled", "superseded") else "expired"
        )
        by = None if change.by is None else _key_text(change.by)
        for item in made:
            withdrawal = IncidentWithdrawal(
                source=change.key[0][:128],
                id=item.id,
                type=item.type,
                withdrawn_at=at,
                reason=reason,
                by=by,
            )
            outcome.located.append(
                LocatedEvent(
                    kind="withdrawal",
                    district=item.district,
                    received_at=now,
                    origin=origin,
                    withdrawal=withdrawal,
                )
            )
        outcome.count(f"ended_{reason}")
        outcome.count("withdrawals", len(made))

    def _forget(self) -> None:
        """Drop what ended alerts started once the ledger forgot them."""
        for key in [k for k in self.made if k not in self.ledger.entries]:
            del self.made[key]

    # --- checkpoints ------------------------------------------------------------------------------
    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "format": CAP_INTAKE_FORMAT,
            "partition": self.partition,
            "next_offset": self.next_offset,
            "ledger": self.ledger.to_dict(),
            "made": {
                _key_text(key): [[m.id, m.district, m.type] for m in made]
                for key, made in sorted(self.made.items())
            },
        }

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> CapIntake:
        if data.get("format") != CAP_INTAKE_FORMAT:
            raise ValueError(f"CAP intake checkpoint format {data.get('format')!r}")
        made = {
            _key_of(key): [Made(str(i), str(d), str(t)) for i, d, t in rows]
            for key, rows in data["made"].items()
        }
        return cls(
            int(data["partition"]),
            int(data["next_offset"]),
            CapLedger.from_dict(data["ledger"]),
            made,
        )
