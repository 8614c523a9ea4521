"""A worker checkpoint written with the previous detector (state format 1) still loads: the alert
engine's state is kept and every series' detector starts afresh."""

from __future__ import annotations

import numpy as np

from bench.detect_research.legacy import LegacyParams
from bench.detect_research.legacy import detect_batch as legacy_batch
from indices.detect import INDEX_PARAMS, DetectorState
from streams.pipeline.alerting import CityAlerts


def test_a_checkpoint_of_the_previous_detector_starts_fresh_detectors() -> None:
    t = 1_795_000_000.0 + 30.0 * np.arange(100)
    old = legacy_batch(t, np.full(100, 2.0), LegacyParams()).state.to_dict()
    new = DetectorState()
    new.update(0.0, 1.0, INDEX_PARAMS)
    checkpoint = CityAlerts().to_checkpoint()
    checkpoint["detectors"] = {"4157056000/fire": old, "4157056000/crime": new.to_dict()}
    checkpoint["seqs"] = {"alert-1": 7}
    city = CityAlerts.from_checkpoint(checkpoint)
    assert city.detectors == {}  # one stale state: all start afresh, consistently
    assert city.seqs == {"alert-1": 7}  # the rest of the checkpoint is kept
    current = CityAlerts().to_checkpoint()
    current["detectors"] = {"4157056000/crime": new.to_dict()}
    assert CityAlerts.from_checkpoint(current).detectors == {"4157056000/crime": new}
