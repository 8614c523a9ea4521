"""The city configuration: one TOML file naming the district polygons, the population table and
the index model's parameters. Gimpo's (``streams/data/gimpo/city.toml``) is the bundled default.

Errors name the bad key and say what was expected, e.g.
``city.toml: city.population: file not found: /srv/city/pop.csv``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from indices import InvalidConfig, ModelParams
from indices.alerts import AlertConfig, alert_config_from_mapping
from indices.config import params_from_mapping
from streams.city.map import CityMap, load_city

CITY_KEYS = {
    "name": "the city's display name",
    "districts": "path to the districts GeoJSON",
    "population": "path to the population CSV",
}


class CityConfigError(ValueError):
    """The city configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class CityConfig:
    """A loaded, validated city: its map and its model parameters."""

    city: CityMap
    params: ModelParams
    alerts: AlertConfig
    source: str


def bundled_config_path() -> Path:
    return Path(str(resources.files("streams") / "data" / "gimpo" / "city.toml"))


def load_city_config(path: Path | None = None) -> CityConfig:
    """Load ``path`` (the bundled Gimpo configuration when None); raises CityConfigError."""
    path = path or bundled_config_path()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CityConfigError(f"{path}: cannot read the city configuration: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CityConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_city_config(data, path)


def parse_city_config(data: dict[str, Any], path: Path) -> CityConfig:
    unknown = sorted(set(data) - {"city", "model", "alerts"})
    if unknown:
        raise CityConfigError(
            f"{path}: {unknown[0]}: unknown table; expected [city], [model] and [alerts]"
        )
    section = data.get("city")
    if not isinstance(section, dict):
        raise CityConfigError(f"{path}: city: missing table [city] ({', '.join(CITY_KEYS)})")
    for key in sorted(set(section) - set(CITY_KEYS)):
        raise CityConfigError(f"{path}: city.{key}: unknown key; known: {', '.join(CITY_KEYS)}")
    texts = {}
    for key in ("districts", "population"):
        value = section.get(key)
        if not isinstance(value, str) or not value:
            raise CityConfigError(f"{path}: city.{key}: missing ({CITY_KEYS[key]})")
        file = (path.parent / value).resolve()
        try:
            texts[key] = file.read_text("utf-8")
        except OSError as exc:
            raise CityConfigError(f"{path}: city.{key}: cannot read {file}: {exc}") from exc
    name = section.get("name", path.parent.name)
    if not isinstance(name, str):
        raise CityConfigError(f"{path}: city.name: expected a string")
    try:
        city = load_city(texts["districts"], texts["population"], name)
    except (ValueError, KeyError) as exc:
        raise CityConfigError(f"{path}: city.districts/city.population: {exc}") from exc
    model = data.get("model", {})
    if not isinstance(model, dict):
        raise CityConfigError(f"{path}: model: expected a table")
    try:
        params = params_from_mapping(model, where="model")
        alerts = alert_config_from_mapping(data.get("alerts", {}), where="alerts")
    except InvalidConfig as exc:
        raise CityConfigError(f"{path}: {exc}") from exc
    return CityConfig(city=city, params=params, alerts=alerts, source=str(path))
