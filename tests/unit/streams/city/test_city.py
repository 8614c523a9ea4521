"""Gimpo's exact map (the official files in ../shared/data/gimpo): 14 districts, point-in-polygon
placement, stable partitions."""

from __future__ import annotations

import pytest

from tests.cities import exact_gimpo

CITY = exact_gimpo()

# (code, area km², a point inside) from ../shared/data/gimpo/README.md
README_TABLE = [
    ("4157025000", 29.138, (37.69607, 126.59953)),
    ("4157025300", 24.978, (37.60656, 126.76333)),
    ("4157025600", 35.879, (37.63891, 126.61340)),  # representative point (concave polygon)
    ("4157034000", 47.426, (37.64625, 126.56854)),
    ("4157035000", 49.992, (37.73164, 126.55133)),
    ("4157036000", 54.970, (37.73445, 126.64513)),
    ("4157051500", 10.678, (37.63409, 126.70982)),
    ("4157052500", 2.475, (37.64805, 126.66362)),
    ("4157054000", 3.322, (37.61896, 126.72617)),
    ("4157055000", 4.676, (37.60622, 126.72211)),
    ("4157056000", 4.263, (37.63845, 126.67913)),
    ("4157057000", 2.097, (37.64589, 126.62811)),
    ("4157057500", 3.165, (37.63935, 126.64153)),
    ("4157058000", 7.519, (37.65718, 126.68564)),
]


def test_fourteen_districts_with_population() -> None:
    assert len(CITY.districts) == 14
    assert sum(d.population for d in CITY.districts.values()) == 486_508


@pytest.mark.parametrize(("code", "area", "point"), README_TABLE)
def test_points_and_areas_match_the_data_readme(
    code: str, area: float, point: tuple[float, float]
) -> None:
    assert CITY.locate(*point) == code
    assert CITY.districts[code].area_km2 == pytest.approx(area, rel=0.005)


def test_points_outside_the_city_have_no_district() -> None:
    assert CITY.locate(37.5665, 126.9780) is None  # Seoul City Hall
    assert CITY.locate(0.0, 0.0) is None


def test_adjacency_is_symmetric_and_follows_the_map() -> None:
    adjacency = CITY.adjacency()
    assert sum(len(n) for n in adjacency.values()) == 2 * 25
    for code, neighbours in adjacency.items():
        assert code not in neighbours
        assert all(code in adjacency[other] for other in neighbours)
    # 장기동 borders 김포본동, 장기본동 and 운양동; 월곶면 (north-west) does not touch 장기동
    assert adjacency["4157056000"] == {"4157051500", "4157052500", "4157058000"}
    assert "4157056000" not in adjacency["4157035000"]


def test_every_district_has_exactly_one_partition() -> None:
    for partitions in (1, 3, 4, 16):
        owned = [CITY.codes_of_partition(p, partitions) for p in range(partitions)]
        flat = sorted(code for codes in owned for code in codes)
        assert flat == sorted(CITY.codes)
