"""Incident clusters: adjacency, domains, transitive chains, the time window, the tracker."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indices.alerts import AlertSnapshot, AlertState, Severity
from indices.alerts import clusters as clusters_module
from indices.alerts.clusters import Cluster, ClusterTracker, cluster_alerts
from indices.errors import InvalidState

# A row of districts A-B-C-D plus an island X; B also touches E.
ADJACENCY = {
    "A": frozenset({"B"}),
    "B": frozenset({"A", "C", "E"}),
    "C": frozenset({"B", "D"}),
    "D": frozenset({"C"}),
    "E": frozenset({"B"}),
    "X": frozenset(),
}
WINDOW = 1800.0


def alert(
    district: str,
    fired_at: float | None,
    *,
    domain: str = "fire",
    rule: str = "hazard",
    triggers: tuple[str, ...] = (),
    state: AlertState = AlertState.FIRING,
    severity: Severity = Severity.MODERATE,
) -> AlertSnapshot:
    """An alert of kind ``rule`` ("hazard" or "stale"), by default opened by the threshold rule
    (or the stale rule) and still held."""
    opened = fired_at or 0.0
    triggers = triggers or (("stale",) if rule == "stale" else ("threshold",))
    return AlertSnapshot(
        id=f"{district}:{domain}:{rule}:{round(opened * 1e6)}",
        district=district,
        domain=domain,
        rule=rule,
        state=state,
        severity=severity,
        value=5.0,
        baseline=1.0,
        peak=5.0,
        opened_at=opened,
        last_update=opened,
        observations=1,
        drivers=(),
        holding=((triggers[0], opened),),
        active=triggers,
        triggers=triggers,
        reported_peak=5.0,
        reported_severity=severity,
        fired_at=fired_at,
    )


def shape(clusters: list[Cluster]) -> list[tuple[str, ...]]:
    return [cluster.districts for cluster in clusters]


def test_adjacent_alerts_of_one_domain_are_one_cluster() -> None:
    (cluster,) = cluster_alerts(
        [alert("A", 100.0), alert("B", 160.0, severity=Severity.EXTREME)], ADJACENCY, WINDOW
    )
    assert cluster.districts == ("A", "B")
    assert cluster.members == ("A:fire:hazard:100000000", "B:fire:hazard:160000000")
    assert (cluster.severity, cluster.first_fired_at, cluster.last_fired_at) == (
        Severity.EXTREME,
        100.0,
        160.0,
    )
    assert cluster.id == "fire:hazard:A:100000000"


def test_non_adjacent_alerts_are_two_clusters() -> None:
    clusters = cluster_alerts(
        [alert("A", 0.0), alert("C", 0.0), alert("X", 0.0)], ADJACENCY, WINDOW
    )
    assert shape(clusters) == [("A",), ("C",), ("X",)]


def test_different_domains_and_stale_feeds_stay_apart() -> None:
    alerts = [
        alert("A", 0.0),
        alert("B", 10.0, domain="crime"),
        alert("B", 20.0, rule="stale"),  # next to A's fire alert, but a feed, not a fire
        alert("E", 30.0, triggers=("spike",)),  # opened by the spike: joins A (via B)
        alert("B", 40.0, triggers=("spike", "threshold")),
    ]
    clusters = cluster_alerts(alerts, ADJACENCY, WINDOW)
    assert [(c.id, c.kind, c.members) for c in clusters] == [
        ("crime:hazard:B:10000000", "hazard", ("B:crime:hazard:10000000",)),
        (
            "fire:hazard:A:0",
            "hazard",
            ("A:fire:hazard:0", "B:fire:hazard:40000000", "E:fire:hazard:30000000"),
        ),
        ("fire:stale:B:20000000", "stale", ("B:fire:stale:20000000",)),
    ]


def test_chains_are_transitive_in_space_and_time() -> None:
    chain = [alert("A", 0.0), alert("B", 1500.0), alert("C", 3000.0), alert("D", 4500.0)]
    (cluster,) = cluster_alerts(chain, ADJACENCY, WINDOW)  # A and D: far apart, 75 min apart
    assert cluster.districts == ("A", "B", "C", "D")
    # Without B the chain breaks in space; C and D still touch.
    assert shape(cluster_alerts([chain[0], *chain[2:]], ADJACENCY, WINDOW)) == [("A",), ("C", "D")]


def test_the_time_window() -> None:
    assert shape(cluster_alerts([alert("A", 0.0), alert("B", 1800.0)], ADJACENCY, WINDOW)) == [
        ("A", "B")
    ]
    late = [alert("A", 0.0), alert("B", 1800.5)]
    assert shape(cluster_alerts(late, ADJACENCY, WINDOW)) == [("A",), ("B",)]
    assert shape(cluster_alerts(late, ADJACENCY, math.inf)) == [("A", "B")]


def test_only_firing_and_acknowledged_alerts_count() -> None:
    alerts = [
        alert("A", 0.0, state=AlertState.ACKNOWLEDGED),
        alert("B", None, state=AlertState.PENDING),
        alert("C", 10.0, state=AlertState.RESOLVED),
        alert("E", 20.0),
    ]
    assert shape(cluster_alerts(alerts, ADJACENCY, WINDOW)) == [("A",), ("E",)]


def test_one_sided_adjacency_counts_both_ways() -> None:
    one_sided = {"A": frozenset({"B"})}
    clusters = cluster_alerts([alert("B", 0.0), alert("A", 5.0)], one_sided, WINDOW)
    assert [(c.id, c.districts) for c in clusters] == [("fire:hazard:B:0", ("A", "B"))]


def test_the_tracker_reports_formed_changed_and_dissolved() -> None:
    tracker = ClusterTracker()
    a, c, b = alert("A", 0.0), alert("C", 60.0), alert("B", 120.0)
    assert [(x.what, x.cluster.id) for x in tracker.update([a, c], ADJACENCY, WINDOW)] == [
        ("formed", "fire:hazard:A:0"),
        ("formed", "fire:hazard:C:60000000"),
    ]
    assert tracker.update([a, c], ADJACENCY, WINDOW) == []
    merged = tracker.update([a, c, b], ADJACENCY, WINDOW)  # B bridges A and C
    assert [(x.what, x.cluster.id, x.into) for x in merged] == [
        ("dissolved", "fire:hazard:C:60000000", "fire:hazard:A:0"),
        ("changed", "fire:hazard:A:0", None),
    ]
    restored = ClusterTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    assert restored == tracker
    gone = restored.update([], ADJACENCY, WINDOW)
    assert [(x.what, x.into) for x in gone] == [("dissolved", None)]
    assert restored.clusters() == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ABCDEX"), st.floats(0, 7200), st.sampled_from(("fire", "crime"))
        ),
        max_size=12,
        unique_by=lambda item: (item[0], item[2]),
    ),
    st.randoms(use_true_random=False),
)
def test_clusters_partition_the_alerts_whatever_the_order(
    items: list[tuple[str, float, str]], rng: random.Random
) -> None:
    alerts = [alert(district, t, domain=domain) for district, t, domain in items]
    clusters = cluster_alerts(alerts, ADJACENCY, WINDOW)
    shuffled = list(alerts)
    rng.shuffle(shuffled)
    assert cluster_alerts(shuffled, ADJACENCY, WINDOW) == clusters
    members = [m for cluster in clusters for m in cluster.members]
    assert sorted(members) == sorted(a.id for a in alerts)
    assert len({cluster.id for cluster in clusters}) == len(clusters)


def _recluster_always(tracker: ClusterTracker) -> ClusterTracker:
    """``tracker`` made to forget what its last clusters were made of before every update."""

    class Forgetful(ClusterTracker):
        def update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self._basis = None
            return super().update(*args, **kwargs)

    twin = Forgetful()
    twin._clusters = dict(tracker._clusters)
    return twin


STEP = st.sampled_from(("same", "same", "add", "drop", "resolve", "severity", "adjacency"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(STEP, st.sampled_from("ABCDEX"), st.floats(0, 3600)), max_size=30))
def test_the_tracker_skipping_unchanged_alerts_equals_reclustering_every_time(
    steps: list[tuple[str, str, float]],
) -> None:
    """The tracker skips reclustering when the active alerts are those of its last update: its
    changes must be exactly those of a tracker that reclusters every time (the oracle), whatever
    happens between updates: the same alerts again, one more or fewer, one resolved (no longer
    active: its cluster dissolves), a severity raised (its cluster changes), another adjacency."""
    tracker, oracle = ClusterTracker(), _recluster_always(ClusterTracker())
    alerts: list[AlertSnapshot] = []
    adjacency: dict[str, frozenset[str]] = ADJACENCY
    for what, district, t in steps:
        if what == "add":
            alerts.append(alert(district, t))
        elif what == "drop" and alerts:
            alerts.pop(0)
        elif what == "resolve" and alerts:
            alerts[-1] = replace(alerts[-1], state=AlertState.RESOLVED)
        elif what == "severity" and alerts:
            alerts[0] = replace(alerts[0], severity=Severity.SEVERE)
        elif what == "adjacency":
            adjacency = {**ADJACENCY, district: frozenset("ABCDEX") - {district}}
        assert tracker.update(list(alerts), adjacency, WINDOW) == oracle.update(
            list(alerts), adjacency, WINDOW
        )
        assert tracker == oracle


def test_the_tracker_skips_reclustering_the_same_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = ClusterTracker()
    a, c = alert("A", 0.0), alert("C", 60.0)
    tracker.update([a, c], ADJACENCY, WINDOW)
    calls: list[int] = []
    real = clusters_module.cluster_alerts

    def counted(*args: Any) -> list[Cluster]:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(clusters_module, "cluster_alerts", counted)
    assert tracker.update([a, c], ADJACENCY, WINDOW) == []
    pending = alert("X", 5.0, state=AlertState.PENDING)
    assert tracker.update([a, pending, c], ADJACENCY, WINDOW) == []
    assert calls == []  # a pending alert is in no cluster
    assert tracker.update([a, c], ADJACENCY, WINDOW * 2) == []  # still none, but reclustered
    assert calls == [1]
    joined = {**ADJACENCY, "A": frozenset("BC")}  # another adjacency: A now touches C
    assert [(x.what, x.cluster.id) for x in tracker.update([a, c], joined, WINDOW * 2)] == [
        ("dissolved", "fire:hazard:C:60000000"),
        ("changed", "fire:hazard:A:0"),
    ]
    assert calls == [1, 1]


@pytest.mark.parametrize("data", [{}, {"clusters": [{"id": "x"}]}])
def test_tracker_refuses_other_data(data: dict[str, object]) -> None:
    with pytest.raises(InvalidState):
        ClusterTracker.from_dict(data)
