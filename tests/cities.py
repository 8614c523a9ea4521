"""City configurations written for tests (shared by unit and integration tests)."""

from __future__ import annotations

from pathlib import Path

from streams.cityconfig import bundled_config_path


def instant_alerts_city(folder: Path) -> Path:
    """Gimpo, with alert rules made for a test: thresholds fire at once, no spike (the detector
    needs a 30-minute warm-up), no staleness, no composite alerts."""
    data = bundled_config_path().parent
    path = folder / "city.toml"
    path.write_text(f"""
[city]
name = "Gimpo (test)"
districts = "{data / "districts.geojson"}"
population = "{data / "population.csv"}"

[alerts.threshold]
min_duration_s = 0

[alerts.spike]
enabled = false

[alerts.stale]
enabled = false

[alerts.domains.composite.threshold]
enabled = false
""")
    return path
