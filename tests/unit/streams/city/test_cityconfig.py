"""City configuration: the default (approximate Gimpo), a city folder with or without city.toml
(RISKMON_CITY), another city's files, errors that name the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.city.config import CityConfigError, load_city_config
from streams.settings import Settings
from tests.cities import shared_gimpo

SQUARE = [[[126.0, 37.0], [126.1, 37.0], [126.1, 37.1], [126.0, 37.1], [126.0, 37.0]]]


def write_city(folder: Path, toml: str) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"code": "1111000001", "name_ko": "가동"},
            "geometry": {"type": "Polygon", "coordinates": SQUARE},
        },
        {
            "type": "Feature",
            "properties": {"code": "1111000002", "name_ko": "나동"},
            "geometry": {"type": "Polygon", "coordinates": [[[x + 0.1, y] for x, y in SQUARE[0]]]},
        },
    ]
    (folder / "d.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    (folder / "p.csv").write_text("code,population\n1111000001,1000\n1111000002,2000\n")
    path = folder / "city.toml"
    path.write_text(toml)
    return path


CITY = '[city]\nname = "Testville"\ndistricts = "d.geojson"\npopulation = "p.csv"\n'


def test_default_city_is_approximate_gimpo() -> None:
    config = load_city_config()
    assert len(config.city.codes) == 14
    assert config.approximate
    assert "approximate" in config.city.name
    assert config.params.river_stages["river-gimpo-1"] == (3.0, 4.5, 6.0, 7.5)
    assert config.river_gauges == {"river-gimpo-1": "4157025300", "river-gimpo-2": "4157036000"}


def test_a_folder_without_city_toml_uses_conventional_names(tmp_path: Path) -> None:
    folder = tmp_path / "testville"
    folder.mkdir()
    write_city(folder, "")
    (folder / "city.toml").unlink()
    (folder / "d.geojson").rename(folder / "districts.geojson")
    (folder / "p.csv").rename(folder / "population.csv")
    config = load_city_config(folder)
    assert config.city.name == "testville"
    assert not config.approximate
    assert config.params == load_city_config().params.__class__()
    assert config.city.locate(37.05, 126.15) == "1111000002"


def test_riskmon_city_names_a_folder_or_a_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_city(tmp_path, CITY + "approximate = true\n")
    monkeypatch.setenv("RISKMON_CITY", str(tmp_path))
    settings = Settings()
    assert settings.city == tmp_path
    config = load_city_config(settings.city)
    assert (config.city.name, config.approximate) == ("Testville", True)
    monkeypatch.delenv("RISKMON_CITY")
    monkeypatch.setenv("RISKMON_CITY_CONFIG", str(path))  # the deprecated name still works
    assert load_city_config(Settings().city).city.name == "Testville"


def test_the_shared_exact_gimpo_folder_loads() -> None:
    config = load_city_config(shared_gimpo())
    assert len(config.city.codes) == 14
    assert config.city.name == "gimpo"


def test_another_city_with_its_own_files_and_overrides(tmp_path: Path) -> None:
    path = write_city(tmp_path, CITY + "[model.half_life_h]\nfire = 6\n")
    config = load_city_config(path)
    assert config.city.name == "Testville"
    assert config.city.locate(37.05, 126.05) == "1111000001"
    assert config.city.locate(37.05, 126.15) == "1111000002"
    assert config.params.half_life_h["fire"] == 6
    assert config.params.half_life_h["crime"] == load_city_config().params.half_life_h["crime"]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[city]\ndistricts = "d.geojson"\n', "city.population: cannot read"),
        (CITY + "approximate = 1\n", "city.approximate: expected true or false"),
        (CITY + '[city.river_gauges]\nriver-x = "999"\n', "city.river_gauges.river-x"),
        (
            '[city]\ndistricts = "nope.geojson"\npopulation = "p.csv"\n',
            "city.districts: cannot read",
        ),
        (CITY + 'colour = "red"\n', "city.colour: unknown key"),
        (CITY + "[modle]\n", "modle: unknown table"),
        (CITY + "[model.half_life_h]\nfyre = 3\n", "model.half_life_h.fyre"),
        (CITY + "[model]\nseverity_weight = [1, 2, 3, 4]\n", "model.severity_weight"),
        (CITY + "[model]\nhalf_lives = 3\n", "model.half_lives"),
        ("[city\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, toml: str, words: str) -> None:
    path = write_city(tmp_path, toml)
    with pytest.raises(CityConfigError) as error:
        load_city_config(path)
    assert str(path) in str(error.value)
    assert words in str(error.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CityConfigError, match="cannot read"):
        load_city_config(tmp_path / "missing.toml")
