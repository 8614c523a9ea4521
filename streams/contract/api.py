"""The history API's answers (JSON over HTTP on the gateway) and its errors (:class:`ApiError`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
)

from streams.contract.alerts import Alert
from streams.contract.base import DistrictCode, WireModel
from streams.contract.deadletters import DeadLetter
from streams.contract.scores import LocatedEvent, ScoreUpdate


# --- the history API (JSON over HTTP on the gateway) -------------------------------------------
class HistoryPoint(WireModel):
    """One step of a downsampled series; scores are step functions, so ``value`` is the last value
    known at the step's end (carried over steps without updates)."""

    t: AwareDatetime = Field(description="start of the step")
    value: float | None = Field(
        description="last value at or before the step's end; null = none yet"
    )
    min: float | None = Field(description="lowest value the series held during the step")
    max: float | None = Field(description="highest value the series held during the step")
    grade: int | None = Field(description="grade of ``value`` (1-5) where the series has grades")
    updates: int = Field(ge=0, description="stored points inside the step")


class HistoryResponse(WireModel):
    """``GET /api/districts/{code}/history``."""

    district: DistrictCode
    domain: str = Field(description="'composite', 'safety', a domain, or 'group:<name>'")
    series: str = Field(description="'live', or the name a replay wrote")
    model_versions: list[str] = Field(description="model versions of the points in the range")
    start: AwareDatetime
    end: AwareDatetime
    step_s: int
    points: list[HistoryPoint]


class SeriesValue(WireModel):
    """One series' value as downsampled history keeps it."""

    value: float
    grade: int | None = Field(description="grade of ``value`` (1-5) where the series has grades")
    as_of: AwareDatetime = Field(description="when the series took this value")


class DownsampledScores(WireModel):
    """A district at a moment older than the full updates are kept (raw retention): each
    series' last value in the downsampled history at or before that moment. Never a value from
    after the moment; at most one rollup step older than what the map showed then."""

    district: DistrictCode
    model_version: str
    series: dict[str, SeriesValue] = Field(
        description="composite, safety, each domain and group:<name>, as far as kept"
    )


class ScoresAtResponse(WireModel):
    """``GET /api/scores?at=``: every district as the series showed it at ``at``."""

    at: AwareDatetime
    series: str
    districts: list[ScoreUpdate] = Field(description="each district's last update at or before at")
    downsampled: list[DownsampledScores] = Field(
        default_factory=list,
        description="districts whose full updates at that time are past retention: their values "
        "from downsampled history",
    )
    missing: list[DistrictCode] = Field(description="districts with nothing stored at or before at")


class AlertsResponse(WireModel):
    """``GET /api/alerts``: alerts (their latest state) opened in the range, newest first."""

    alerts: list[Alert]
    truncated: bool = Field(description="true when more alerts matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class AlertHistoryResponse(WireModel):
    """``GET /api/alerts/{id}``: every message of one alert's lifecycle, in order."""

    id: str
    changes: list[Alert]


class EventsResponse(WireModel):
    """``GET /api/events``: validated events in the range, oldest first."""

    events: list[LocatedEvent]
    truncated: bool = Field(description="true when more events matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class DeadLettersResponse(WireModel):
    """``GET /api/dead-letters``: rejected inputs that failed in the range, newest first."""

    dead_letters: list[DeadLetter]
    truncated: bool = Field(description="true when more dead letters matched than ``limit``")
    next: str | None = Field(
        default=None, description="when truncated: pass as ``after`` for the next page"
    )


class ApiError(WireModel):
    """Every 4xx/5xx answer of the history API and of ``/auth/*``."""

    error: Literal[
        "bad_parameter",
        "not_found",
        "unavailable",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "bad_request",
        "too_large",
        "unsupported_media_type",
        "conflict",
        "internal",
    ]
    detail: str = Field(description="what was wrong and what is accepted")
    parameter: str | None = Field(default=None, description="the query parameter at fault")


# --- the map's data: the city, the heat layer, the statistics map ------------------------------
class BaseMap(WireModel):
    """A raster base map the dashboard draws under the districts (from the gateway's settings)."""

    kind: Literal["xyz", "wms"]
    url: str = Field(description="XYZ template ({z}/{x}/{y}) or WMS endpoint")
    attribution: str = ""
    layers: str | None = Field(default=None, description="WMS layers")


class CityResponse(WireModel):
    """``GET /api/city``: what the map draws: every district's shape, name and population."""

    name: str
    timezone: str = Field(description="IANA time zone the dashboard shows times in")
    language: Literal["ko", "en"] = Field(description="the dashboard's default language")
    approximate: bool = Field(description="true when the district shapes are not official")
    bounds: list[float] = Field(description="west, south, east, north (WGS84)")
    grade_cuts: list[float] = Field(
        description="the model's grade boundaries on the 0-10 scale: grade 1 below the first, "
        "5 at or above the last (the legend's bands)"
    )
    districts: dict[str, Any] = Field(
        description="GeoJSON FeatureCollection; properties code, name, name_en, population"
    )
    base_map: BaseMap | None = None


class HeatCell(WireModel):
    h3: str
    count: int = Field(ge=0, description="incidents in the cell")
    intensity: float = Field(ge=0, description="sum of their severities (1-5 each)")


class HeatResponse(WireModel):
    """``GET /api/heat``: incidents per H3 cell in the range (coarse cells below analyst)."""

    start: AwareDatetime
    end: AwareDatetime
    resolution: int = Field(description="H3 resolution of the cells (7 ≈ 5 km², 9 ≈ 0.1 km²)")
    cells: list[HeatCell]


class DistrictStats(WireModel):
    district: DistrictCode
    name: str
    population: int
    total: int
    per_10k: float = Field(description="incidents per 10,000 residents")
    by_type: dict[str, int]


class StatsResponse(WireModel):
    """``GET /api/stats``: incidents per district by type in the range (the statistics map)."""

    start: AwareDatetime
    end: AwareDatetime
    types: list[str] = Field(description="the incident types that occur, most frequent first")
    districts: list[DistrictStats]
