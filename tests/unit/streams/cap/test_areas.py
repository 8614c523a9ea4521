"""CAP areas placed on the city's districts: polygons, circles, 행정구역코드 and configured
geocode schemes, each district's share checked against shapely's own areas."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import shapely

from streams.cap import cover, parse_cap
from streams.cap.areas import MIN_RADIUS_KM, circle_polygon, districts_of_admin_code
from streams.cap.model import CapArea, Circle, ValuePair
from streams.city.config import default_city_config
from streams.city.map import CityMap, geodesic_area_km2

from .spec_examples import THUNDERSTORM, gimpo_alert

JANGGI = "4157056000"  # 장기동
SAU = "4157054000"  # 사우동


@pytest.fixture(scope="module")
def city() -> CityMap:
    return default_city_config().city


def ring_of(geometry: shapely.Geometry) -> str:
    """A district's exterior as a CAP polygon (lat,lon)."""
    return " ".join(f"{lat},{lon}" for lon, lat in geometry.exterior.coords)


def test_a_district_polygon_covers_that_district_whole(city: CityMap) -> None:
    ring = ring_of(city.districts[JANGGI].geometry)
    parsed = parse_cap(gimpo_alert(area=f"<polygon>{ring}</polygon>").encode())
    coverage = cover(parsed.alert, city)
    first = coverage.shares[0]
    assert first.code == JANGGI
    assert first.district_fraction == pytest.approx(1.0, abs=1e-6)
    assert first.area_fraction == pytest.approx(1.0, abs=1e-6)
    # neighbours touch only along the border: no area
    assert all(s.area_fraction < 1e-6 for s in coverage.shares[1:])


def test_a_polygon_across_two_districts_is_shared_by_area(city: CityMap) -> None:
    janggi, sau = city.districts[JANGGI].geometry, city.districts[SAU].geometry
    box = shapely.box(*shapely.union(janggi, sau).bounds)
    area = CapArea("box", polygons=(tuple((lat, lon) for lon, lat in box.exterior.coords),))
    coverage = cover([area], city)
    shares = {s.code: s for s in coverage.shares}
    assert shares[JANGGI].district_fraction == pytest.approx(1.0, abs=1e-3)
    assert shares[SAU].district_fraction == pytest.approx(1.0, abs=1e-3)
    inside = shapely.intersection(
        box, shapely.union_all(list(d.geometry for d in city.districts.values()))
    )
    expected = geodesic_area_km2(janggi) / geodesic_area_km2(inside)
    assert shares[JANGGI].area_fraction == pytest.approx(expected, rel=1e-3)
    assert sum(s.area_fraction for s in coverage.shares) == pytest.approx(1.0)


def test_a_circle_is_a_geodesic_disc(city: CityMap) -> None:
    centre = city.districts[JANGGI].geometry.representative_point()
    area = CapArea("1 km", circles=(Circle((centre.y, centre.x), 1.0),))
    coverage = cover([area], city)
    covered_km2 = sum(
        s.district_fraction * city.districts[s.code].area_km2 for s in coverage.shares
    )
    assert covered_km2 == pytest.approx(math.pi, rel=0.01)  # π r², r = 1 km
    assert coverage.shares[0].code == JANGGI


def test_circle_polygon_vertices_lie_at_the_radius() -> None:
    from pyproj import Geod

    polygon = circle_polygon(Circle((37.64, 126.68), 5.0))
    geod = Geod(ellps="WGS84")
    for lon, lat in list(polygon.exterior.coords)[:-1]:
        _, _, distance = geod.inv(126.68, 37.64, lon, lat)
        assert distance == pytest.approx(5000.0, abs=0.01)


def test_the_spherical_fallback_agrees_with_the_ellipsoid_within_half_a_percent() -> None:
    from streams.cap.areas import _destination

    polygon = circle_polygon(Circle((37.64, 126.68), 5.0))
    for (lon, lat), azimuth in zip(
        list(polygon.exterior.coords)[:-1], [360 * i / 64 for i in range(64)], strict=True
    ):
        slon, slat = _destination(37.64, 126.68, azimuth, 5000.0)
        assert math.hypot((slon - lon) * math.cos(math.radians(lat)), slat - lat) < 0.005 * 0.045


def test_a_zero_radius_circle_is_a_small_disc_in_its_district(city: CityMap) -> None:
    centre = city.districts[SAU].geometry.representative_point()
    coverage = cover([CapArea("point", circles=(Circle((centre.y, centre.x), 0.0),))], city)
    assert coverage.codes[0] == SAU
    km2 = coverage.shares[0].district_fraction * city.districts[SAU].area_km2
    assert km2 == pytest.approx(math.pi * MIN_RADIUS_KM**2, rel=0.02)


