"""params_from_mapping / params_to_mapping: partial tables, type checks, key paths, round trip."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indices import InvalidConfig, ModelParams, params_from_mapping, params_to_mapping
from indices.taxonomy import DOMAINS, INCIDENT_TYPES


def test_empty_table_gives_the_defaults() -> None:
    assert params_from_mapping({}) == ModelParams()


def test_partial_tables_merge_over_the_defaults() -> None:
    params = params_from_mapping(
        {
            "half_life_h": {"fire": 6},
            "background_per_10k_day": {"crime": 0.5},
            "sensor_curves": {"wind_ms": [[10, 0], [20, 10]]},
            "incident_domain": {"fall": "traffic", "theft": "none"},
            "severity_weight": [1, 2, 3, 4, 5],
            "casualty_cap": 3,
            "excess_ref": 5,
        }
    )
    defaults = ModelParams()
    assert params.half_life_h == {**defaults.half_life_h, "fire": 6.0}
    assert params.background_per_10k_day["crime"] == 0.5
    assert params.background_per_10k_day["fire"] == defaults.background_per_10k_day["fire"]
    assert params.sensor_curves["wind_ms"] == ((10.0, 0.0), (20.0, 10.0))
    assert params.sensor_curves["pm10_ugm3"] == defaults.sensor_curves["pm10_ugm3"]
    assert params.incident_domain["fall"] == "traffic"
    assert "theft" not in params.incident_domain
    assert params.severity_weight == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert (params.casualty_cap, params.excess_ref) == (3, 5.0)


def test_river_stages_are_taken_as_given() -> None:
    params = params_from_mapping({"river_stages": {"g-1": [1, 2, 3, 4]}})
    assert dict(params.river_stages) == {"g-1": (1.0, 2.0, 3.0, 4.0)}
    again = dataclasses.replace(params, river_stages={"g-2": (2.0, 3.0, 4.0, 5.0)})
    assert set(params_from_mapping(params_to_mapping(again)).river_stages) == {"g-2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"half_life_h": {"fyre": 3}},
            "model.half_life_h.fyre: unknown domain 'fyre'; known: fire, flood_weather, traffic,",
        ),
        ({"severity_weight": [1, 2, 4, 8]}, "model.severity_weight: expected 5 numbers, got 4"),
        ({"severity_weight": 3}, "model.severity_weight: expected a list of 5 numbers, got int 3"),
        ({"severity_weight": [1, 2, "x", 8, 16]}, "model.severity_weight[2]: expected a finite"),
        ({"half_lives": 3}, "model.half_lives: unknown key; known: background_per_10k_day,"),
        ({"epsilon": True}, "model.epsilon: expected a finite number, got bool True"),
        ({"epsilon": math.inf}, "model.epsilon: expected a finite number"),
        ({"epsilon": 0}, "model.epsilon: must be in (0, 10]"),
        ({"casualty_cap": 2.5}, "model.casualty_cap: expected an integer, got float 2.5"),
        ({"half_life_h": {"fire": -1}}, "model.half_life_h.fire: must be > 0, got -1.0"),
        ({"half_life_h": [1, 2]}, "model.half_life_h: expected a table, got list"),
        ({"validity_s": {"noise_db": 60}}, "model.validity_s.noise_db: unknown sensor kind"),
        ({"facility_weight": {"drone": 1}}, "model.facility_weight.drone: unknown facility kind"),
        ({"structure_weight": {"F": 1}}, "model.structure_weight.F: unknown grade 'F'"),
        ({"sensor_curves": {"wind_ms": [1, 2]}}, "model.sensor_curves.wind_ms: expected a list of"),
        (
            {"sensor_curves": {"river_level_m": [[0, 0], [1, 10]]}},
            "model.sensor_curves.river_level_m: unknown sensor kind",
        ),
        (
            {"sensor_curves": {"wind_ms": [[20, 0], [10, 5]]}},
            "model.sensor_curves.wind_ms: needs >= 2 [value, hazard] anchors",
        ),
        ({"river_stages": {"g-1": [1, 2, 3]}}, "model.river_stages.g-1: expected 4 numbers, got 3"),
        (
            {"river_stages": {"g-1": [4, 3, 2, 1]}},
            "model.river_stages.g-1: must be 4 strictly increasing positive levels",
        ),
        ({"incident_domain": {"meteor": "fire"}}, "model.incident_domain.meteor: unknown incident"),
        (
            {"incident_domain": {"fall": "falls"}},
            "model.incident_domain.fall: unknown domain 'falls'; known: fire,",
        ),
        ({"intensity_ref": {"fire": 20}}, "model.intensity_ref: unknown key"),
    ],
)
def test_errors_name_the_full_key_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfig) as error:
        params_from_mapping(data)
    assert str(error.value).startswith(message), str(error.value)


def test_where_prefixes_every_path_and_non_tables_are_refused() -> None:
    with pytest.raises(InvalidConfig, match=r"^city\.model\.severity_weight: expected 5"):
        params_from_mapping({"severity_weight": [1]}, where="city.model")
    with pytest.raises(InvalidConfig, match=r"^model: expected a table"):
        params_from_mapping([1, 2])  # type: ignore[arg-type]


def _toml_safe(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _toml_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_toml_safe(v) for v in value)
    return isinstance(value, str | int | float)


def test_to_mapping_is_toml_friendly_and_complete() -> None:
    data = params_to_mapping(ModelParams())
    assert _toml_safe(data)
    assert set(data) == {f.name for f in dataclasses.fields(ModelParams)}
    assert data["severity_weight"] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert data["sensor_curves"]["wind_ms"][0] == [9.0, 0.0]  # type: ignore[index]


positive = st.floats(0.01, 1000.0, allow_nan=False)


@given(
    st.dictionaries(st.sampled_from(DOMAINS), positive),
    st.dictionaries(st.sampled_from(sorted(INCIDENT_TYPES)), st.sampled_from([*DOMAINS, "none"])),
    st.dictionaries(
        st.text("abcdefgh-1", min_size=1, max_size=6),
        st.lists(positive, min_size=4, max_size=4, unique=True).map(sorted),
        max_size=3,
    ),
    positive,
    st.integers(0, 50),
)
def test_round_trip(
    half_lives: dict[str, float],
    taxonomy: dict[str, str],
    rivers: dict[str, list[float]],
    excess: float,
    cap: int,
) -> None:
    data = {
        "half_life_h": half_lives,
        "incident_domain": taxonomy,
        "river_stages": rivers,
        "excess_ref": excess,
        "casualty_cap": cap,
    }
    params = params_from_mapping(data)
    assert params_from_mapping(params_to_mapping(params)) == params
    assert params_to_mapping(params_from_mapping(params_to_mapping(params))) == params_to_mapping(
        params
    )
