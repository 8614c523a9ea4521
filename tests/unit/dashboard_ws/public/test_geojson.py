"""The open GeoJSON document: simplified boundaries that still tile the city, names, grades,
the published hour, the licence, and nothing about events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import shapely
from pydantic import ValidationError

from dashboard_ws.public.disclosure import PublicGrades, publication
from dashboard_ws.public.geojson import (
    COORDINATE_DECIMALS,
    TOLERANCE_DEG,
    BoundarySource,
    document,
    encode,
    etag_of,
    simplified_boundaries,
)
from streams.city.config import default_city_config
from streams.contract import OpenDistrictsDocument
from tests.cities import exact_gimpo_config

NOW = datetime(2026, 12, 5, 14, 37, tzinfo=UTC)


def coordinates(geometry: dict[str, object]) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", json.dumps(geometry["coordinates"]))]


def test_simplified_districts_stay_within_the_tolerance_and_still_tile_the_city() -> None:
    city = exact_gimpo_config().city
    simple = simplified_boundaries(city)
    assert list(simple) == list(city.codes)
    shapes = [shapely.geometry.shape(simple[code]) for code in city.codes]
    originals = [city.districts[code].geometry for code in city.codes]
    assert all(shape.is_valid for shape in shapes)
    assert shapely.coverage_is_valid(shapes)  # no overlaps between neighbours
    for shape, original in zip(shapes, originals, strict=True):
        # the tolerance bounds the distance to the original outline (plus the rounding)
        assert shapely.hausdorff_distance(shape, original) <= TOLERANCE_DEG + 1e-5
        assert abs(shape.area - original.area) / original.area < 0.01
    before = sum(shapely.get_num_coordinates(g) for g in originals)
    after = sum(shapely.get_num_coordinates(g) for g in shapes)
    assert after < 0.75 * before
    for code in city.codes:
        assert all(round(x, COORDINATE_DECIMALS) == x for x in coordinates(simple[code]))
    # the union has no new gaps: its area is that of the original union
    union = shapely.union_all(shapes).area
    assert abs(union - shapely.union_all(originals).area) / union < 0.005


def build(grades: dict[str, PublicGrades], versions: dict[str, str]) -> dict[str, object]:
    config = exact_gimpo_config()
    source = BoundarySource(config.attribution, config.license, config.approximate)
    simple = simplified_boundaries(config.city)
    return document(config.city, simple, grades, versions, publication(NOW), source)


def test_the_document_lists_every_district_with_names_grades_and_the_hour() -> None:
    config = exact_gimpo_config()
    janggi, tongjin = "4157056000", "4157025000"
    grades = {janggi: PublicGrades(overall=4, safety=2, natural=1, calamity=4, crime=2),
              tongjin: PublicGrades(withheld=True)}  # fmt: skip
    doc = build(grades, {janggi: "model-1", tongjin: "model-1"})
    assert doc["type"] == "FeatureCollection"
    assert (doc["as_of"], doc["published_at"], doc["next_update_at"]) == (
        "2026-12-05T13:00:00Z", "2026-12-05T14:00:00Z", "2026-12-05T15:00:00Z"
    )  # fmt: skip
    assert doc["model_versions"] == ["model-1"]
    boundaries = doc["boundaries"]
    assert isinstance(boundaries, dict)
    assert boundaries["attribution"] == config.attribution
    assert "SGIS" in boundaries["attribution"]
    assert "KOGL" in boundaries["license"]
    assert str(TOLERANCE_DEG) in boundaries["simplification"]
    features = doc["features"]
    assert isinstance(features, list)
    assert [f["id"] for f in features] == list(config.city.codes)
    by_code = {f["id"]: f["properties"] for f in features}
    assert set(by_code[janggi]) == {"code", "name_ko", "name_en", "grades", "withheld",
                                    "model_version"}  # fmt: skip
    assert by_code[janggi]["name_ko"] == "장기동"
    assert by_code[janggi]["name_en"] == "Janggi-dong"
    assert by_code[janggi]["grades"] == {"overall": 4, "safety": 2, "natural": 1,
                                         "calamity": 4, "crime": 2}  # fmt: skip
    assert by_code[tongjin]["withheld"] is True
    assert by_code[tongjin]["model_version"] is None
    assert set(by_code[tongjin]["grades"].values()) == {None}
    others = [p for code, p in by_code.items() if code not in grades]
    assert others
    assert all(set(p["grades"].values()) == {None} for p in others)


def test_encoding_is_compact_utf8_and_the_etag_follows_the_bytes() -> None:
    one = encode(build({}, {}))
    assert "장기동".encode() in one
    assert b": " not in one
    assert json.loads(one)["type"] == "FeatureCollection"
    two = encode(build({"4157056000": PublicGrades(overall=2)}, {"4157056000": "m"}))
    assert etag_of(one) == etag_of(bytes(one)) != etag_of(two)
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag_of(one))


def test_the_approximate_city_works_and_says_it_is_approximate() -> None:
    config = default_city_config()
    simple = simplified_boundaries(config.city)
    source = BoundarySource(config.attribution, config.license, config.approximate)
    doc = document(config.city, simple, {}, {}, publication(NOW), source)
    assert len(doc["features"]) == len(config.city.codes) == 14
    assert doc["boundaries"]["approximate"] is True
    assert doc["boundaries"]["attribution"] is None


def test_documents_conform_to_the_contract_schema_and_it_refuses_a_stray_field() -> None:
    """What ``/open/districts.geojson`` answers is what its published schema (the contract's
    ``open-districts``, also in the OpenAPI document) says: graded, withheld and unknown
    districts, the official and the approximate city."""
    graded = {"4157056000": PublicGrades(overall=4, safety=2, natural=1, calamity=4, crime=2),
              "4157025000": PublicGrades(withheld=True)}  # fmt: skip
    config = default_city_config()
    approximate = document(
        config.city,
        simplified_boundaries(config.city),
        {},
        {},
        publication(NOW),
        BoundarySource(config.attribution, config.license, config.approximate),
    )
    for doc in (build(graded, {"4157056000": "m-1", "4157025000": "m-1"}), approximate):
        parsed = OpenDistrictsDocument.model_validate(json.loads(encode(doc)))
        assert len(parsed.features) == len(doc["features"])  # type: ignore[arg-type]
    stray = json.loads(encode(build(graded, {})))
    stray["features"][0]["properties"]["incident_id"] = "a leak"
    with pytest.raises(ValidationError):
        OpenDistrictsDocument.model_validate(stray)
    out_of_scale = json.loads(encode(build(graded, {})))
    out_of_scale["features"][0]["properties"]["grades"]["overall"] = 6
    with pytest.raises(ValidationError):
        OpenDistrictsDocument.model_validate(out_of_scale)
