"""Older layouts of :class:`~indices.alerts.AlertEngine` data, read into the current one.

Checkpoints outlive releases: a worker upgraded over a running city must carry its open alerts
on, not drop them (operators have them on screen) nor raise them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from indices.errors import InvalidState

__all__ = ["from_format_1"]


def from_format_1(
    data: Mapping[str, Any], target: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Format-1 engine data as format ``target`` (2), and the open alerts merged away.

    Format 1 had one alert per (district, domain, rule); format 2 one per (district, domain,
    kind), a ``hazard`` alert standing for the spike and threshold rules together. Each alert
    keeps its id; where a spike and a threshold alert of one district and domain were both open,
    the one opened first carries on with both triggers, and the other is returned for the caller
    to close. Raises :class:`~indices.errors.InvalidState` on malformed data."""
    try:
        kept: dict[tuple[str, str, str], dict[str, Any]] = {}
        merged: list[dict[str, Any]] = []
        for item in sorted(data["alerts"], key=lambda a: (a["opened_at"], a["id"])):
            alert = dict(item)
            rule = str(alert["rule"])
            since = alert.pop("held_since")
            alert["rule"] = "stale" if rule == "stale" else "hazard"
            alert["holding"] = [] if since is None else [[rule, since]]
            alert["active"], alert["triggers"] = [rule], [rule]
            key = (alert["district"], alert["domain"], alert["rule"])
            first = kept.get(key)
            if first is None:
                kept[key] = alert
                continue
            first["holding"] += alert["holding"]
            first["active"] += alert["active"]
            first["triggers"] += alert["triggers"]
            merged.append(alert)
        keys: dict[tuple[str, str, str], tuple[int, float | None]] = {}
        for district, domain, rule, us, end in data["keys"]:
            key = (district, domain, "stale" if rule == "stale" else "hazard")
            old_us, old_end = keys.get(key, (us, end))
            ends = [e for e in (end, old_end) if e is not None]
            keys[key] = (max(us, old_us), max(ends) if ends else None)
        upgraded = {
            "format": target,
            "alerts": list(kept.values()),
            "tracks": data["tracks"],
            "keys": [[*key, us, end] for key, (us, end) in sorted(keys.items())],
        }
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidState(f"alert engine (format 1): {error}") from error
    return upgraded, merged
