"""The sink's pure buffer: an internal record it cannot read is kept as a dead letter, never
skipped (a rolling upgrade must not lose history)."""

from __future__ import annotations

import json

from streams.persistence.sink import Batch
from streams.settings import Settings
from tests.factories import score_update


def test_an_undecodable_internal_record_becomes_a_dead_letter_with_its_bytes() -> None:
    settings = Settings()
    batch = Batch(settings)
    good = score_update("4157056000", 7, 2.0)
    batch.add(settings.topics.scores, 1, 40, good.model_dump_json().encode())
    newer = json.loads(good.model_dump_json())
    newer["composite"] = {"value": "high", "grade": 3}  # a future writer's shape
    raw = json.dumps(newer).encode()
    batch.add(settings.topics.scores, 1, 41, raw)
    assert [u.seq for u in batch.scores] == [7]
    assert batch.undecodable == 1
    [letter] = batch.dead
    assert (letter.topic, letter.partition, letter.offset) == (settings.topics.scores, 1, 41)
    assert (letter.error, letter.value) == ("schema", raw)
    assert "could not read" in letter.reason
    assert "composite.value" in letter.reason
    assert len(batch) == 2  # both are stored: the update and the dead letter
