"""Default values of :class:`~indices.ModelParams`, each with its source or the reason for it.

Internal: read them through ``ModelParams()`` (``indices.params`` re-exports the ``DEFAULT_*``
names). docs/index-model.md has the same tables with the worked numbers.

>>> round(DEFAULT_BACKGROUND_PER_10K_DAY["traffic"] * 5_170 * 365)  # accidents a year
198140
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from indices.taxonomy import INCIDENT_TYPES

__all__ = [
    "DEFAULT_BACKGROUND_PER_10K_DAY",
    "DEFAULT_FACILITY_WEIGHT",
    "DEFAULT_HALF_LIFE_H",
    "DEFAULT_INCIDENT_DOMAIN",
    "DEFAULT_MEAN_MARK",
    "DEFAULT_SENSOR_CURVES",
    "DEFAULT_STRUCTURE_WEIGHT",
    "DEFAULT_VALIDITY_S",
    "HOUR_S",
    "Anchors",
]

HOUR_S: Final = 3600.0

Anchors = tuple[tuple[float, float], ...]  # (value, hazard 0-10) points of a piecewise-linear curve

# Decay half-life of an incident's weight, hours. Project choices; the reason for each is given.
DEFAULT_HALF_LIFE_H: Mapping[str, float] = {
    # A fire holds crews and the block for hours (overhaul, rekindle watch); 12 h keeps a serious
    # fire visible through the next shift and faded by the following day.
    "fire": 12.0,
    # Weather damage follows the weather; KMA heavy-rain criteria are 3 h and 12 h sums, and live
    # sensors carry the current state, so incidents fade on the scale of one rain band: 6 h.
    "flood_weather": 6.0,
    # An accident site is usually cleared within hours; 6 h spans one rush period.
    "traffic": 6.0,
    # Near-repeat victimisation lasts days (Mohler et al. 2011, JASA 106: 100-108).
    "crime": 72.0,
    # Gas leaks, sinkholes and water-main breaks stay hazards until repaired, commonly within a day.
    "living_safety": 24.0,
    # No incident type maps here by default; kept for uniformity. Fine-dust alerts look at hourly
    # means over 2 h, so 6 h lets a reported dust incident outlive one alert cycle.
    "air_quality": 6.0,
}

# Background rate μ of the Hawkes intensity: routine incidents per 10,000 residents per day.
# Approximate national orders of magnitude for Korea (51.7 M residents = 5,170 units of 10,000),
# rate = yearly count / (5,170 * 365). Not fitted to Gimpo: replace with local counts when known.
DEFAULT_BACKGROUND_PER_10K_DAY: Mapping[str, float] = {
    # ~38,000 fires a year (National Fire Agency fire statistics, 2020s): 0.020.
    "fire": 0.020,
    # Weather damage reports and heat illness: heat illness ~2,800 cases a year (KDCA surveillance)
    # plus storm and flood damage reports, order 10,000 a year in total, very seasonal: 0.005.
    "flood_weather": 0.005,
    # ~200,000 injury traffic accidents a year (KoROAD TAAS): 0.105.
    "traffic": 0.105,
    # Violence, theft and robbery, the taxonomy's crime types: ~0.5 M a year of the police's five
    # major crimes 5대 범죄 (537,000 in 2016, falling since): 0.27.
    "crime": 0.27,
    # Everyday accidents the taxonomy counts (falls, gas, electrical, drowning, collapses, water
    # mains): 119 rescue and EMS dispatches for them, order 150,000 a year: 0.08.
    "living_safety": 0.08,
    # No incident type maps here by default: no background, the floor min_reference applies.
    "air_quality": 0.0,
}

# Expected mark E[a] of a routine incident: a mix of 50 % severity 1, 35 % severity 2 and 15 %
# severity 3 gives 0.5*1 + 0.35*2 + 0.15*4 = 1.8. Traffic: TAAS counts accidents with casualties,
# so the same mix with one casualty each (x 1.5): 2.7.
DEFAULT_MEAN_MARK: Mapping[str, float] = {
    "fire": 1.8,
    "flood_weather": 1.8,
    "traffic": 2.7,
    "crime": 1.8,
    "living_safety": 1.8,
    "air_quality": 1.8,
}

# Incident type -> domain: the taxonomy's mapping. A city may remap or drop types.
DEFAULT_INCIDENT_DOMAIN: Mapping[str, str] = dict(INCIDENT_TYPES)

# Hazard curves anchored on official Korean thresholds (docs/index-model.md has the table).
DEFAULT_SENSOR_CURVES: Mapping[str, Anchors] = {
    # 30 mm/h: "intense rain" 집중호우; 50 mm/h: KMA extreme-rain text alert (with 90 mm in 3 h).
    "rainfall_mm_1h": ((0.0, 0.0), (30.0, 5.0), (50.0, 8.0), (80.0, 10.0)),
    # KMA heat-wave advisory 33 °C, warning 35 °C (daily max apparent temperature).
    "apparent_temperature_c": ((31.0, 0.0), (33.0, 5.0), (35.0, 8.0), (38.0, 10.0)),
    # KMA strong-wind advisory 14 m/s, warning 21 m/s (gusts 20 / 26 m/s).
    "wind_ms": ((9.0, 0.0), (14.0, 5.0), (21.0, 8.0), (26.0, 10.0)),
    # Ministry of Environment fine-dust advisory 150, warning 300 µg/m³ (PM10).
    "pm10_ugm3": ((80.0, 0.0), (150.0, 5.0), (300.0, 8.0), (500.0, 10.0)),
    # PM2.5 advisory 75, warning 150 µg/m³; 35 is where an advisory is lifted ("bad" band starts).
    "pm25_ugm3": ((35.0, 0.0), (75.0, 5.0), (150.0, 8.0), (250.0, 10.0)),
}

# How long a reading counts at full weight, seconds; it then fades linearly to 0 at twice that.
DEFAULT_VALIDITY_S: Mapping[str, float] = {
    "rainfall_mm_1h": 2 * HOUR_S,  # an hourly sum; tolerate one missed hourly cycle
    "river_level_m": 1 * HOUR_S,  # gauges report every 10 min; a flood wave moves within the hour
    "apparent_temperature_c": 3 * HOUR_S,  # changes slowly over the day
    "wind_ms": 1 * HOUR_S,  # wind changes quickly; stale wind data misleads
    "pm10_ugm3": 2 * HOUR_S,  # alerts are judged on hourly means persisting 2 h
    "pm25_ugm3": 2 * HOUR_S,
}

# Coping-capacity weight of one facility in service. A fire station or police box serves the whole
# district; a CCTV camera or hydrant covers a block; lights and bells a street.
DEFAULT_FACILITY_WEIGHT: Mapping[str, float] = {
    "cctv": 1.0,
    "security_light": 0.5,
    "emergency_bell": 0.5,
    "shelter": 2.0,
    "hydrant": 1.0,
    "fire_station": 10.0,
    "police_box": 8.0,
    "aed": 1.0,
}

# Weight of one structure by its newest inspection grade. D and E are managed as disaster-risk
# facilities under 시설물안전법; C is fair but needs repairs.
DEFAULT_STRUCTURE_WEIGHT: Mapping[str, float] = {"A": 0.0, "B": 0.0, "C": 0.2, "D": 1.0, "E": 2.5}