def test_admin_code_geocodes_by_level(city: CityMap) -> None:
    one = cover([CapArea("장기동", geocodes=(ValuePair("행정구역코드", JANGGI),))], city)
    assert one.codes == (JANGGI,)
    assert one.shares[0].district_fraction == pytest.approx(1.0)
    whole_city = cover(
        [CapArea("김포시", geocodes=(ValuePair("행정구역코드", "4157000000"),))], city
    )
    assert set(whole_city.codes) == set(city.codes)
    assert all(s.district_fraction == pytest.approx(1.0) for s in whole_city.shares)
    short = cover([CapArea("김포시", geocodes=(ValuePair("행정구역코드", "41570"),))], city)
    assert set(short.codes) == set(city.codes)
    assert districts_of_admin_code("4100000000", city.codes) == city.codes
    assert districts_of_admin_code("1100000000", city.codes) == ()
    assert districts_of_admin_code("415705600", city.codes) == ()  # 9 digits is no level


def test_unknown_schemes_and_codes_elsewhere_are_reported(city: CityMap) -> None:
    coverage = cover(parse_cap(THUNDERSTORM).alert, city)  # California
    assert coverage.shares == ()
    assert [g.value for g in coverage.unmatched] == ["006109", "006009", "006003"]
    seoul = cover([CapArea("서울", geocodes=(ValuePair("행정구역코드", "1111000000"),))], city)
    assert seoul.shares == ()
    assert seoul.unmatched == (ValuePair("행정구역코드", "1111000000"),)


def test_a_configured_geocode_scheme(city: CityMap) -> None:
    tables = {"gimpo-zone": {"north": (JANGGI, SAU), "nowhere": ("9999999999",)}}
    north = cover([CapArea("n", geocodes=(ValuePair("gimpo-zone", "north"),))], city, tables)
    assert set(north.codes) == {JANGGI, SAU}
    nowhere = cover([CapArea("x", geocodes=(ValuePair("gimpo-zone", "nowhere"),))], city, tables)
    assert nowhere.shares == ()
    assert len(nowhere.unmatched) == 1


def test_areas_of_every_language_are_one_area(city: CityMap) -> None:
    ring = ring_of(city.districts[SAU].geometry)
    english = (
        "<info><language>en-US</language><category>Met</category><event>Heavy rain</event>"
        "<urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>"
        f"<area><areaDesc>Sau-dong</areaDesc><polygon>{ring}</polygon></area></info>"
    )
    area = f"<geocode><valueName>행정구역코드</valueName><value>{JANGGI}</value></geocode>"
    alert = parse_cap(gimpo_alert(area=area, extra_info=english).encode()).alert
    coverage = cover(alert, city)
    big = {s.code for s in coverage.shares if s.district_fraction > 0.99}
    assert big == {JANGGI, SAU}


def test_a_self_crossing_polygon_is_repaired_and_noted(city: CityMap) -> None:
    c = city.districts[JANGGI].geometry.centroid
    bowtie = (
        (c.y - 0.005, c.x - 0.005),
        (c.y + 0.005, c.x + 0.005),
        (c.y + 0.005, c.x - 0.005),
        (c.y - 0.005, c.x + 0.005),
        (c.y - 0.005, c.x - 0.005),
    )
    coverage = cover([CapArea("bowtie", polygons=(bowtie,))], city)
    assert coverage.notes == (
        "area[0]/polygon[0]: not a simple ring; repaired (shapely make_valid)",
    )
    assert JANGGI in coverage.codes


def test_an_alert_over_janggi_is_an_incident_there_named_after_the_alert(city: CityMap) -> None:
    from streams.cap import classify
    from streams.cap.effects import incidents_of

    area = f"<geocode><valueName>행정구역코드</valueName><value>{JANGGI}</value></geocode>"
    alert = parse_cap(gimpo_alert(area=area).encode()).alert
    (incident,) = incidents_of(alert, cover(alert, city), classify(alert))
    assert (incident.id, incident.source, incident.code) == (
        f"KMA-2026-0001@{JANGGI}",
        "kma@korea.kr",
        JANGGI,
    )
    assert (incident.type, incident.severity) == ("flood", 4)
    assert incident.occurred_at == alert.sent
    assert incident.description == "김포시 호우경보"


def test_grazed_districts_and_overlays_give_no_incident(city: CityMap) -> None:
    from streams.cap import classify
    from streams.cap.effects import incidents_of

    centre = city.districts[JANGGI].geometry.representative_point()
    circle = f"<circle>{centre.y},{centre.x} 1.0</circle>"
    alert = parse_cap(gimpo_alert(area=circle).encode()).alert
    coverage = cover(alert, city)
    assert any(s.district_fraction < 0.05 for s in coverage.shares)  # a grazed neighbour
    kept = {i.code for i in incidents_of(alert, coverage, classify(alert), min_fraction=0.05)}
    assert kept == {s.code for s in coverage.shares if s.district_fraction >= 0.05}
    quake = parse_cap(gimpo_alert(area=circle, event="지진").encode()).alert
    quake = replace(quake, infos=tuple(replace(i, event_codes=()) for i in quake.infos))
    assert classify(quake).incident_type is None
    assert incidents_of(quake, coverage, classify(quake)) == []
