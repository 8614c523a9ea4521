"""The city configuration: a city is a folder (``RISKMON_CITY``) holding the district polygons
(``districts.geojson``), the population table (``population.csv``) and optionally ``city.toml``,
which names the city, may point at files elsewhere and sets the index model's parameters
([model]) and alert rules ([alerts]). Without ``city.toml`` the folder's files keep their
conventional names, the model its defaults, and the city the folder's name. Without any city,
riskmon runs approximate Gimpo, synthesized from the facts it keeps
(:func:`streams.city.synth.approximate_gimpo`).

Errors name the file and the bad key and say what was expected, e.g.
``city.toml: city.population: cannot read /srv/city/pop.csv: ...``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from indices import InvalidConfig, ModelParams
from indices.alerts import AlertConfig, alert_config_from_mapping
from indices.config import params_from_mapping
from streams.city.folder import CONFIG_FILE, DISTRICTS_FILE, POPULATION_FILE, CityData
from streams.city.map import CityMap, load_city
from streams.city.synth import SynthError, approximate_gimpo
from streams.errors import RiskmonError

DEFAULT_TIMEZONE = "Asia/Seoul"  # district codes are Korea's 행정기관코드
DEFAULT_LANGUAGE = "ko"
LANGUAGES = ("ko", "en")

CITY_KEYS = {
    "name": "the city's display name",
    "districts": f"path to the districts GeoJSON (default {DISTRICTS_FILE})",
    "population": f"path to the population CSV (default {POPULATION_FILE})",
    "approximate": "true when the district shapes are not the official ones",
    "river_gauges": "table: river gauge sensor id = the code of the district it stands in",
    "timezone": f"IANA time zone the dashboard shows times in (default {DEFAULT_TIMEZONE})",
    "language": f"the dashboard's default language, one of {', '.join(LANGUAGES)} "
    f"(default {DEFAULT_LANGUAGE})",
    "attribution": "the attribution the boundary data's licence requires (the open data shows it)",
    "license": "the boundary data's licence, e.g. 'KOGL Type 1' (the open data shows it)",
}


class CityConfigError(RiskmonError, ValueError):
    """The city configuration cannot be used; the message names the file and the key."""

    retriable = False


@dataclass(frozen=True)
class CityConfig:
    """A loaded, validated city: its map, model parameters, alert rules and where it came from.

    ``river_gauges`` places gauges (sensor id -> district code) for the simulator; gauges of
    ``params.river_stages`` it does not name stand in the first and last districts.
    """

    city: CityMap
    params: ModelParams
    alerts: AlertConfig
    source: str
    approximate: bool = False
    river_gauges: Mapping[str, str] = field(default_factory=dict)
    timezone: str = DEFAULT_TIMEZONE
    language: str = DEFAULT_LANGUAGE
    attribution: str | None = None  # of the boundary data, as the city.toml gives it
    license: str | None = None


def load_city_config(path: Path | None = None) -> CityConfig:
    """The city at ``path``: a folder (with or without ``city.toml``) or a ``city.toml``; None is
    the default, approximate Gimpo. Raises CityConfigError."""
    if path is None:
        return default_city_config()
    if path.is_dir():
        toml = path / CONFIG_FILE
        if not toml.exists():
            return parse_city_config({}, toml, where=str(path))
        path = toml
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CityConfigError(f"{path}: cannot read the city configuration: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CityConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_city_config(data, path)


@cache
def default_city_config() -> CityConfig:
    """Approximate Gimpo, synthesized in memory from ``streams/city/gimpo_facts.toml``."""
    try:
        data = approximate_gimpo()
    except SynthError as exc:
        raise CityConfigError(str(exc)) from exc
    return config_of_data(data, source="gimpo_facts.toml (approximate Gimpo, built in)")


def config_of_data(data: CityData, source: str) -> CityConfig:
    """The configuration of a city held in memory (e.g. just synthesized)."""
    city = data.city_map()
    params, alerts = _model(dict(data.model), {}, source)
    gauges = _gauges(dict(data.river_gauges), city, source)
    return CityConfig(city, params, alerts, source, data.approximate, gauges)


def parse_city_config(data: dict[str, Any], path: Path, where: str | None = None) -> CityConfig:
    """Validate a parsed ``city.toml`` (``path``; files are relative to its folder). ``where``
    names the configuration in messages (default: ``path``)."""
    where = where or str(path)
    unknown = sorted(set(data) - {"city", "model", "alerts"})
    if unknown:
        raise CityConfigError(
            f"{where}: {unknown[0]}: unknown table; expected [city], [model] and [alerts]"
        )
    section = data.get("city", {})
    if not isinstance(section, dict):
        raise CityConfigError(f"{where}: city: expected a table ({', '.join(CITY_KEYS)})")
    for key in sorted(set(section) - set(CITY_KEYS)):
        raise CityConfigError(f"{where}: city.{key}: unknown key; known: {', '.join(CITY_KEYS)}")
    texts = {}
    for key, default in (("districts", DISTRICTS_FILE), ("population", POPULATION_FILE)):
        value = section.get(key, default)
        if not isinstance(value, str) or not value:
            raise CityConfigError(f"{where}: city.{key}: expected a path ({CITY_KEYS[key]})")
        file = (path.parent / value).resolve()
        try:
            texts[key] = file.read_text("utf-8")
        except OSError as exc:
            raise CityConfigError(f"{where}: city.{key}: cannot read {file}: {exc}") from exc
    name = section.get("name", path.parent.name)
    if not isinstance(name, str):
        raise CityConfigError(f"{where}: city.name: expected a string")
    approximate = section.get("approximate", False)
    if not isinstance(approximate, bool):
        raise CityConfigError(f"{where}: city.approximate: expected true or false")
    try:
        city = load_city(texts["districts"], texts["population"], name)
    except (ValueError, KeyError) as exc:
        raise CityConfigError(f"{where}: city.districts/city.population: {exc}") from exc
    gauges = _gauges(section.get("river_gauges", {}), city, where)
    params, alerts = _model(data.get("model", {}), data.get("alerts", {}), where)
    timezone = section.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or not _known_zone(timezone):
        raise CityConfigError(f"{where}: city.timezone: not an IANA time zone, e.g. Asia/Seoul")
    language = section.get("language", DEFAULT_LANGUAGE)
    if language not in LANGUAGES:
        raise CityConfigError(f"{where}: city.language: expected one of {', '.join(LANGUAGES)}")
    notes = {key: section.get(key) for key in ("attribution", "license")}
    for key, value in notes.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise CityConfigError(f"{where}: city.{key}: expected a non-empty string")
    return CityConfig(
        city, params, alerts, where, approximate, gauges, timezone=timezone, language=language,
        attribution=notes["attribution"], license=notes["license"],
    )  # fmt: skip


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _model(model: Any, alerts: Any, where: str) -> tuple[ModelParams, AlertConfig]:
    if not isinstance(model, dict):
        raise CityConfigError(f"{where}: model: expected a table")
    try:
        return (
            params_from_mapping(model, where="model"),
            alert_config_from_mapping(alerts, where="alerts"),
        )
    except InvalidConfig as exc:
        raise CityConfigError(f"{where}: {exc}") from exc


def _gauges(value: Any, city: CityMap, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise CityConfigError(f"{where}: city.river_gauges: expected a table (sensor id = code)")
    for sensor, code in value.items():
        if code not in city.districts:
            raise CityConfigError(
                f"{where}: city.river_gauges.{sensor}: {code!r} is not a district of the city"
            )
    return dict(value)
