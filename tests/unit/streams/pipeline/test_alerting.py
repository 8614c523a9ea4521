"""CityAlerts: score updates -> alerts (threshold rule), acks, clusters, checkpoint round trip."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from indices.alerts import alert_config_from_mapping
from indices.detect import DetectorParams
from streams.contract import Alert, AlertAck, Incident, LocatedEvent, ScoreUpdate, SensorReading
from streams.pipeline.alerting import AlertingContext, CityAlerts
from streams.pipeline.scoring import PartitionScorer, ScoringContext
from tests.cities import exact_gimpo, exact_gimpo_config
from tests.factories import score_update

CITY = exact_gimpo()
CTX = AlertingContext(
    config=alert_config_from_mapping(
        {
            "threshold": {"min_duration_s": 0},
            "spike": {"enabled": False},
            "stale": {"enabled": False},
            "domains": {"composite": {"threshold": {"enabled": False}}},
        }
    ),
    detector=DetectorParams(),
    adjacency=CITY.adjacency(),
    names={code: d.name_ko for code, d in CITY.districts.items()},
)
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
JANGGI, UNYANG, WOLGOT = "4157056000", "4157058000", "4157035000"  # first two are neighbours


def fire(district: str, risk: float, grade: int, at: datetime, seq: int = 1) -> ScoreUpdate:
    base = score_update(district, seq, risk).model_dump()
    base["domains"]["fire"]["grade"] = grade
    base["as_of"] = at
    base["contributors"] = {
        "fire": [
            {"event_id": f"fire:{district}", "type": "fire", "domain": "fire", "contribution": risk}
        ]
    }
    return ScoreUpdate.model_validate(base)


def test_threshold_fires_once_and_neighbours_share_a_cluster() -> None:
    city = CityAlerts()
    assert city.observe(fire(JANGGI, 2.0, 2, T0), CTX, T0) == []
    first = city.observe(fire(JANGGI, 6.0, 4, T0 + timedelta(seconds=5), 2), CTX, T0)
    assert [(a.change, a.state) for a in first] in ([("fired", "firing")], [("opened", "pending")])
    again = city.observe(fire(JANGGI, 6.1, 4, T0 + timedelta(seconds=10), 3), CTX, T0)
    assert all(a.id == first[0].id for a in again)  # repeats never open a second alert
    neighbour = city.observe(fire(UNYANG, 6.5, 4, T0 + timedelta(seconds=12)), CTX, T0)
    far = city.observe(fire(WOLGOT, 6.5, 4, T0 + timedelta(seconds=12)), CTX, T0)
    clusters = {a.district: a.cluster for a in city_alerts(first, again, neighbour, far)}
    assert clusters[JANGGI] is not None
    assert clusters[JANGGI] == clusters[UNYANG]
    assert clusters[WOLGOT] != clusters[JANGGI]
    assert first[0].drivers[0].event_id == f"fire:{JANGGI}"


def city_alerts(*batches: list) -> list:  # type: ignore[type-arg]
    latest = {}
    for batch in batches:
        for alert in batch:
            latest[alert.id] = alert
    return list(latest.values())


def test_ack_applies_once_and_bad_acks_are_rejected_with_a_code() -> None:
    city = CityAlerts()
    fired = city.observe(fire(JANGGI, 6.0, 4, T0), CTX, T0)[-1]
    ack = AlertAck(alert_id=fired.id, district=JANGGI, who="kim", note="on it", at=T0, ack_id="a-1")
    changed, result = city.acknowledge(ack, CTX, T0)
    assert (result.outcome, result.code, result.reason) == ("applied", None, None)
    assert (result.ack_id, result.alert_id, result.who) == ("a-1", fired.id, "kim")
    assert changed[0].state == "acknowledged"
    assert changed[0].seq > fired.seq

    again, result = city.acknowledge(ack.model_copy(update={"who": "lee"}), CTX, T0)
    assert again == []
    assert (result.outcome, result.code) == ("rejected", "already_acknowledged")
    assert result.reason is not None
    assert fired.id in result.reason
    assert "kim acknowledged it at 2026-11-24T12:00" in result.reason

    elsewhere = ack.model_copy(update={"district": UNYANG})
    assert city.acknowledge(elsewhere, CTX, T0)[1].code == "wrong_district"
    unknown = ack.model_copy(update={"alert_id": "nope"})
    assert city.acknowledge(unknown, CTX, T0)[1].code == "not_open"


def test_a_pending_alert_cannot_be_acknowledged_yet() -> None:
    slow = AlertingContext(
        config=alert_config_from_mapping(
            {
                "threshold": {"min_duration_s": 600},
                "spike": {"enabled": False},
                "stale": {"enabled": False},
                "domains": {"composite": {"threshold": {"enabled": False}}},
            }
        ),
        detector=CTX.detector,
        adjacency=CTX.adjacency,
        names=CTX.names,
    )
    city = CityAlerts()
    opened = city.observe(fire(JANGGI, 6.0, 4, T0), slow, T0)[-1]
    assert opened.state == "pending"
    ack = AlertAck(alert_id=opened.id, district=JANGGI, who="kim", at=T0)
    changed, result = city.acknowledge(ack, slow, T0)
    assert changed == []
    assert (result.outcome, result.code, result.ack_id) == ("rejected", "not_firing", None)


def test_checkpoint_round_trip_continues_identically() -> None:
    straight, resumed = CityAlerts(), CityAlerts()
    updates = [
        fire(JANGGI, 2.0 + 0.5 * n, min(5, 1 + n // 2), T0 + timedelta(seconds=5 * n), n)
        for n in range(1, 10)
    ]
    for update in updates[:4]:
        straight.observe(update, CTX, T0)
        resumed.observe(update, CTX, T0)
    resumed = CityAlerts.from_checkpoint(json.loads(json.dumps(resumed.to_checkpoint())))
    tail_a = [a for u in updates[4:] for a in straight.observe(u, CTX, T0)]
    tail_b = [a for u in updates[4:] for a in resumed.observe(u, CTX, T0)]
    assert tail_a == tail_b
    assert straight.to_checkpoint() == resumed.to_checkpoint()


def test_records_below_the_next_offset_are_skipped() -> None:
    city = CityAlerts()
    assert city.fresh("t", 0)
    assert city.fresh("t", 1)
    assert not city.fresh("t", 1)
    assert not city.fresh("t", 0)


# --- drivers of a domain that the update does not name ----------------------------------------

GIMPO = exact_gimpo_config()
DEFAULTS = AlertingContext.for_city(GIMPO)  # threshold: held 300 s before it fires
SCORING = ScoringContext(GIMPO.city.model_districts(), GIMPO.params)
PM10 = f"pm-{JANGGI}"


def pm10(value: float, at: datetime) -> LocatedEvent:
    sensor = SensorReading(
        sensor_id=PM10, kind="pm10_ugm3", value=value, observed_at=at, code=JANGGI
    )
    return LocatedEvent(
        kind="reading", district=JANGGI, received_at=at, origin="r/0/0", reading=sensor
    )


def located(event_id: str, source: str, kind: str, severity: int, at: datetime) -> LocatedEvent:
    """An incident in 장기동 as ingest forwards it."""
    incident = Incident(
        id=event_id, source=source, type=kind, severity=severity, occurred_at=at, code=JANGGI
    )
    return LocatedEvent(
        kind="incident",
        district=JANGGI,
        received_at=at,
        origin=f"x/0/{event_id}",
        incident=incident,
    )


def theft(n: int, at: datetime) -> LocatedEvent:
    return located(f"T{n}", "police", "theft", 1, at)


def scored(scorer: PartitionScorer, event: LocatedEvent, offset: int, at: datetime) -> ScoreUpdate:
    (update,) = scorer.process([(offset, event)], SCORING, at).updates
    return update


def fired_on(
    city: CityAlerts,
    scorer: PartitionScorer,
    how: str,
    at: datetime,
    ctx: AlertingContext = DEFAULTS,
) -> dict[str, Alert]:
    """The alerts that fire at ``at``: on the timer, or on the next update (another theft)."""
    if how == "tick":
        out = city.tick(ctx, at)
    else:
        out = city.observe(scored(scorer, theft(2, at), 2, at), ctx, at)
    return {a.domain: a for a in out if a.change == "fired"}


# Only the composite alerts: its drivers come from every domain.
COMPOSITE_ONLY = AlertingContext.for_city(
    dataclasses.replace(
        GIMPO,
        alerts=alert_config_from_mapping(
            {
                "threshold": {"enabled": False},
                "spike": {"enabled": False},
                "domains": {"composite": {"threshold": {"enabled": True}}},
            }
        ),
    )
)


@pytest.mark.parametrize("how", ["tick", "observation"])
@pytest.mark.parametrize(
    ("ctx", "domain", "expected"),
    [(DEFAULTS, "air_quality", [PM10]), (COMPOSITE_ONLY, "composite", [PM10, "police:T1"])],
    ids=["domain", "composite"],
)
def test_a_pending_alert_fires_with_its_domains_drivers_after_another_domain_changed(
    how: str, ctx: AlertingContext, domain: str, expected: list[str]
) -> None:
    scorer, city = PartitionScorer(0, CITY.codes), CityAlerts()
    opened = city.observe(scored(scorer, pm10(450, T0), 0, T0), ctx, T0)
    assert {(a.domain, a.state) for a in opened} == {(domain, "pending")}
    later = T0 + timedelta(seconds=60)
    minor = scored(scorer, theft(1, later), 1, later)
    assert set(minor.contributors) == {"crime"}  # air_quality unchanged: not explained again
    assert [a for a in city.observe(minor, ctx, later) if a.change == "fired"] == []

    fired = fired_on(city, scorer, how, T0 + timedelta(seconds=320), ctx)
    assert set(fired) == {domain}, "one rise, one alert"
    # The composite's drivers: the domain that carries it first, not the last to change.
    drivers = [d.event_id for d in fired[domain].drivers]
    assert drivers[0] == expected[0]
    assert set(expected) <= set(drivers)
    assert fired[domain].triggers == ["threshold"]


def test_known_drivers_survive_a_checkpoint_and_old_checkpoints_still_load() -> None:
    scorer, city = PartitionScorer(0, CITY.codes), CityAlerts()
    city.observe(scored(scorer, pm10(450, T0), 0, T0), DEFAULTS, T0)
    later = T0 + timedelta(seconds=60)
    city.observe(scored(scorer, theft(1, later), 1, later), DEFAULTS, later)
    checkpoint = json.loads(json.dumps(city.to_checkpoint()))
    resumed = CityAlerts.from_checkpoint(checkpoint)
    assert resumed.to_checkpoint() == city.to_checkpoint()
    fired = fired_on(resumed, scorer, "observation", T0 + timedelta(seconds=320))
    assert [d.event_id for d in fired["air_quality"].drivers] == [PM10]

    del checkpoint["drivers"]  # written before drivers were remembered
    assert CityAlerts.from_checkpoint(checkpoint).drivers == {}


def test_an_update_naming_a_domain_replaces_its_drivers_and_no_hazard_clears_them() -> None:
    city = CityAlerts()
    city.observe(fire(JANGGI, 2.0, 2, T0), CTX, T0)
    assert city.drivers[f"{JANGGI}/fire"] == ((f"fire:{JANGGI}", "fire", 2.0),)
    quiet = score_update(JANGGI, 2, 2.0).model_copy(update={"as_of": T0 + timedelta(seconds=5)})
    city.observe(quiet, CTX, T0)  # fire not named: keeps what explained it
    assert city.drivers[f"{JANGGI}/fire"] == ((f"fire:{JANGGI}", "fire", 2.0),)
    named = quiet.model_copy(update={"seq": 3, "contributors": {"fire": []}})
    city.observe(named, CTX, T0)
    assert city.drivers[f"{JANGGI}/fire"] == ()
    city.observe(fire(JANGGI, 2.0, 2, T0 + timedelta(seconds=10), 4), CTX, T0)
    gone = score_update(JANGGI, 5, 0.0).model_copy(update={"as_of": T0 + timedelta(seconds=15)})
    city.observe(gone, CTX, T0)
    assert f"{JANGGI}/fire" not in city.drivers


def test_ticks_keep_the_observations_clock_while_a_backlog_is_read() -> None:
    """After a restart the alert stage reads score updates made hours ago. A tick then runs at
    the updates' time plus the wall time since, not at wall-clock now: a pending alert fires
    when its condition has held 300 s of the updates' time, not because the backlog is old."""
    scorer, city = PartitionScorer(0, CITY.codes), CityAlerts()
    wall = T0 + timedelta(hours=2)  # the backlog is read two hours after it was scored
    opened = city.observe(scored(scorer, pm10(450, T0), 0, T0), DEFAULTS, wall)
    assert {(a.domain, a.state) for a in opened} >= {("air_quality", "pending")}
    assert city.event_time(wall + timedelta(seconds=5)) == (T0 + timedelta(seconds=5)).timestamp()
    assert [
        a for a in city.tick(DEFAULTS, wall + timedelta(seconds=5)) if a.change == "fired"
    ] == []

    later = T0 + timedelta(seconds=310)  # the next old update, read 10 s later
    update = scored(scorer, theft(1, later), 1, later)
    fired = [a for a in city.observe(update, DEFAULTS, wall + timedelta(seconds=10))]
    assert "air_quality" in {a.domain for a in fired if a.change == "fired"}

    # Caught up: the updates' clock meets the wall clock, and ticks are wall-clock ticks again.
    live = datetime.now(UTC)
    city.observe(scored(scorer, theft(2, live), 2, live), DEFAULTS, live)
    assert city.event_time(live + timedelta(seconds=5)) == (live + timedelta(seconds=5)).timestamp()
    restored = CityAlerts.from_checkpoint(json.loads(json.dumps(city.to_checkpoint())))
    assert restored.clock == city.clock


