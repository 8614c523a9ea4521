"""``riskmon city synth``: approximate Gimpo from the facts riskmon keeps, random cities; both
tile their outline (no overlaps, no gaps) with each district's point in its own cell."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
import shapely

from streams.city.config import load_city_config
from streams.city.folder import partition_problems
from streams.city.synth import (
    FACTS_ATTRIBUTION,
    SynthError,
    approximate_gimpo,
    from_facts,
    gimpo_facts_text,
    random_city,
)
from streams.cli.main import main
from tests.cities import exact_gimpo

FACTS = tomllib.loads(gimpo_facts_text())


def test_the_facts_say_what_they_are() -> None:
    header = " ".join(line.lstrip("# ") for line in gimpo_facts_text().splitlines()[:5])
    assert FACTS_ATTRIBUTION in header
    rows = FACTS["city"]["districts"]
    assert len(rows) == 14
    assert sum(r["population"] for r in rows) == 486_508
    assert 12 <= len(FACTS["city"]["outline"]) <= 25


def test_approximate_gimpo_is_a_partition_with_each_point_in_its_cell() -> None:
    data = approximate_gimpo()
    assert data.approximate
    assert data.name == "Gimpo-si 김포시 (approximate districts)"
    geoms = [d.geometry for d in data.districts]
    assert partition_problems(geoms, [d.code for d in data.districts], overlap_m2=1, gap_m2=1) == []
    outline = shapely.Polygon([(lon, lat) for lat, lon in FACTS["city"]["outline"]])
    assert shapely.union_all(geoms).area == pytest.approx(outline.area, rel=1e-9)
    for row, district in zip(FACTS["city"]["districts"], data.districts, strict=True):
        lat, lon = row["point"]
        assert district.geometry.contains(shapely.Point(lon, lat)), row["code"]


def test_the_readme_incident_lands_in_janggi_dong_on_both_maps() -> None:
    """README's example fire (37.6385, 126.6791) is in 장기동 on the approximate city (the
    default) as on the real boundaries; plain Voronoi cells of the facts' points suffice."""
    assert load_city_config().city.locate(37.6385, 126.6791) == "4157056000"
    assert exact_gimpo().locate(37.6385, 126.6791) == "4157056000"


def test_the_facts_points_lie_in_their_real_districts() -> None:
    real = exact_gimpo()
    for row in FACTS["city"]["districts"]:
        assert real.locate(*row["point"]) == row["code"]


def test_a_random_city_is_deterministic_and_valid() -> None:
    one, two = random_city(200, seed=3), random_city(200, seed=3)
    assert [d.code for d in one.districts] == [d.code for d in two.districts]
    assert all(
        a.geometry.equals(b.geometry) for a, b in zip(one.districts, two.districts, strict=True)
    )
    codes = [d.code for d in one.districts]
    assert len(set(codes)) == 200
    assert all(len(c) == 10 and c.isdigit() for c in codes)
    assert all(500 <= d.population <= 150_000 for d in one.districts)
    assert random_city(200, seed=4).districts[0].geometry != one.districts[0].geometry


def test_3500_districts_in_reasonable_time_and_valid() -> None:
    began = time.monotonic()
    data = random_city(3500, seed=1)  # checks the partition itself (raises otherwise); ~1 s
    city = data.city_map()
    assert time.monotonic() - began < 60
    assert len(city.codes) == 3500
    geoms = [d.geometry for d in data.districts]
    assert partition_problems(geoms, [d.code for d in data.districts]) == []
    assert all(g.is_valid for g in geoms)


def test_bad_facts_name_the_key() -> None:
    with pytest.raises(SynthError, match=r"city.districts\[0\].code: expected 10 digits"):
        from_facts(
            '[city]\nname = "x"\noutline = [[0, 0], [0, 1], [1, 1]]\n'
            'districts = [{code = "12", name_ko = "가", name_en = "Ga", kind = "dong", '
            "point = [0.2, 0.5], population = 10}]\n"
        )
    with pytest.raises(SynthError, match="--districts"):
        random_city(0, seed=1)


def test_the_command_writes_a_loadable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["city", "synth", "--out", str(tmp_path / "gimpo")])
    assert done.value.code == 0
    config = load_city_config(tmp_path / "gimpo")
    assert config.approximate
    assert config.params.river_stages["river-gimpo-2"] == (2.5, 3.5, 4.5, 5.5)
    assert config.city.locate(37.6385, 126.6791) == "4157056000"
    with pytest.raises(SystemExit):
        main(["city", "synth", "--out", str(tmp_path / "r"), "--districts", "50", "--seed", "2"])
    assert len(load_city_config(tmp_path / "r").city.codes) == 50
    assert "districts" in capsys.readouterr().err
