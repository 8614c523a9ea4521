"""``riskmon city import``: a city folder from official data, validated (pure: text in, a
:class:`~streams.city.folder.CityData` out; the command writes the files).

The boundaries are a GeoJSON FeatureCollection of Polygon/MultiPolygon districts (e.g. Statistics
Korea's 행정동 boundaries, properties ``adm_cd2`` and ``adm_nm``); the population a CSV with a code
and a population column (e.g. the resident-registration table). ``select`` keeps the features and
rows whose code starts with it (``41570``: Gimpo-si). Property and column names default to the
ones riskmon writes (``code``, ``name_ko``, ``name_en``, ``kind``; ``code``, ``population``).

Refused, with a message naming the feature (its position, code and name): a geometry that is not
a (multi)polygon or not valid (``shapely.is_valid_reason``, e.g. a self-intersecting "bow tie"),
a code that is not 10 digits or appears twice, two districts overlapping by more than
``overlap_m2``, a gap between districts larger than ``gap_m2`` (a hole in their union), a district
without a population row, a population that is not a non-negative integer. Population rows
without a district are reported as warnings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import shape

from streams.city.config import CityConfigError
from streams.city.folder import CityData, DistrictRecord, Progress, no_progress, partition_problems

__all__ = ["CityImportError", "Fields", "Imported", "import_city"]

KINDS = {"읍": "eup", "면": "myeon", "동": "dong", "가": "dong", "리": "ri"}


class CityImportError(CityConfigError):
    """The official data cannot make a city; the message names the file and the feature."""

    retriable = False


@dataclass(frozen=True)
class Fields:
    """Names of the properties (boundaries) and columns (population) to read.

    ``name_en_field`` and ``kind_field`` may be missing from the data: the English name then
    repeats the Korean one, the kind comes from the name's last syllable (읍 eup, 면 myeon,
    동 dong).
    A name with spaces (``경기도 김포시 통진읍``) keeps its last word.
    """

    code_field: str = "code"
    name_field: str = "name_ko"
    name_en_field: str = "name_en"
    kind_field: str = "kind"
    pop_code_field: str = "code"
    pop_field: str = "population"


@dataclass(frozen=True)
class Imported:
    city: CityData
    warnings: tuple[str, ...]


def _features(text: str, where: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CityImportError(f"{where}: not valid JSON: {exc}") from exc
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise CityImportError(f"{where}: not a GeoJSON FeatureCollection (no 'features' list)")
    return features


def _label(number: int, code: str, name: str) -> str:
    return f"feature {number} (code {code}, {name or 'no name'})"


def _population(text: str, where: str, select: str, fields: Fields) -> dict[str, int]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = reader.fieldnames or []
    for column in (fields.pop_code_field, fields.pop_field):
        if column not in columns:
            raise CityImportError(
                f"{where}: no column {column!r} (columns: {', '.join(columns) or 'none'}); "
                "choose others with --pop-code-field/--pop-field"
            )
    rows: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        code = (row[fields.pop_code_field] or "").strip()
        if not code.startswith(select):
            continue
        value = (row[fields.pop_field] or "").strip().replace(",", "")
        if not value.isdigit():
            raise CityImportError(
                f"{where}:{line}: code {code}: population {row[fields.pop_field]!r} is not a "
                "non-negative integer"
            )
        if code in rows:
            raise CityImportError(f"{where}:{line}: code {code}: a second population row")
        rows[code] = int(value)
    return rows


def _reason(geometry: shapely.Geometry) -> str:
    """``Self-intersection at lon 126.05, lat 37.05`` from shapely's ``Self-intersection[126.05
    37.05]``."""
    reason = str(shapely.is_valid_reason(geometry))
    found = re.fullmatch(r"(.*)\[(\S+) (\S+)\]", reason)
    if found is None:
        return reason
    return f"{found[1]} at lon {found[2]}, lat {found[3]}"


def _text(props: dict[str, Any], key: str) -> str:
    value = props.get(key)
    return "" if value is None else str(value).strip()


def import_city(
    boundaries: str,
    population: str,
    *,
    select: str,
    name: str,
    fields: Fields | None = None,
    boundaries_name: str = "boundaries",
    population_name: str = "population",
    overlap_m2: float = 100.0,
    gap_m2: float = 1000.0,
    progress: Progress = no_progress,
) -> Imported:
    """Validate the official files' texts and build the city; raises CityImportError."""
    fields = fields or Fields()
    where = boundaries_name
    features = _features(boundaries, where)
    progress(f"{len(features)} features in {where}; keeping codes starting with {select!r}")
    records: list[DistrictRecord] = []
    labels: list[str] = []
    first_of: dict[str, str] = {}
    for number, feature in enumerate(features, start=1):
        props = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
        code = _text(props, fields.code_field)
        if not code.startswith(select):
            continue
        full_name = _text(props, fields.name_field)
        name_ko = full_name.split()[-1] if full_name else ""
        label = _label(number, code, full_name)
        if not name_ko:
            raise CityImportError(
                f"{where}: {label}: no name in property {fields.name_field!r} "
                "(choose another with --name-field)"
            )
        if len(code) != 10 or not code.isdigit():
            raise CityImportError(f"{where}: {label}: the code is not 10 digits")
        if code in first_of:
            raise CityImportError(
                f"{where}: {label}: duplicate code {code}, already used by {first_of[code]}"
            )
        first_of[code] = label
        try:
            geometry = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CityImportError(f"{where}: {label}: unreadable geometry: {exc}") from exc
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
            raise CityImportError(
                f"{where}: {label}: expected a Polygon or MultiPolygon, got {geometry.geom_type}"
            )
        if not geometry.is_valid:
            raise CityImportError(f"{where}: {label}: invalid geometry: {_reason(geometry)}")
        kind = _text(props, fields.kind_field) or KINDS.get(name_ko[-1], "")
        records.append(
            DistrictRecord(
                code=code,
                name_ko=name_ko,
                name_en=_text(props, fields.name_en_field) or name_ko,
                kind=kind,
                population=0,
                geometry=geometry,
            )
        )
        labels.append(label)
    if not records:
        raise CityImportError(
            f"{where}: no feature has a property {fields.code_field!r} starting with {select!r} "
            "(choose the property with --code-field)"
        )
    progress(f"{len(records)} districts; checking overlaps and gaps")
    problems = partition_problems(
        [r.geometry for r in records], labels, overlap_m2=overlap_m2, gap_m2=gap_m2
    )
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise CityImportError(f"{where}: {problems[0]}{more}")
    people = _population(population, population_name, select, fields)
    missing = [label for r, label in zip(records, labels, strict=True) if r.code not in people]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CityImportError(
            f"{population_name}: no population row for {missing[0]} of {where}{more}"
        )
    extra = sorted(set(people) - set(first_of))
    warnings = tuple(
        f"{population_name}: code {code}: a population row without a district in {where}"
        for code in extra
    )
    districts = tuple(
        DistrictRecord(r.code, r.name_ko, r.name_en, r.kind, people[r.code], r.geometry)
        for r in sorted(records, key=lambda r: r.code)
    )
    return Imported(
        CityData(
            name=name,
            districts=districts,
            header=(
                f"riskmon city, built by `riskmon city import` from {boundaries_name} and "
                f"{population_name} (codes starting with {select}).",
                "Keep the data's attribution and licence terms with this folder.",
            ),
        ),
        warnings,
    )
