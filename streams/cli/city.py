"""``riskmon city import`` and ``riskmon city synth``: write a city folder (``districts.geojson``,
``population.csv``, ``city.toml``) from official data or synthesized districts.

The work is pure (:mod:`streams.city.importer`, :mod:`streams.city.synth`); this module reads the
input files, prints one line per stage on stderr and writes the folder. A refusal
(:class:`~streams.city.config.CityConfigError`) ends the command with exit status 2 and one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from streams.city.config import CityConfigError, config_of_data
from streams.city.folder import CityData, Progress, folder_texts
from streams.city.importer import Fields, import_city
from streams.city.synth import SynthError, approximate_gimpo, from_facts, random_city
from streams.settings import Settings

__all__ = ["city_import", "city_synth", "write_city_folder"]


def _stages(command: str) -> Progress:
    """One line per stage on stderr, with the seconds since the command began."""
    began = time.monotonic()

    def say(stage: str) -> None:
        print(f"riskmon {command}: {time.monotonic() - began:6.1f} s  {stage}", file=sys.stderr)

    return say


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text("utf-8-sig")
    except OSError as exc:
        raise CityConfigError(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc


def write_city_folder(data: CityData, out: Path) -> list[Path]:
    """Write the folder's three files (creating ``out``); returns their paths."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in folder_texts(data).items():
            (out / name).write_text(text, "utf-8")
            written.append(out / name)
    except OSError as exc:
        raise CityConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from exc
    return written


def _finish(data: CityData, out: Path, say: Progress) -> None:
    say(f"writing {out}")
    write_city_folder(data, out)
    config_of_data(data, source=str(out))  # what the worker will load: fail here, not there
    total = sum(d.population for d in data.districts)
    label = " (approximate districts)" if data.approximate else ""
    say(f"done: {len(data.districts)} districts{label}, {total:,} residents")
    print(out)


def city_import(args: argparse.Namespace, settings: Settings) -> int:
    """``riskmon city import``: validate official boundaries and population, write the folder."""
    say = _stages("city import")
    fields = Fields(
        code_field=args.code_field,
        name_field=args.name_field,
        name_en_field=args.name_en_field,
        kind_field=args.kind_field,
        pop_code_field=args.pop_code_field,
        pop_field=args.pop_field,
    )
    imported = import_city(
        _read(args.boundaries, "--boundaries"),
        _read(args.population, "--population"),
        select=args.select,
        name=args.name or args.out.resolve().name,
        fields=fields,
        boundaries_name=str(args.boundaries),
        population_name=str(args.population),
        progress=say,
    )
    for warning in imported.warnings:
        print(f"riskmon city import: warning: {warning}", file=sys.stderr)
    _finish(imported.city, args.out, say)
    return 0


def city_synth(args: argparse.Namespace, settings: Settings) -> int:
    """``riskmon city synth``: approximate Gimpo (or ``--facts F.toml``), or ``--districts N``
    random districts; write the folder."""
    say = _stages("city synth")
    try:
        if args.districts is not None:
            data = random_city(
                args.districts,
                args.seed,
                lat=args.lat,
                lon=args.lon,
                name=args.name,
                progress=say,
            )
        elif args.facts is not None:
            data = from_facts(_read(args.facts, "--facts"), where=str(args.facts), progress=say)
        else:
            data = approximate_gimpo()
    except SynthError as exc:
        raise CityConfigError(str(exc)) from exc
    if args.name and args.districts is None:
        data = dataclasses.replace(data, name=args.name)
    _finish(data, args.out, say)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``city`` command and its actions (``import``, ``synth``)."""
    city = sub.add_parser("city", help="build a city folder: import official data or synthesize")
    actions = city.add_subparsers(dest="action", required=True)
    imp = actions.add_parser(
        "import",
        help="a city folder from official boundaries (GeoJSON) and population (CSV), validated",
    )
    imp.add_argument("--boundaries", type=Path, required=True, help="GeoJSON FeatureCollection")
    imp.add_argument("--population", type=Path, required=True, help="CSV: code and population")
    imp.add_argument(
        "--select", required=True, help="keep districts whose code starts with this (41570)"
    )
    imp.add_argument("--out", type=Path, required=True, help="the city folder to write")
    imp.add_argument("--name", default=None, help="the city's name (default: the folder's)")
    imp.add_argument("--code-field", default="code", help="10-digit code property (adm_cd2)")
    imp.add_argument("--name-field", default="name_ko", help="name property (adm_nm)")
    imp.add_argument("--name-en-field", default="name_en", help="English name property")
    imp.add_argument("--kind-field", default="kind", help="eup/myeon/dong property")
    imp.add_argument("--pop-code-field", default="code", help="code column of the CSV")
    imp.add_argument("--pop-field", default="population", help="population column of the CSV")
    synth = actions.add_parser(
        "synth",
        help="approximate Gimpo from the facts riskmon keeps, or --districts N random districts",
    )
    synth.add_argument("--out", type=Path, required=True, help="the city folder to write")
    synth.add_argument("--districts", type=int, default=None, help="N random districts")
    synth.add_argument("--seed", type=int, default=1, help="random city: its seed (default 1)")
    synth.add_argument("--lat", type=float, default=36.5, help="random city: centre latitude")
    synth.add_argument("--lon", type=float, default=127.8, help="random city: centre longitude")
    synth.add_argument("--facts", type=Path, default=None, help="a facts TOML (gimpo_facts.toml)")
    synth.add_argument("--name", default=None, help="the city's name")
