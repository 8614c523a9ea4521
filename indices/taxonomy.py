"""What riskmon knows how to count: domains, incident types, sensor kinds, safety facilities.

Domains are grouped under the three risk types of Gimpo's smart-city plan:
natural disaster 재해, calamity/accident 재난 and crime 범죄.

>>> INCIDENT_TYPES["sinkhole"]
'living_safety'
>>> GROUP_OF_DOMAIN["flood_weather"]
'natural'
>>> sorted(SENSOR_KINDS) == sorted(SENSOR_DOMAIN) == sorted(SENSOR_RANGES)
True
"""

from __future__ import annotations

from typing import Final

DOMAINS: Final = ("fire", "flood_weather", "traffic", "crime", "living_safety", "air_quality")

GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "natural": ("flood_weather", "air_quality"),  # 재해
    "calamity": ("fire", "traffic", "living_safety"),  # 재난
    "crime": ("crime",),  # 범죄
}
GROUP_OF_DOMAIN: Final = {domain: group for group, members in GROUPS.items() for domain in members}

# Incident type -> domain. Fire covers fires and explosions; living safety (생활안전) follows the
# Regional Safety Index's domain of everyday accidents: falls, drowning, gas, electrical, collapses.
INCIDENT_TYPES: Final[dict[str, str]] = {
    "fire": "fire",
    "explosion": "fire",
    "gas_leak": "living_safety",
    "electrical": "living_safety",
    "building_collapse": "living_safety",
    "sinkhole": "living_safety",
    "water_main_break": "living_safety",
    "fall": "living_safety",
    "drowning": "living_safety",
    "traffic_accident": "traffic",
    "flood": "flood_weather",
    "landslide": "flood_weather",
    "storm_damage": "flood_weather",
    "heat_illness": "flood_weather",
    "assault": "crime",
    "burglary": "crime",
    "theft": "crime",
    "robbery": "crime",
}

# Sensor kind -> (domain, unit). Hazard curves live in indices.sensors.
# What a sensor of each kind can physically report (inclusive); beyond it a reading is a fault or
# a forgery, refused with its reason instead of driving an index. Generous: world records fit.
SENSOR_RANGES: Final[dict[str, tuple[float, float]]] = {
    "rainfall_mm_1h": (0.0, 500.0),  # record: 305 mm in an hour
    "river_level_m": (-50.0, 100.0),  # gauge datums differ; a stage, not an altitude
    "apparent_temperature_c": (-90.0, 70.0),
    "wind_ms": (0.0, 120.0),  # record gust: 113 m/s
    "pm10_ugm3": (0.0, 10_000.0),  # Asian dust peaks at a few thousand
    "pm25_ugm3": (0.0, 5_000.0),
}

SENSOR_KINDS: Final[dict[str, str]] = {
    "rainfall_mm_1h": "mm/h",
    "river_level_m": "m",
    "apparent_temperature_c": "°C",
    "wind_ms": "m/s",
    "pm10_ugm3": "µg/m³",
    "pm25_ugm3": "µg/m³",
}
SENSOR_DOMAIN: Final[dict[str, str]] = {
    "rainfall_mm_1h": "flood_weather",
    "river_level_m": "flood_weather",
    "apparent_temperature_c": "flood_weather",
    "wind_ms": "flood_weather",
    "pm10_ugm3": "air_quality",
    "pm25_ugm3": "air_quality",
}

FACILITY_KINDS: Final = (
    "cctv",
    "security_light",
    "emergency_bell",
    "shelter",
    "hydrant",
    "fire_station",
    "police_box",
    "aed",
)

INSPECTION_GRADES: Final = ("A", "B", "C", "D", "E")

# Casualties an incident may report: above any recorded disaster, and a bound that keeps the
# model's arithmetic in machine integers.
MAX_CASUALTIES: Final = 100_000
