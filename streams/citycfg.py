"""City configuration of the bundled default, Gimpo: its districts and the model parameters.

The river gauges and their flood stages are illustrative (the simulator's two gauges); a real
deployment sets each gauge's official stages (관심/주의/경계/심각) here.
"""

from __future__ import annotations

from indices import ModelParams

from .city import CityMap, load_gimpo

# sensor id -> (attention, caution, alert, serious) stage in metres
GIMPO_RIVER_STAGES: dict[str, tuple[float, float, float, float]] = {
    "river-gimpo-1": (3.0, 4.5, 6.0, 7.5),
    "river-gimpo-2": (2.5, 3.5, 4.5, 5.5),
}


def gimpo() -> tuple[CityMap, ModelParams]:
    """The city map and model parameters of Gimpo-si."""
    return load_gimpo(), ModelParams(river_stages=GIMPO_RIVER_STAGES)
