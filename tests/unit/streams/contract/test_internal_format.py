"""Rolling upgrades: internal records written by a newer riskmon (extra fields, anywhere) are read
by this one; a newer major format is refused with a reason, never misread."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from streams.contract import Alert, DeadLetter, LocatedEvent, ScoreUpdate
from streams.contract.base import INTERNAL_FORMAT, read_internal
from tests.factories import JANGGI
from tests.factories import alert as make_alert
from tests.factories import score_update as make_update


def score_update() -> ScoreUpdate:
    return make_update(JANGGI, 7)


def alert() -> Alert:
    return make_alert("a1", 3)


def newer(record: dict[str, object]) -> dict[str, object]:
    """``record`` as a newer writer would add to it: a field at the top and in a nested model."""
    out = dict(record, added_in_a_later_version={"x": 1})
    for value in out.values():
        if isinstance(value, dict) and value and "added_later" not in value:
            value["added_later"] = True
            break
    return out


def test_records_carry_their_format() -> None:
    assert json.loads(score_update().model_dump_json())["format"] == INTERNAL_FORMAT
    assert json.loads(alert().model_dump_json())["format"] == INTERNAL_FORMAT


@pytest.mark.parametrize("make", [score_update, alert], ids=["score-update", "alert"])
def test_a_newer_writers_additions_are_ignored_at_every_level(make: object) -> None:
    record = make()  # type: ignore[operator]
    model = type(record)
    data = newer(json.loads(record.model_dump_json()))
    raw = json.dumps(data)
    with pytest.raises(ValidationError):  # the strict reading (agencies' inputs) refuses it
        model.model_validate_json(raw)
    assert read_internal(model, raw) == record


def test_a_newer_major_format_is_refused_with_a_reason() -> None:
    data = json.loads(score_update().model_dump_json())
    data["format"] = INTERNAL_FORMAT + 1
    with pytest.raises(ValidationError, match="written by a newer riskmon"):
        read_internal(ScoreUpdate, json.dumps(data))


def test_records_without_a_format_are_format_1() -> None:
    data = json.loads(score_update().model_dump_json())
    del data["format"]
    assert read_internal(ScoreUpdate, json.dumps(data)).format == 1
    for model in (LocatedEvent, Alert, DeadLetter):
        assert model.model_fields["format"].default == INTERNAL_FORMAT
