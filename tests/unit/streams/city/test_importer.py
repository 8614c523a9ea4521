"""``riskmon city import``: rebuilds an equivalent Gimpo folder from the official files (read in
place in ../shared/data/gimpo), and refuses broken boundaries (a self-intersecting bow tie, a
duplicate code, overlaps, gaps, a district without population) with exit 2 and one line naming
the feature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.city.config import load_city_config
from streams.city.importer import CityImportError, Fields, import_city
from streams.cli.main import main
from tests.cities import exact_gimpo, shared_gimpo

SQUARE = [[126.0, 37.0], [126.1, 37.0], [126.1, 37.1], [126.0, 37.1], [126.0, 37.0]]
BOW_TIE = [[126.1, 37.0], [126.2, 37.1], [126.2, 37.0], [126.1, 37.1], [126.1, 37.0]]


def shifted(ring: list[list[float]], dx: float) -> list[list[float]]:
    return [[x + dx, y] for x, y in ring]


def feature(code: str, name: str, ring: list[list[float]]) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": {"adm_cd2": code, "adm_nm": f"경기도 시험시 {name}"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def collection(*features: dict[str, object]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


POPULATION = 'code,population\n1111000001,"1,000"\n1111000002,2000\n1111000003,5\n'
FIELDS = Fields(code_field="adm_cd2", name_field="adm_nm")


def run(boundaries: str, population: str = POPULATION) -> list[str]:
    imported = import_city(boundaries, population, select="11110", name="Test", fields=FIELDS)
    return [d.code for d in imported.city.districts] + list(imported.warnings)


def test_official_gimpo_rebuilds_an_equivalent_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = shared_gimpo(), tmp_path / "gimpo"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "city",
                "import",
                "--boundaries",
                str(data / "districts.geojson"),
                "--population",
                str(data / "population.csv"),
                "--select",
                "41570",
                "--out",
                str(out),
            ]
        )
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == str(out)
    rebuilt, real = load_city_config(out).city, exact_gimpo()
    assert rebuilt.codes == real.codes
    assert len(real.codes) == 14
    for code in real.codes:
        a, b = rebuilt.districts[code], real.districts[code]
        assert (a.name_ko, a.name_en, a.kind, a.population) == (
            b.name_ko,
            b.name_en,
            b.kind,
            b.population,
        )
        assert a.area_km2 == pytest.approx(b.area_km2, rel=1e-3)
    assert not load_city_config(out).approximate


def test_other_property_names_full_names_and_kinds() -> None:
    imported = import_city(
        collection(
            feature("1111000001", "가동", SQUARE),
            feature("1111000002", "나읍", shifted(SQUARE, 0.1)),
        ),
        POPULATION,
        select="11110",
        name="Test",
        fields=FIELDS,
    )
    first, second = imported.city.districts
    assert (first.name_ko, first.kind, first.population) == ("가동", "dong", 1000)
    assert (second.name_ko, second.kind) == ("나읍", "eup")
    assert imported.warnings == (
        "population: code 1111000003: a population row without a district in boundaries",
    )


@pytest.mark.parametrize(
    ("features", "words"),
    [
        (
            [feature("1111000001", "가동", SQUARE), feature("1111000002", "나동", BOW_TIE)],
            "feature 2 (code 1111000002, 경기도 시험시 나동): invalid geometry: "
            "Self-intersection at lon 126.15",
        ),
        (
            [
                feature("1111000001", "가동", SQUARE),
                feature("1111000001", "나동", shifted(SQUARE, 0.1)),
            ],
            "feature 2 (code 1111000001, 경기도 시험시 나동): duplicate code 1111000001, already "
            "used by feature 1",
        ),
        (
            [feature("111100001", "가동", SQUARE)],
            "(code 111100001, 경기도 시험시 가동): the code is not 10 digits",
        ),
        (
            [
                feature("1111000001", "가동", SQUARE),
                feature("1111000002", "나동", shifted(SQUARE, 0.05)),
            ],
            "feature 1 (code 1111000001, 경기도 시험시 가동) and feature 2 "
            "(code 1111000002, 경기도 시험시 나동) overlap by",
        ),
        (
            [
                feature(
                    "1111000001",
                    "가동",
                    [[126.0, 37.0], [126.3, 37.0], [126.3, 37.02], [126.0, 37.02], [126.0, 37.0]],
                ),
                feature(
                    "1111000002",
                    "나동",
                    [[126.0, 37.08], [126.3, 37.08], [126.3, 37.1], [126.0, 37.1], [126.0, 37.08]],
                ),
                feature(
                    "1111000003",
                    "다동",
                    [
                        [126.0, 37.02],
                        [126.1, 37.02],
                        [126.1, 37.08],
                        [126.0, 37.08],
                        [126.0, 37.02],
                    ],
                ),
                feature(
                    "1111000004",
                    "라동",
                    [
                        [126.2, 37.02],
                        [126.3, 37.02],
                        [126.3, 37.08],
                        [126.2, 37.08],
                        [126.2, 37.02],
                    ],
                ),
            ],
            "a gap of",
        ),
        (
            [feature("1111000009", "가동", SQUARE)],
            "no population row for feature 1 (code 1111000009",
        ),
    ],
)
def test_broken_boundaries_are_refused_naming_the_feature(
    features: list[dict[str, object]], words: str
) -> None:
    with pytest.raises(CityImportError) as error:
        run(collection(*features), POPULATION + "1111000004,7\n")
    assert words in str(error.value)


def test_the_command_refuses_with_exit_2_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "b.geojson").write_text(
        collection(feature("1111000001", "가동", SQUARE), feature("1111000002", "나동", BOW_TIE))
    )
    (tmp_path / "p.csv").write_text(POPULATION)
    args = ["city", "import", "--boundaries", str(tmp_path / "b.geojson")]
    args += ["--population", str(tmp_path / "p.csv"), "--select", "11110"]
    args += ["--out", str(tmp_path / "out"), "--code-field", "adm_cd2", "--name-field", "adm_nm"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("riskmon city: ")
    assert "code 1111000002" in last
    assert "Self-intersection" in last
    assert not (tmp_path / "out").exists()
