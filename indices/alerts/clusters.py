"""Incident clusters: active alerts of one domain in adjacent districts, shown as one thing.

Two active (firing or acknowledged) alerts are linked when they have the same domain and kind
(hazard rules — spike and threshold — together; stale feeds apart, since a dead sensor is not a
flood), their districts are the same or adjacent, and they fired within ``window_s`` of each
other. A cluster is a connected group of links, so chains count: A next to B next to C is one
cluster even if A and C do not touch, and three alerts fired 20 min apart form one cluster under
a 30 min window. Every active alert is in exactly one cluster (most are alone).

A cluster's id is its domain, kind, and the district and firing time (µs) of its first alert:
it stays the same while the cluster grows, and changes only if that alert resolves or an earlier
one joins. :class:`ClusterTracker` reports clusters formed, changed and dissolved between calls.

>>> from indices.alerts import AlertConfig, AlertEngine, Observation
>>> engine, config = AlertEngine.new(), AlertConfig()
>>> for t, district in ((0.0, "A"), (60.0, "B"), (90.0, "C")):
...     _ = engine.observe(Observation(district, "fire", t, 3.0, 2, spike=True), config)
>>> adjacency = {"A": frozenset("B"), "B": frozenset("AC"), "C": frozenset("B")}
>>> [(c.id, c.districts, c.severity.value) for c in
...  cluster_alerts(engine.open_alerts(), adjacency, window_s=600)]
[('fire:hazard:A:0', ('A', 'B', 'C'), 'Minor')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from indices.alerts.lifecycle import AlertSnapshot, AlertState
from indices.alerts.rules import Severity
from indices.errors import InvalidState

__all__ = ["Cluster", "ClusterChange", "ClusterTracker", "cluster_alerts"]

_ACTIVE: Final = (AlertState.FIRING, AlertState.ACKNOWLEDGED)


@dataclass(frozen=True)
class Cluster:
    """Alerts of one ``domain`` and ``kind`` (``"hazard"`` or ``"stale"``) that belong together:
    ``members`` are alert ids, ``districts`` their districts (both sorted), ``severity`` the
    highest, ``first_fired_at``/``last_fired_at`` the span of their firing times."""

    id: str
    domain: str
    kind: str
    members: tuple[str, ...]
    districts: tuple[str, ...]
    severity: Severity
    first_fired_at: float
    last_fired_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data :meth:`from_dict` reads back to an equal cluster."""
        return {
            "id": self.id,
            "domain": self.domain,
            "kind": self.kind,
            "members": list(self.members),
            "districts": list(self.districts),
            "severity": self.severity.value,
            "first_fired_at": self.first_fired_at,
            "last_fired_at": self.last_fired_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cluster:
        """The cluster :meth:`to_dict` wrote; raises :class:`~indices.errors.InvalidState`."""
        try:
            values = dict(data)
            values["members"] = tuple(str(m) for m in values["members"])
            values["districts"] = tuple(str(d) for d in values["districts"])
            values["severity"] = Severity(values["severity"])
            return cls(**values)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidState(f"cluster: {error}") from error


def cluster_alerts(
    alerts: Iterable[AlertSnapshot], adjacency: Mapping[str, frozenset[str]], window_s: float
) -> list[Cluster]:
    """Group the firing and acknowledged ``alerts`` into clusters, sorted by id.

    ``adjacency`` maps a district code to its neighbours (a missing district has none; one-sided
    entries count both ways); ``window_s`` may be ``math.inf`` to link every simultaneous alert.
    Pending and resolved alerts are left out.
    """
    groups: dict[tuple[str, str], list[AlertSnapshot]] = {}
    for alert in alerts:
        if alert.state in _ACTIVE and alert.fired_at is not None:
            groups.setdefault((alert.domain, alert.rule), []).append(alert)  # rule: the kind
    clusters: list[Cluster] = []
    for (domain, kind), members in groups.items():
        members.sort(key=_order)
        for component in _components(members, adjacency, window_s):
            clusters.append(_cluster(domain, kind, component))
    return sorted(clusters, key=lambda cluster: cluster.id)


def _order(alert: AlertSnapshot) -> tuple[float, str, str]:
    return (alert.fired_at or 0.0, alert.district, alert.id)


def _components(
    alerts: list[AlertSnapshot], adjacency: Mapping[str, frozenset[str]], window_s: float
) -> list[list[AlertSnapshot]]:
    """Connected components (union-find) of ``alerts``, sorted by firing time."""
    parent = list(range(len(alerts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, first in enumerate(alerts):
        for j in range(i + 1, len(alerts)):
            second = alerts[j]
            if (second.fired_at or 0.0) - (first.fired_at or 0.0) > window_s:
                break  # sorted by firing time: no later alert is within the window either
            if _touch(first.district, second.district, adjacency):
                parent[root(j)] = root(i)
    components: dict[int, list[AlertSnapshot]] = {}
    for i, alert in enumerate(alerts):
        components.setdefault(root(i), []).append(alert)
    return list(components.values())


def _touch(a: str, b: str, adjacency: Mapping[str, frozenset[str]]) -> bool:
    return a == b or b in adjacency.get(a, frozenset()) or a in adjacency.get(b, frozenset())


def _cluster(domain: str, kind: str, members: list[AlertSnapshot]) -> Cluster:
    """The cluster of ``members`` (sorted by firing time; the first one names it)."""
    first = members[0]
    fired = [alert.fired_at or 0.0 for alert in members]
    return Cluster(
        id=f"{domain}:{kind}:{first.district}:{round((first.fired_at or 0.0) * 1_000_000)}",
        domain=domain,
        kind=kind,
        members=tuple(sorted(alert.id for alert in members)),
        districts=tuple(sorted({alert.district for alert in members})),
        severity=max(alert.severity for alert in members),
        first_fired_at=min(fired),
        last_fired_at=max(fired),
    )


_Basis = tuple[str, str, str, str, float | None, Severity]
"""One active alert's part of what the clusters are made of."""


def _basis(alerts: Iterable[AlertSnapshot]) -> list[_Basis]:
    """Every field of the active ``alerts`` that :func:`cluster_alerts` reads, in their order."""
    return [
        (alert.id, alert.domain, alert.rule, alert.district, alert.fired_at, alert.severity)
        for alert in alerts
        if alert.state in _ACTIVE and alert.fired_at is not None
    ]


ClusterChangeKind = Literal["formed", "changed", "dissolved"]


@dataclass(frozen=True)
class ClusterChange:
    """A cluster that ``"formed"``, ``"changed"`` (members or severity) or ``"dissolved"``; a
    dissolved cluster whose alerts joined another one names it in ``into``."""

    what: ClusterChangeKind
    cluster: Cluster
    into: str | None = None


class ClusterTracker:
    """The clusters of the previous :meth:`update`, to report what changed since.

    Call :meth:`update` with the engine's open alerts after every batch of alert changes and
    publish the returned changes. Persist it with :meth:`to_dict` (or rebuild it with one
    :meth:`update` after a restart, at the cost of reporting every cluster as formed).
    """

    __slots__ = ("_basis", "_clusters")

    def __init__(self) -> None:
        """No clusters yet."""
        self._clusters: dict[str, Cluster] = {}
        # What the clusters of the last update were made of (see :func:`_basis`); not state:
        # a tracker read back by :meth:`from_dict` reclusters at its first update.
        self._basis: tuple[Mapping[str, frozenset[str]], float, list[_Basis]] | None = None

    def clusters(self) -> list[Cluster]:
        """The clusters of the last :meth:`update`, by id."""
        return [self._clusters[key] for key in sorted(self._clusters)]

    def update(
        self,
        alerts: Iterable[AlertSnapshot],
        adjacency: Mapping[str, frozenset[str]],
        window_s: float,
    ) -> list[ClusterChange]:
        """Recluster ``alerts`` (as :func:`cluster_alerts`) and return the changes: dissolved
        ones first, then formed and changed, each by id.

        The alert stage calls this after every score update, most of which change no active
        alert: when ``alerts`` hold the same active alerts, in the same order, as at the last
        update (and the same ``adjacency`` and ``window_s``), the clusters are the same and
        nothing changed, so the quadratic reclustering is skipped."""
        alerts = list(alerts)
        rows = _basis(alerts)
        last = self._basis
        if last is not None and last[0] is adjacency and last[1] == window_s and last[2] == rows:
            return []
        self._basis = (adjacency, window_s, rows)
        now = {cluster.id: cluster for cluster in cluster_alerts(alerts, adjacency, window_s)}
        home = {member: cluster.id for cluster in now.values() for member in cluster.members}
        changes: list[ClusterChange] = []
        for key in sorted(set(self._clusters) - set(now)):
            old = self._clusters[key]
            into = next((home[m] for m in old.members if m in home), None)
            changes.append(ClusterChange("dissolved", old, into))
        for key in sorted(now):
            before = self._clusters.get(key)
            if before is None:
                changes.append(ClusterChange("formed", now[key]))
            elif before != now[key]:
                changes.append(ClusterChange("changed", now[key]))
        self._clusters = now
        return changes

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data :meth:`from_dict` restores exactly."""
        return {"clusters": [cluster.to_dict() for cluster in self.clusters()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterTracker:
        """The tracker :meth:`to_dict` wrote; raises :class:`~indices.errors.InvalidState`."""
        tracker = cls()
        try:
            for item in data["clusters"]:
                cluster = Cluster.from_dict(item)
                tracker._clusters[cluster.id] = cluster
        except (KeyError, TypeError) as error:
            raise InvalidState(f"cluster tracker: {error}") from error
        return tracker

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterTracker):
            return NotImplemented
        return self._clusters == other._clusters

    __hash__ = None  # type: ignore[assignment]  # mutable
