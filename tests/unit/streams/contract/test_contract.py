"""The wire contract: committed JSON Schemas are current; README examples are valid messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter

from streams.contract import SCHEMAS, Incident, json_schema

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = re.compile(r"<!-- example: ([a-z-]+) -->\s*```json\n(.*?)```", re.S)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    committed = ROOT / "streams" / "schemas" / f"{name}.schema.json"
    assert committed.exists(), "run `make schema` and commit streams/schemas/"
    assert json.loads(committed.read_text()) == json_schema(name), "run `make schema`"


def test_every_readme_example_validates_and_every_message_has_one() -> None:
    examples = EXAMPLE.findall((ROOT / "README.md").read_text())
    assert {name for name, _ in examples} >= set(SCHEMAS) - {"located-event"}
    for name, text in examples:
        target = SCHEMAS[name]
        if isinstance(target, TypeAdapter):
            target.validate_json(text)
        else:
            assert issubclass(target, BaseModel)
            target.model_validate_json(text)


def test_time_without_offset_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Incident.model_validate(
            {
                "id": "1",
                "source": "s",
                "type": "fire",
                "severity": 1,
                "occurred_at": "2026-11-24T10:00:00",
                "code": "4157056000",
            }
        )