def test_a_format_1_checkpoint_loads_and_its_duplicate_alerts_are_closed_once() -> None:
    """Before hazard alerts, a spike and a threshold alert of one domain could both be open: the
    earlier one carries on as the hazard alert (same id, both triggers), the other is expired."""
    city = CityAlerts()
    (fired,) = [a for a in city.observe(fire(JANGGI, 6.0, 4, T0), CTX, T0) if a.change == "fired"]
    checkpoint = json.loads(json.dumps(city.to_checkpoint()))
    (alert,) = checkpoint["engine"]["alerts"]
    v1 = []
    for rule, opened, ident in ((("threshold", 0.0, "old-threshold")), ("spike", 5.0, "old-spike")):
        old = {k: v for k, v in alert.items() if k not in ("holding", "active", "triggers")}
        old.update(rule=rule, id=ident, held_since=None, opened_at=alert["opened_at"] + opened)
        v1.append(old)
    checkpoint["engine"] = {
        "format": 1,
        "alerts": v1,
        "tracks": checkpoint["engine"]["tracks"],
        "keys": [[JANGGI, "fire", rule, 1, None] for rule in ("spike", "threshold")],
    }
    checkpoint["seqs"] = {"old-threshold": 3, "old-spike": 2}
    resumed = CityAlerts.from_checkpoint(checkpoint)
    (kept,) = resumed.engine.open_alerts()
    assert (kept.id, kept.rule, kept.triggers) == (
        "old-threshold",
        "hazard",
        ("threshold", "spike"),
    )
    closed = resumed.close_merged(CTX, T0)
    assert [(a.id, a.state, a.change, a.seq) for a in closed] == [
        ("old-spike", "resolved", "expired", 3)
    ]
    assert resumed.close_merged(CTX, T0) == []
    later = resumed.observe(fire(JANGGI, 4.0, 3, T0 + timedelta(seconds=60), 9), CTX, T0)
    assert [(a.id, a.change) for a in later] == [("old-threshold", "resolved")]
    assert fired.id != kept.id


