"""Would the replayed model have warned earlier? Alerting run offline over two series (pure).

The worker's alerting (:class:`~streams.pipeline.alerting.CityAlerts`: detectors, rules, lifecycle)
is fed each series' updates in time order, with time ticks at each update, exactly the same way for
both, so the comparison is like for like: operators' acknowledgements and the worker's wall-clock
timing play no part. For each (district, domain, rule) it reports when each series first fired in
the range and the lead of the replay (positive: the replay warned earlier).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.contract import ScoreUpdate
from streams.pipeline.alerting import AlertingContext, CityAlerts

Key = tuple[str, str, str]  # (district, domain, rule)


def firings(updates: Iterable[ScoreUpdate], ctx: AlertingContext) -> dict[Key, list[datetime]]:
    """When each (district, domain, rule) fired or re-fired, replaying ``updates`` in time order."""
    alerts = CityAlerts()
    fired: dict[Key, list[datetime]] = {}
    for update in sorted(updates, key=lambda u: (u.as_of, u.district, u.seq)):
        for alert in alerts.tick(ctx, update.as_of) + alerts.observe(update, ctx, update.as_of):
            if alert.change in ("fired", "refired"):
                fired.setdefault((alert.district, alert.domain, alert.rule), []).append(alert.as_of)
    return fired


@dataclass(frozen=True)
class Comparison:
    district: str
    domain: str
    rule: str
    live_first: datetime | None
    replay_first: datetime | None
    live_firings: int
    replay_firings: int

    @property
    def lead_s(self) -> float | None:
        """Seconds the replay fired before the live series (negative: later; None: one never)."""
        if self.live_first is None or self.replay_first is None:
            return None
        return (self.live_first - self.replay_first).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "domain": self.domain,
            "rule": self.rule,
            "live_first": self.live_first.isoformat() if self.live_first else None,
            "replay_first": self.replay_first.isoformat() if self.replay_first else None,
            "lead_s": self.lead_s,
            "live_firings": self.live_firings,
            "replay_firings": self.replay_firings,
        }


def compare(
    live: Iterable[ScoreUpdate], replay: Iterable[ScoreUpdate], ctx: AlertingContext
) -> list[Comparison]:
    """Per (district, domain, rule) that fired in either series: first firings and counts.

    >>> compare([], [], None)  # type: ignore[arg-type]
    []
    """
    a, b = firings(live, ctx), firings(replay, ctx)
    return [
        Comparison(
            *key,
            live_first=a[key][0] if key in a else None,
            replay_first=b[key][0] if key in b else None,
            live_firings=len(a.get(key, [])),
            replay_firings=len(b.get(key, [])),
        )
        for key in sorted(a.keys() | b.keys())
    ]
