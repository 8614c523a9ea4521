"""City configurations written for tests (shared by unit and integration tests).

Tests that need Gimpo's exact boundaries read the official files where they lie, beside the
repository (``../shared/data/gimpo``: districts.geojson, population.csv and their README with
source and licence); riskmon ships no boundary data. Without that folder these helpers fail with a
message saying where it was expected.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from streams.city.config import CityConfig, parse_city_config
from streams.city.map import CityMap

SHARED_GIMPO = Path(__file__).resolve().parents[2] / "shared" / "data" / "gimpo"

# The flood stages of the simulator's two gauges on the Han river, as approximate Gimpo has them.
GIMPO_TOML = """
[city]
name = "{name}"
districts = "{data}/districts.geojson"
population = "{data}/population.csv"
license = "KOGL Type 1 (SGIS boundaries); CC BY 4.0 (admdongkor's processing)"
attribution = "Statistics Korea SGIS (KOGL Type 1), modified by vuski/admdongkor (CC BY 4.0)"

[city.river_gauges]
"river-gimpo-1" = "4157025300"
"river-gimpo-2" = "4157036000"

[model.river_stages]
"river-gimpo-1" = [3.0, 4.5, 6.0, 7.5]
"river-gimpo-2" = [2.5, 3.5, 4.5, 5.5]
"""


def shared_gimpo() -> Path:
    """The folder of Gimpo's official files; fails (never skips) when it is missing."""
    for name in ("districts.geojson", "population.csv"):
        if not (SHARED_GIMPO / name).is_file():
            raise FileNotFoundError(
                f"{SHARED_GIMPO / name} is missing: tests need Gimpo's official boundaries and "
                "population beside the repository (../shared/data/gimpo)"
            )
    return SHARED_GIMPO


def gimpo_city_toml(folder: Path, name: str = "Gimpo-si 김포시", extra: str = "") -> Path:
    """Write ``folder/city.toml``: exact Gimpo (the shared files, by absolute path) with the
    river gauges' stages, plus ``extra`` TOML tables."""
    path = folder / "city.toml"
    path.write_text(GIMPO_TOML.format(name=name, data=shared_gimpo()) + extra, "utf-8")
    return path


@cache
def exact_gimpo_config() -> CityConfig:
    """Gimpo with its exact boundaries and the simulator gauges' river stages."""
    text = GIMPO_TOML.format(name="Gimpo-si 김포시", data=shared_gimpo())
    return parse_city_config(tomllib.loads(text), SHARED_GIMPO / "city.toml", "exact Gimpo (tests)")


def exact_gimpo() -> CityMap:
    """Gimpo's 14 districts with their exact boundaries."""
    return exact_gimpo_config().city


def instant_alerts_city(folder: Path) -> Path:
    """Gimpo, with the shipped alert rules but for one change made for a test: the domains'
    thresholds fire at once instead of after 5 min. The composite keeps its 5 min (so a burst
    that lifts it with one domain is that domain's alert), the spike detector its 30-minute
    warm-up (no spike during a short test) and staleness its hour."""
    return gimpo_city_toml(
        folder,
        name="Gimpo (test)",
        extra="""
[alerts.threshold]
min_duration_s = 0

[alerts.domains.composite.threshold]
min_duration_s = 300
""",
    )