def test_a_burst_after_warm_up_is_one_alert_with_the_default_rules() -> None:
    """Four quiet hours (a PM10 reading a minute: every detector warm), then six fires in two
    minutes: the fire domain's threshold and spike rules both open, and the composite crosses
    grade 4 too (it is at least the fire risk) — and the city gets one alert, naming the fires."""
    rng = random.Random(7)
    scorer, city = PartitionScorer(0, CITY.codes), CityAlerts()
    offsets = itertools.count()
    seen: list[Alert] = []
    composite_grades: list[int] = []

    def feed(events: list[LocatedEvent], at: datetime, tick: bool) -> None:
        batch = [(next(offsets), event) for event in events]
        updates = scorer.process(batch, SCORING, at).updates
        if tick:
            updates += scorer.tick(SCORING, at, 0.01)
        for update in updates:
            composite_grades.append(update.composite.grade)
            seen.extend(city.observe(update, DEFAULTS, at))
        if tick:
            seen.extend(city.tick(DEFAULTS, at))

    for minute in range(240):
        at = T0 + timedelta(minutes=minute)
        feed([pm10(30 + rng.gauss(0, 5), at)], at, tick=True)
    assert seen == [], "quiet hours raise nothing"
    burst_at = T0 + timedelta(minutes=240)
    for k in range(6):
        at = burst_at + timedelta(seconds=20 * k)
        feed([located(f"F{k}", "119", "fire", 4, at)], at, tick=False)
    for minute in range(1, 90):
        at = burst_at + timedelta(minutes=minute)
        feed([pm10(30 + rng.gauss(0, 5), at)], at, tick=True)

    assert max(composite_grades) >= 4  # the composite's threshold held, and gave way
    assert {a.id for a in seen} == {seen[0].id}, [(a.id, a.change) for a in seen]
    fired = next(a for a in seen if a.change == "fired")
    assert (fired.domain, fired.rule, fired.triggers) == ("fire", "hazard", ["spike", "threshold"])
    assert {d.event_id for d in fired.drivers} <= {f"119:F{k}" for k in range(6)}
    assert "119:F0" in {d.event_id for d in fired.drivers}


