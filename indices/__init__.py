"""Pure risk and safety index library: no I/O, no Kafka, no clock, deterministic.

Feed a district's events to a :class:`DistrictState` and read its :class:`Scores`; or score a whole
event list at once with :func:`score_batch`, the batch twin that also serves as the test oracle.
Build :class:`ModelParams` from configuration data with :func:`params_from_mapping`; grade a
city's districts among themselves with :func:`relative_grades`; predict what a change (new
facilities, a re-inspected structure) would do with :func:`what_if` and :func:`rank_districts`.
Formulas, parameters and their sources: docs/index-model.md.

>>> params = ModelParams()
>>> district = District("4157056000", "장기동", population=41_316, area_km2=4.1)
>>> state = DistrictState.new()
>>> state.apply(ReadingIn("aws-gimpo", "rainfall_mm_1h", value=50.0, t=0.0), params)
'applied'
>>> scores = state.evaluate(district, params, at=600.0)
>>> scores.domains["flood_weather"].sensor_hazard, scores.freshness_s, scores.confidence
(8.0, {'rainfall_mm_1h': 600.0}, 1.0)
>>> scores.groups["natural"].hazard
8.0
"""

from indices.batch import score_batch
from indices.config import params_from_mapping, params_to_mapping
from indices.errors import IndicesError, InvalidConfig, InvalidEvent, InvalidState
from indices.formulas import grade, vulnerability
from indices.grading import relative_grades
from indices.model import (
    MODEL_VERSION,
    District,
    DomainScores,
    Event,
    FacilityIn,
    GroupScores,
    IncidentIn,
    InspectionIn,
    Outcome,
    ReadingIn,
    Scores,
    WithdrawIn,
)
from indices.params import ModelParams, StateLimits
from indices.state import DistrictState
from indices.whatif import AddFacilities, Change, Reinspect, Shift, WhatIf, rank_districts, what_if

__all__ = [
    "MODEL_VERSION",
    "AddFacilities",
    "Change",
    "District",
    "DistrictState",
    "DomainScores",
    "Event",
    "FacilityIn",
    "GroupScores",
    "IncidentIn",
    "IndicesError",
    "InspectionIn",
    "InvalidConfig",
    "InvalidEvent",
    "InvalidState",
    "ModelParams",
    "Outcome",
    "ReadingIn",
    "Reinspect",
    "Scores",
    "Shift",
    "StateLimits",
    "WhatIf",
    "WithdrawIn",
    "grade",
    "params_from_mapping",
    "params_to_mapping",
    "rank_districts",
    "relative_grades",
    "score_batch",
    "vulnerability",
    "what_if",
]
