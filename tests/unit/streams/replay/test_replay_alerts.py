"""Alerting run offline over two series tells which warned first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.city.config import load_city_config
from streams.contract import Incident, LocatedEvent, ScoreUpdate
from streams.pipeline.alerting import AlertingContext
from streams.pipeline.scoring import PartitionScorer, ScoringContext
from streams.replay.compare import compare, firings
from tests.cities import exact_gimpo_config, instant_alerts_city

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
JANGGI = "4157056000"


def instant_alerts(folder: Path) -> AlertingContext:
    return AlertingContext.for_city(load_city_config(instant_alerts_city(folder)))


def series(burst_at: timedelta) -> list[ScoreUpdate]:
    """A quiet hour of ticks with a fire burst in 장기동 at ``burst_at``."""
    config = exact_gimpo_config()
    ctx = ScoringContext(config.city.model_districts(), config.params)
    scorer = PartitionScorer(0, config.city.codes)
    out = scorer.publish_all(ctx, T0)
    for minute in range(1, 61):
        now = T0 + timedelta(minutes=minute)
        if timedelta(minutes=minute) == burst_at:
            burst = [
                (
                    n,
                    LocatedEvent(
                        kind="incident",
                        district=JANGGI,
                        received_at=now,
                        origin=f"x/0/{n}",
                        incident=Incident(
                            id=f"burst-{n}",
                            source="gimpo-fire",
                            type="fire",
                            severity=4,
                            occurred_at=now,
                            code=JANGGI,
                        ),
                    ),
                )
                for n in range(4)
            ]
            out += scorer.process(burst, ctx, now).updates
        out += scorer.tick(ctx, now, 0.001)
    return out


def test_the_series_that_saw_the_burst_first_leads_by_the_difference(tmp_path: Path) -> None:
    ctx = instant_alerts(tmp_path)
    live, earlier = series(timedelta(minutes=30)), series(timedelta(minutes=20))
    rows = compare(live, earlier, ctx)
    fire = [c for c in rows if (c.district, c.domain, c.rule) == (JANGGI, "fire", "hazard")]
    assert len(fire) == 1
    assert fire[0].live_first == T0 + timedelta(minutes=30)
    assert fire[0].replay_first == T0 + timedelta(minutes=20)
    assert fire[0].lead_s == 600.0
    assert fire[0].to_dict()["lead_s"] == 600.0


def test_the_same_series_twice_has_no_lead_and_equal_counts(tmp_path: Path) -> None:
    ctx = instant_alerts(tmp_path)
    updates = series(timedelta(minutes=10))
    assert firings(updates, ctx), "the burst fires a threshold alert"
    rows = compare(updates, list(reversed(updates)), ctx)  # order of arrival does not matter
    assert rows
    assert all(c.lead_s == 0.0 and c.live_firings == c.replay_firings for c in rows)


def test_a_series_that_never_fires_has_no_lead(tmp_path: Path) -> None:
    ctx = instant_alerts(tmp_path)
    quiet = [u for u in series(timedelta(minutes=90)) if u.district != JANGGI]
    rows = compare(series(timedelta(minutes=10)), quiet, ctx)
    fire = next(c for c in rows if (c.district, c.domain) == (JANGGI, "fire"))
    assert fire.replay_first is None
    assert fire.lead_s is None
    assert fire.replay_firings == 0