class EveryAlertEveryTime(CityAlerts):
    """The oracle: reclusters and compares every open alert's cluster after every update, as
    before the skips (of the update, of the clusters' comparison, of the tracker)."""

    def _publish(self, changes, ctx, now):  # type: ignore[no-untyped-def]
        self.clusters_current = False
        self.tracker._basis = None
        return self._publish_all(list(changes), ctx, now)


HELD = dataclasses.replace(
    CTX,
    config=alert_config_from_mapping(
        {
            "threshold": {"min_duration_s": 20, "resolve_timeout_s": 90},
            "spike": {"enabled": False},
            "stale": {"enabled": False},
            "domains": {"composite": {"threshold": {"enabled": False}}},
        }
    ),
)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ctx", [CTX, HELD], ids=["at-once", "held-20s"])
def test_skipping_updates_that_change_no_alert_equals_looking_at_every_alert(
    seed: int, ctx: AlertingContext
) -> None:
    """Random fire risk over every district (alerts open, fire, escalate, join and leave
    clusters, resolve), ticks, acknowledgements and a checkpoint round trip: the messages and
    the state equal those of a CityAlerts that looks at every open alert after every update."""
    rng = random.Random(seed)
    codes = sorted(CITY.codes)
    city, oracle = CityAlerts(), EveryAlertEveryTime()
    seqs = dict.fromkeys(codes, 0)
    at = T0
    joined = False  # some alerts were clustered together at some point (the case that matters)
    for step in range(400):
        at += timedelta(seconds=rng.choice((1, 2, 5, 15)))
        roll = rng.random()
        if roll < 0.1:
            got, want = city.tick(ctx, at), oracle.tick(ctx, at)
        elif roll < 0.15 and (firing := [a for a in oracle.engine.open_alerts() if a.fired_at]):
            alert = rng.choice(firing)
            ack = AlertAck(
                alert_id=alert.id, district=alert.district, who="kim", at=at, ack_id=f"a{step}"
            )
            (got, answer), (want, expected) = (
                city.acknowledge(ack, ctx, at),
                oracle.acknowledge(ack, ctx, at),
            )
            assert answer == expected
        else:
            code = rng.choice(codes[: rng.choice((3, len(codes)))])  # now and then a few only
            seqs[code] += 1
            risk = rng.choice((1.0, 2.0, 5.5, 6.0, 7.5, 9.0))
            grade = 1 if risk < 5 else (4 if risk < 7 else 5)
            update = fire(code, risk, grade, at, seqs[code])
            got, want = city.observe(update, ctx, at), oracle.observe(update, ctx, at)
        assert got == want, step
        joined |= any(len(c.members) > 1 for c in oracle.tracker.clusters())
        if step == 200:
            data = json.loads(json.dumps(city.to_checkpoint()))
            city = CityAlerts.from_checkpoint(data)
            oracle = EveryAlertEveryTime.from_checkpoint(data)  # type: ignore[assignment]
    assert city.to_checkpoint() == oracle.to_checkpoint()  # (not ==: another class)
    assert joined
