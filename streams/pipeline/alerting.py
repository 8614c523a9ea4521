"""Alerting, the pure step: score updates and acknowledgements -> :class:`Alert` messages.

One :class:`CityAlerts` holds the alert state of the whole city: a spike detector per (district,
series) where a series is a domain's risk or the composite (:mod:`indices.detect`), the alert
engine with its lifecycle (:mod:`indices.alerts`) and the incident clusters of adjacent districts
(:mod:`indices.alerts.clusters`). It sees every district, so clusters may span partitions of the
scores topic; the agent feeds it from a single-partition topic. Explicit state, round-tripping
through :meth:`to_checkpoint`, and the clock is an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

from indices import IndicesError
from indices.alerts import (
    AlertChange,
    AlertConfig,
    AlertEngine,
    AlertSnapshot,
    AlertState,
    Observation,
)
from indices.alerts.clusters import ClusterTracker
from indices.detect import INDEX_PARAMS, DetectorParams, DetectorState
from indices.errors import InvalidState
from indices.taxonomy import SENSOR_DOMAIN
from streams.city.config import CityConfig
from streams.contract import AckRejection, AckResult, Alert, AlertAck, Driver, ScoreUpdate

_BY_ID = attrgetter("id")

COMPOSITE = "composite"


@dataclass(frozen=True)
class AlertingContext:
    """What alerting needs besides state: rules, detector parameters, the map."""

    config: AlertConfig
    detector: DetectorParams
    adjacency: Mapping[str, frozenset[str]]
    names: Mapping[str, str]
    cluster_window_s: float = 900.0

    @classmethod
    def for_city(cls, config: CityConfig) -> AlertingContext:
        """The context the worker uses for a city configuration."""
        city = config.city
        return cls(
            config=config.alerts,
            detector=INDEX_PARAMS,
            adjacency=city.adjacency(),
            names={code: info.name_ko for code, info in city.districts.items()},
        )


def _result(
    ack: AlertAck,
    outcome: Literal["applied", "rejected"],
    code: AckRejection | None,
    reason: str | None,
    now: datetime,
) -> AckResult:
    return AckResult(
        ack_id=ack.ack_id,
        alert_id=ack.alert_id,
        district=ack.district,
        who=ack.who,
        outcome=outcome,
        code=code,
        reason=reason,
        decided_at=now,
    )


def _time(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


Drivers = tuple[tuple[str, str, float], ...]  # (event id, type, contribution), largest first


def observations(
    update: ScoreUpdate,
    detectors: dict[str, DetectorState],
    params: DetectorParams,
    known: dict[str, Drivers] | None = None,
) -> list[Observation]:
    """One observation per series of ``update``, each with its detector's verdict.

    An update explains only the domains it names in ``contributors`` (those that changed), so
    ``known`` keeps each (district, domain)'s last explanation under ``"district/domain"``: a
    named domain replaces it, a domain without hazard has none, any other domain keeps it. The
    composite's drivers are the largest of all its domains' drivers, since every domain's hazard
    carries it.
    """
    known = {} if known is None else known
    t = update.as_of.timestamp()
    series: list[tuple[str, float, int, Drivers, tuple[Any, ...]]] = []
    everything: list[tuple[str, str, float]] = []
    for domain, score in update.domains.items():
        slot = f"{update.district}/{domain}"
        if domain in update.contributors:
            known[slot] = tuple(
                (d.event_id, d.type, d.contribution) for d in update.contributors[domain]
            )
        elif score.hazard == 0.0:
            known.pop(slot, None)
        drivers = known.get(slot, ())
        everything.extend(drivers)
        ages = tuple(
            (kind, age)
            for kind, age in sorted(update.freshness_s.items())
            if SENSOR_DOMAIN.get(kind) == domain
        )
        series.append((domain, score.risk, score.grade, drivers, ages))
    top = tuple(sorted(everything, key=lambda d: (-d[2], d[0]))[:5])
    series.append((COMPOSITE, update.composite.value, update.composite.grade, top, ()))
    out = []
    for name, value, grade, drivers, ages in series:
        detector = detectors.setdefault(f"{update.district}/{name}", DetectorState())
        seen = detector.update(t, value, params)
        out.append(
            Observation(
                district=update.district,
                domain=name,
                t=t,
                value=value,
                grade=grade,
                baseline=seen.baseline,
                spike_score=seen.likelihood,  # the alert holds while the point is unusual
                spike=seen.alarm,
                drivers=drivers,
                feed_ages=ages,
            )
        )
    return out


@dataclass
class CityAlerts:
    """Alert state of the city, with the next offset to read of each input topic."""

    next_offsets: dict[str, int] = field(default_factory=dict)
    detectors: dict[str, DetectorState] = field(default_factory=dict)
    engine: AlertEngine = field(default_factory=AlertEngine.new)
    tracker: ClusterTracker = field(default_factory=ClusterTracker)
    seqs: dict[str, int] = field(default_factory=dict)
    cluster_of: dict[str, str] = field(default_factory=dict)
    drivers: dict[str, Drivers] = field(default_factory=dict)  # "district/domain" -> last known
    # The engine's clock is the observations' (score updates' as_of), not the wall clock: the
    # newest as_of seen, and the wall-clock moment it was seen (see :meth:`event_time`).
    clock: tuple[float, float] | None = None
    # Whether ``cluster_of`` was built here from the tracker's clusters of the engine's alerts
    # as they are now (see :meth:`_publish`); not state: a restored CityAlerts rebuilds it once.
    clusters_current: bool = field(default=False, compare=False, repr=False)

    def fresh(self, topic: str, offset: int) -> bool:
        """True once per record: records below the next offset were applied before a crash."""
        if offset < self.next_offsets.get(topic, 0):
            return False
        self.next_offsets[topic] = offset + 1
        return True

    def event_time(self, now: datetime) -> float:
        """The engine's time for a tick at wall-clock ``now``: the newest observed ``as_of`` plus
        the wall time since it was seen, never past ``now``.

        Live, updates are seen as they are made, so this is ``now``. While a backlog is read
        (after a restart) it stays with the updates: a tick at wall-clock time would fire pending
        alerts, time spikes out and call feeds stale by the length of the backlog, and the next
        old update would undo it.
        """
        t = now.timestamp()
        if self.clock is None:
            return t
        newest, seen_at = self.clock
        return min(t, newest + max(0.0, t - seen_at))

    def observe(self, update: ScoreUpdate, ctx: AlertingContext, now: datetime) -> list[Alert]:
        as_of = update.as_of.timestamp()
        if self.clock is None or as_of >= self.clock[0]:
            self.clock = (as_of, now.timestamp())
        changes = []
        for obs in observations(update, self.detectors, ctx.detector, self.drivers):
            changes.extend(self.engine.observe(obs, ctx.config))
        return self._publish(changes, ctx, now)

    def acknowledge(
        self, ack: AlertAck, ctx: AlertingContext, now: datetime
    ) -> tuple[list[Alert], AckResult]:
        """Apply an operator's acknowledgement: the alert messages it causes and the decision.

        Rejected, with a code, when no open alert has the id (``not_open``), the alert belongs to
        another district (``wrong_district``), it is still pending (``not_firing``) or someone
        acknowledged it already (``already_acknowledged``, naming who and when).
        """
        alert = next((a for a in self.engine.open_alerts() if a.id == ack.alert_id), None)
        code: AckRejection | None = None
        if alert is None:
            code, why = "not_open", "it is not open: resolved, expired or never raised"
        elif alert.district != ack.district:
            code, why = "wrong_district", f"it belongs to district {alert.district}"
        elif alert.state is AlertState.PENDING:
            code, why = "not_firing", "it is still pending: its condition has not held long enough"
        elif alert.state is AlertState.ACKNOWLEDGED:
            at = _time(alert.acked_at)
            when = at.isoformat() if at is not None else "earlier"
            code, why = "already_acknowledged", f"{alert.acked_by} acknowledged it at {when}"
        else:
            why = ""
        if code is None:
            try:
                change = self.engine.acknowledge(
                    ack.alert_id, ack.who, ack.note or "", ack.at.timestamp()
                )
            except IndicesError as exc:  # the checks above mirror the engine's; never expected
                code, why = "not_open", str(exc)
            else:
                return self._publish([change], ctx, now), _result(ack, "applied", None, None, now)
        reason = f"acknowledgement of {ack.alert_id} by {ack.who} not applied: {why}"
        return [], _result(ack, "rejected", code, reason, now)

    def close_merged(self, ctx: AlertingContext, now: datetime) -> list[Alert]:
        """``expired`` messages for the alerts an older checkpoint had open that the engine
        merged into another on load (a spike and a threshold alert of one domain, from before
        hazard alerts): nothing else would ever close them for clients. Once."""
        merged, self.engine.merged_on_load = self.engine.merged_on_load, ()
        out = []
        for alert in merged:
            closed = dataclasses.replace(
                alert, state=AlertState.RESOLVED, resolved_at=now.timestamp(), resolution="merged"
            )
            out.append(self._message("expired", closed, ctx, now))
        return out

    def tick(self, ctx: AlertingContext, now: datetime) -> list[Alert]:
        return self._publish(self.engine.tick(self.event_time(now), ctx.config), ctx, now)

    def _publish(
        self, changes: Iterable[AlertChange], ctx: AlertingContext, now: datetime
    ) -> list[Alert]:
        """Alert messages for ``changes`` plus open alerts whose cluster changed.

        The engine reports every change of an open alert's state, severity or firing time (the
        fields clusters are made of) as an :class:`~indices.alerts.AlertChange`, and every
        change of the engine comes through here: with no change, the clusters are those of the
        last call and nothing is published. Most score updates change no alert, and looking at
        every open alert (sorting them, reclustering, comparing memberships) made an update
        cost O(open alerts): ~5 ms with 14,000 open in a 3,500-district city."""
        changes = list(changes)
        if not changes and self.clusters_current:
            return []
        return self._publish_all(changes, ctx, now)

    def _publish_all(
        self, changes: list[AlertChange], ctx: AlertingContext, now: datetime
    ) -> list[Alert]:
        """:meth:`_publish` looking at every open alert."""
        mapped, self.clusters_current = self.clusters_current, True
        latest = {change.alert.id: (change.what, change.alert) for change in changes}
        # The tracker sorts what it clusters itself; only the messages below go by id.
        open_alerts = self.engine.open_alerts(by_id=False)
        moved = self.tracker.update(open_alerts, ctx.adjacency, ctx.cluster_window_s)
        if moved or not mapped:  # else the same clusters, the same memberships
            clusters = {m: c.id for c in self.tracker.clusters() for m in c.members}
            for alert in sorted(open_alerts, key=_BY_ID):
                if clusters.get(alert.id) != self.cluster_of.get(alert.id):
                    latest.setdefault(alert.id, ("updated", alert))
            self.cluster_of = clusters
        return [self._message(what, alert, ctx, now) for what, alert in latest.values()]

    def _message(
        self, what: str, alert: AlertSnapshot, ctx: AlertingContext, now: datetime
    ) -> Alert:
        seq = self.seqs.get(alert.id, 0) + 1
        if alert.state.value == "resolved":
            self.seqs.pop(alert.id, None)
        else:
            self.seqs[alert.id] = seq
        opened = _time(alert.opened_at)
        assert opened is not None
        return Alert(
            id=alert.id,
            seq=seq,
            district=alert.district,
            name=ctx.names.get(alert.district, alert.district),
            domain=alert.domain,
            rule=alert.rule,
            triggers=list(alert.triggers),
            state=alert.state.value,
            change=what,
            severity=alert.severity.value,
            value=alert.value,
            baseline=alert.baseline,
            peak=alert.peak,
            opened_at=opened,
            fired_at=_time(alert.fired_at),
            acknowledged_at=_time(alert.acked_at),
            acknowledged_by=alert.acked_by,
            note=alert.acked_note or None,
            resolved_at=_time(alert.resolved_at),
            as_of=now,
            cluster=self.cluster_of.get(alert.id),
            drivers=[
                Driver(event_id=e, type=k, domain=alert.domain, contribution=c)
                for e, k, c in alert.drivers
            ],
        )

    # --- persistence ----------------------------------------------------------------------------
    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "next_offsets": dict(self.next_offsets),
            "detectors": {key: d.to_dict() for key, d in self.detectors.items()},
            "engine": self.engine.to_dict(),
            "tracker": self.tracker.to_dict(),
            "seqs": dict(self.seqs),
            "cluster_of": dict(self.cluster_of),
            "drivers": {key: [list(d) for d in known] for key, known in self.drivers.items()},
            "clock": None if self.clock is None else list(self.clock),
        }

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> CityAlerts:
        return cls(
            next_offsets={k: int(v) for k, v in data["next_offsets"].items()},
            detectors=_detectors(data["detectors"]),
            engine=AlertEngine.from_dict(data["engine"]),
            tracker=ClusterTracker.from_dict(data["tracker"]),
            seqs={k: int(v) for k, v in data["seqs"].items()},
            cluster_of=dict(data["cluster_of"]),
            drivers={  # absent from checkpoints written before it: start empty
                key: tuple((str(e), str(k), float(c)) for e, k, c in known)
                for key, known in data.get("drivers", {}).items()
            },
            clock=_clock(data.get("clock")),  # absent before 2026-12-03: the wall clock
        )


def _detectors(data: Mapping[str, Any]) -> dict[str, DetectorState]:
    """The checkpointed detector states; none if they were written by another detector version
    (``InvalidState``): every series then starts a fresh detector, which warms up in 20 points."""
    try:
        return {key: DetectorState.from_dict(value) for key, value in data.items()}
    except InvalidState:
        return {}


def _clock(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    newest, seen_at = value
    return float(newest), float(seen_at)
