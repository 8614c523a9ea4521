"""The AsyncAPI document: every topic with its address, partitions, key and message; every $ref
resolves; each message schema is a valid JSON Schema that accepts real messages and refuses bad
ones.

No PyPI package ships the AsyncAPI specification's JSON Schema, and the tests fetch nothing: set
``RISKMON_TEST_ASYNCAPI_SCHEMA`` to a copy of it (e.g. ``schemas/3.0.0-without-$id.json`` of the
npm package ``@asyncapi/specs``) to validate the whole document against it as well.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from streams.contract import Incident, SensorReading
from streams.contract.asyncapi import TOPICS, asyncapi_document, asyncapi_json, asyncapi_markdown
from streams.settings import Settings, Topics
from tests.factories import alert, fires, score_update

URI = "urn:riskmon:asyncapi"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(asyncapi_json(Topics(), partitions=4))
    return loaded


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def validator(doc: dict[str, Any], message: str) -> jsonschema.Draft202012Validator:
    """A validator of the payload of ``message``, resolving refs inside the whole document."""
    registry: Registry[Any] = Registry().with_resource(
        URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    payload = doc["components"]["messages"][message]["payload"]
    return jsonschema.Draft202012Validator({"$ref": URI + payload["$ref"]}, registry=registry)


def test_every_topic_of_the_settings_is_described() -> None:
    assert {getattr(Topics(), t.attribute) for t in TOPICS} == set(Topics().all())


def test_every_topic_is_a_channel_with_its_partitions_and_key(doc: dict[str, Any]) -> None:
    addresses = {c["address"]: c for c in doc["channels"].values()}
    for name in Topics().all():
        channel = addresses[name]
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == name
        expected = 1 if name in Topics().single_partition() else 4
        assert kafka["partitions"] == expected
        (message_ref,) = channel["messages"].values()
        message = resolve(doc, message_ref["$ref"])
        assert message["bindings"]["kafka"]["key"]["description"]
        is_json = name not in (Topics().cap, Topics().cap_out)
        assert message["contentType"] == ("application/json" if is_json else "application/cap+xml")


def test_the_committed_document_is_current() -> None:
    settings = Settings()
    committed = Path(__file__).parents[4] / "streams" / "schemas" / "asyncapi.json"
    assert committed.read_text() == asyncapi_json(
        settings.topics, partitions=settings.partitions
    ), "run `make schema` and commit streams/schemas/"


def test_custom_topic_names_and_partitions_are_used() -> None:
    custom = Topics(incidents="city.incidents")
    doc = asyncapi_document(custom, partitions=12)
    assert doc["channels"]["incidents"]["address"] == "city.incidents"
    assert doc["channels"]["scores"]["bindings"]["kafka"]["partitions"] == 12


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    found = refs(doc)
    assert len(found) > 50
    for ref in found:
        assert resolve(doc, ref) is not None


def test_every_channel_has_a_sender_and_a_receiver(doc: dict[str, Any]) -> None:
    for channel_id in doc["channels"]:
        actions = {
            op["action"]
            for op in doc["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel_id}"
        }
        assert actions == {"send", "receive"}, channel_id
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"]
        for message in op["messages"]:  # AsyncAPI 3: an operation's messages are its channel's
            assert message["$ref"].startswith(channel + "/messages/")


def test_agencies_send_to_the_input_topics(doc: dict[str, Any]) -> None:
    sent = {
        resolve(doc, op["channel"]["$ref"])["address"]
        for op in doc["operations"].values()
        if op["action"] == "send" and {"name": "agencies"} in op.get("tags", [])
    }
    assert sent == {"riskmon.incidents", "riskmon.cap"}


def test_component_schemas_are_valid_json_schemas(doc: dict[str, Any]) -> None:
    for name, schema in doc["components"]["schemas"].items():
        # AsyncAPI's discriminator is a property name; JSON Schema ignores the keyword
        jsonschema.Draft202012Validator.check_schema(schema)
        assert not isinstance(schema.get("discriminator"), dict), name


def test_real_messages_validate_and_bad_ones_do_not(doc: dict[str, Any]) -> None:
    incident = fires(["F-1"])[0].model_dump(mode="json", exclude_none=True)
    validator(doc, "incident").validate(incident)
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, "incident").validate({**incident, "severity": 9})
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, "incident").validate({**incident, "colour": "red"})
    reading = SensorReading(
        sensor_id="rain-1", kind="rainfall_mm_1h", value=3.0,
        observed_at="2026-11-24T21:00:00+09:00", code="4157056000",
    )  # fmt: skip
    validator(doc, "sensorReading").validate(reading.model_dump(mode="json", exclude_none=True))
    validator(doc, "scoresScoreUpdate").validate(
        score_update("4157056000", 1).model_dump(mode="json")
    )
    validator(doc, "alert").validate(alert("a-1", 1).model_dump(mode="json"))
    safety = {
        "fact": "facility", "id": "fac-1", "source": "gimpo-city", "facility_id": "cctv-1",
        "facility": "cctv", "action": "added", "effective_at": "2026-11-01T09:00:00+09:00",
        "code": "4157057000",
    }  # fmt: skip
    validator(doc, "safetyFact").validate(safety)
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, "safetyFact").validate({**safety, "fact": "rumour"})
    assert Incident.model_validate(incident).id == "F-1"


def test_the_websocket_channel_says_how_to_authenticate(doc: dict[str, Any]) -> None:
    ws = doc["channels"]["websocket"]
    assert ws["address"] == "/ws"
    assert "Bearer" in ws["description"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# The AsyncAPI 3.0.0 JSON Schema as the AsyncAPI initiative publishes it (npm @asyncapi/specs,
# a dev dependency of the front end installed by `make test`); RISKMON_TEST_ASYNCAPI_SCHEMA may
# name another copy.
SPEC = Path(
    os.environ.get("RISKMON_TEST_ASYNCAPI_SCHEMA")
    or Path(__file__).parents[4]
    / "dashboard_ws/frontend/node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"
)


@pytest.mark.skipif(not SPEC.is_file(), reason=f"no AsyncAPI 3.0 JSON Schema at {SPEC}")
def test_the_document_validates_against_the_asyncapi_specification(doc: dict[str, Any]) -> None:
    spec = json.loads(SPEC.read_text("utf-8"))
    jsonschema.Draft7Validator(spec).validate(doc)
    broken = json.loads(json.dumps(doc))
    broken["operations"]["agenciesSendIncidents"]["action"] = "publish"  # AsyncAPI 2's word
    assert not jsonschema.Draft7Validator(spec).is_valid(broken)


def test_a_message_two_channels_carry_says_each_channel_s_key(doc: dict[str, Any]) -> None:
    messages = doc["components"]["messages"]
    keys = {
        c["address"]: resolve(doc, next(iter(c["messages"].values()))["$ref"])
        for c in doc["channels"].values()
        if "kafka" in c.get("bindings", {})
    }
    located, identity = keys["riskmon.located"], keys["riskmon.identity"]
    assert located["name"] == identity["name"] == "located-event"
    assert "district code" in located["bindings"]["kafka"]["key"]["description"]
    assert "KIND:SOURCE:ID" in identity["bindings"]["kafka"]["key"]["description"]
    assert len(messages) >= len(keys)


def test_the_rendered_document_in_docs_is_current() -> None:
    settings = Settings()
    text = asyncapi_json(settings.topics, partitions=settings.partitions)
    committed = Path(__file__).parents[4] / "docs" / "asyncapi.md"
    assert committed.read_text() == asyncapi_markdown(json.loads(text)), (
        "run `make schema` and commit docs/asyncapi.md"
    )
