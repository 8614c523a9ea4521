"""Model parameters from configuration data (e.g. a parsed TOML table) and back. Pure: no file I/O.

Keys are :class:`~indices.ModelParams` field names. A mapping-valued field may give only some of
its keys; they are merged over the defaults. ``river_stages`` is the exception: it is taken as
given (a city lists all its gauges). In ``incident_domain`` the value ``"none"`` leaves a type out
(its incidents are not counted). Every error is an :class:`~indices.errors.InvalidConfig` whose
message starts with the full key path:

>>> params_from_mapping({"half_life_h": {"crime": 48}}).half_life_h["crime"]
48.0
>>> params_from_mapping({"half_life_h": {"fyre": 3}})
Traceback (most recent call last):
...
indices.errors.InvalidConfig: model.half_life_h.fyre: unknown domain 'fyre'; known: fire, \
flood_weather, traffic, crime, living_safety, air_quality
>>> params_from_mapping({"severity_weight": [1, 2, 4, 8]})
Traceback (most recent call last):
...
indices.errors.InvalidConfig: model.severity_weight: expected 5 numbers, got 4
>>> params_from_mapping(params_to_mapping(ModelParams())) == ModelParams()
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from indices.errors import InvalidConfig
from indices.params import KEY_LABELS, RIVER_KIND, ModelParams
from indices.taxonomy import (
    DOMAINS,
    FACILITY_KINDS,
    INCIDENT_TYPES,
    INSPECTION_GRADES,
    SENSOR_KINDS,
)

__all__ = ["NOT_COUNTED", "params_from_mapping", "params_to_mapping"]

NOT_COUNTED = "none"  # incident_domain value that leaves a type out

Parser = Callable[[object, str, Any], object]  # (value, key path, default) -> parsed value

_KEYS: dict[str, tuple[str, ...]] = {
    "domain": DOMAINS,
    "sensor kind": tuple(SENSOR_KINDS),
    "facility kind": FACILITY_KINDS,
    "grade": INSPECTION_GRADES,
    "incident type": tuple(INCIDENT_TYPES),
}
_CURVE_KINDS = tuple(kind for kind in SENSOR_KINDS if kind != RIVER_KIND)


def params_from_mapping(data: Mapping[str, object], where: str = "model") -> ModelParams:
    """:class:`~indices.ModelParams` from configuration ``data``; ``where`` prefixes key paths.

    Numbers may be integers or floats (not booleans); fixed-size values are lists; curves are
    lists of ``[value, hazard]`` pairs; river stages lists of 4 increasing levels. Raises
    :class:`~indices.errors.InvalidConfig` naming the first bad key, e.g.
    ``model.severity_weight: expected 5 numbers, got 4``.
    """
    if not isinstance(data, Mapping):
        raise InvalidConfig(f"{where}: expected a table of model parameters, got {_name(data)}")
    defaults = ModelParams()
    parsers = _parsers()
    values: dict[str, Any] = {}
    for key in sorted(data, key=str):
        path = f"{where}.{key}"
        if key not in parsers:
            raise InvalidConfig(f"{path}: unknown key; known: {', '.join(sorted(parsers))}")
        values[key] = parsers[key](data[key], path, getattr(defaults, key))
    try:  # range checks; their messages start with the field's path
        return dataclasses.replace(defaults, **values)
    except InvalidConfig as error:
        raise InvalidConfig(f"{where}.{error}") from error


def params_to_mapping(params: ModelParams) -> dict[str, object]:
    """``params`` as plain data :func:`params_from_mapping` reads back to an equal ModelParams.

    TOML-friendly: str keys, floats, ints, strs, lists and dicts only.
    """
    out: dict[str, object] = {}
    for spec in dataclasses.fields(ModelParams):
        out[spec.name] = _plain(getattr(params, spec.name))
    not_counted = {
        kind: NOT_COUNTED for kind in INCIDENT_TYPES if kind not in params.incident_domain
    }
    out["incident_domain"] = {**dict(params.incident_domain), **not_counted}
    return out


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# --- parsers ------------------------------------------------------------------------------------


def _parsers() -> dict[str, Parser]:
    """How to read each field, by its name."""
    parsers: dict[str, Parser] = {
        "severity_weight": _numbers(5),
        "river_stage_hazard": _numbers(4),
        "grade_cuts": _numbers(4),
        "casualty_cap": _count,
        "sensor_curves": _table(_curve, "sensor kind", _CURVE_KINDS),
        "river_stages": _gauges,
        "incident_domain": _incident_domain,
    }
    for spec in dataclasses.fields(ModelParams):
        if spec.name in parsers:
            continue
        label = KEY_LABELS.get(spec.name)
        parsers[spec.name] = _scalar if label is None else _table(_scalar, label, _KEYS[label])
    return parsers


def _scalar(value: object, path: str, default: object = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidConfig(f"{path}: expected a finite number, got {_name(value)}")
    return float(value)


def _count(value: object, path: str, default: object = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfig(f"{path}: expected an integer, got {_name(value)}")
    return value


def _numbers(size: int) -> Parser:
    def parse(value: object, path: str, default: object = None) -> tuple[float, ...]:
        return _number_list(value, path, size)

    return parse


def _number_list(value: object, path: str, size: int) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidConfig(f"{path}: expected a list of {size} numbers, got {_name(value)}")
    if len(value) != size:
        raise InvalidConfig(f"{path}: expected {size} numbers, got {len(value)}")
    return tuple(_scalar(item, f"{path}[{i}]") for i, item in enumerate(value))


def _curve(value: object, path: str, default: object = None) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(pair, list | tuple) and len(pair) == 2 for pair in value
    ):
        raise InvalidConfig(f"{path}: expected a list of [value, hazard] pairs, got {value!r}")
    return tuple(
        (_scalar(x, f"{path}[{i}][0]"), _scalar(y, f"{path}[{i}][1]"))
        for i, (x, y) in enumerate(value)
    )


def _table(item: Parser, label: str, keys: tuple[str, ...]) -> Parser:
    """A mapping with keys (``label``) among ``keys``, each read by ``item``, merged over the
    default."""

    def parse(value: object, path: str, default: Any) -> dict[str, object]:
        table = _mapping(value, path)
        merged: dict[str, object] = dict(default)
        for key, entry in table.items():
            if key not in keys:
                raise InvalidConfig(
                    f"{path}.{key}: unknown {label} {key!r}; known: {', '.join(keys)}"
                )
            merged[key] = item(entry, f"{path}.{key}", None)
        return merged

    return parse


def _gauges(value: object, path: str, default: object = None) -> dict[str, tuple[float, ...]]:
    """River stages per gauge, taken as given (not merged)."""
    table = _mapping(value, path)
    return {gauge: _number_list(entry, f"{path}.{gauge}", 4) for gauge, entry in table.items()}


def _incident_domain(value: object, path: str, default: Any) -> dict[str, str]:
    merged: dict[str, str] = dict(default)
    for kind, domain in _mapping(value, path).items():
        where = f"{path}.{kind}"
        if kind not in INCIDENT_TYPES:
            known = ", ".join(INCIDENT_TYPES)
            raise InvalidConfig(f"{where}: unknown incident type {kind!r}; known: {known}")
        if domain == NOT_COUNTED:
            merged.pop(kind, None)
        elif isinstance(domain, str) and domain in DOMAINS:
            merged[kind] = domain
        else:
            known = ", ".join((*DOMAINS, NOT_COUNTED))
            raise InvalidConfig(f"{where}: unknown domain {domain!r}; known: {known}")
    return merged


def _mapping(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidConfig(f"{path}: expected a table, got {_name(value)}")
    return dict(value)


def _name(value: object) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, Mapping) else "a table"
