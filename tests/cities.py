"""City configurations written for tests (shared by unit and integration tests)."""

from __future__ import annotations

from pathlib import Path

from streams.city.config import bundled_config_path


def instant_alerts_city(folder: Path) -> Path:
    """Gimpo, with the shipped alert rules but for one change made for a test: the domains'
    thresholds fire at once instead of after 5 min. The composite keeps its 5 min (so a burst
    that lifts it with one domain is that domain's alert), the spike detector its 30-minute
    warm-up (no spike during a short test) and staleness its hour."""
    data = bundled_config_path().parent
    path = folder / "city.toml"
    path.write_text(f"""
[city]
name = "Gimpo (test)"
districts = "{data / "districts.geojson"}"
population = "{data / "population.csv"}"

[alerts.threshold]
min_duration_s = 0

[alerts.domains.composite.threshold]
min_duration_s = 300
""")
    return path
