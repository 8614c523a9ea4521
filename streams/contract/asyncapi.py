"""The AsyncAPI 3.0 document of riskmon's Kafka topics and websocket, built from the pydantic
contract (:data:`streams.contract.schemas.SCHEMAS`): every topic with its address, partitions,
key, message schema and who sends and receives it.

    >>> doc = asyncapi_document(Topics(), partitions=4)
    >>> doc["asyncapi"], doc["channels"]["incidents"]["address"]
    ('3.0.0', 'riskmon.incidents')
    >>> doc["operations"]["agenciesSendIncidents"]["action"]
    'send'

Pass the deployment's topic names (``settings.topics``) and partition count. Message schemas
are the pydantic models' JSON Schemas with their shared definitions hoisted into
``components/schemas`` (refs ``#/components/schemas/NAME``), so the document is
self-contained. Operations are written from
the point of view of each party (an agency *sends* to ``riskmon.incidents``; the worker
*receives* from it), so each party can read what it must do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter

from streams.contract.schemas import SCHEMAS
from streams.settings import Topics

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "asyncapi_json"]

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING: Final = "0.5.0"
WS_BINDING: Final = "0.1.0"
REF: Final = "#/components/schemas/{model}"


@dataclass(frozen=True)
class _Topic:
    channel: str  # the channel's id in the document
    attribute: str  # its attribute of streams.settings.Topics
    message: str  # its name in SCHEMAS
    key: str  # what the record key is
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    description: str
    single_partition: bool = False
    content_type: str = "application/json"  # any other: the payload is text of that type


DISTRICT_KEY = "the 10-digit district code (UTF-8)"
TOPICS: Final = (
    _Topic(
        "incidents", "incidents", "incident",
        "the incident's id (UTF-8); any key works: the worker deduplicates by (source, id)",
        ("agencies",), ("worker",),
        "Incidents reported by agencies (fire, police, city hall).",
    ),
    _Topic(
        "readings", "readings", "sensor-reading", "the sensor id (UTF-8)",
        ("sensors",), ("worker",),
        "Sensor observations; the newest reading per sensor_id counts.",
    ),
    _Topic(
        "safety", "safety", "safety-fact", "the facility id or structure id (UTF-8)",
        ("city",), ("worker",),
        "Inspection grades and safety facilities added or removed.",
    ),
    _Topic(
        "complaints", "complaints", "complaint",
        "the complaint's id (UTF-8): every status change of one complaint on one partition",
        ("complaintSystems",), ("worker",),
        "Civil complaints (민원) and each change of their status; the newest updated_at per "
        "(source, id) wins (docs/complaints.md).",
    ),
    _Topic(
        "complaintsLocated", "complaints_located", "located-complaint",
        "'SOURCE:ID' of the complaint (UTF-8)",
        ("worker",), ("sink",),
        "Valid complaints placed in a district and H3 cell, for the history sink.",
    ),
    _Topic(
        "cap", "cap", "cap-message",
        "any (e.g. 'SENDER,IDENTIFIER'): the topic has one partition, so one ledger sees every "
        "Alert, Update and Cancel",
        ("agencies",), ("worker",),
        "OASIS CAP 1.2 (or 1.1) alerts as XML bytes, one message per record (docs/agencies.md: "
        "the profile, the mapping to incidents, Update/Cancel/expires).",
        single_partition=True,
        content_type="application/cap+xml",
    ),
    _Topic(
        "capOut", "cap_out", "cap-out-message",
        "the message's CAP identifier (UTF-8), e.g. 'riskmon-ALERT-1'",
        ("gateway",), ("integrators",),
        "Public warnings operators approved in the dashboard: CAP 1.2 XML (status Actual), an "
        "Alert, Updates naming every earlier message of the chain, and the all-clear.",
        single_partition=True,
        content_type="application/cap+xml",
    ),
    _Topic(
        "identity", "identity", "located-event", "the event's identity KIND:SOURCE:ID (UTF-8)",
        ("worker",), ("worker",),
        "Validated incidents and safety facts on their way to scoring, partitioned by a CRC-32 "
        "of their (source, id) so every copy of one identity meets the same ledger.",
    ),
    _Topic(
        "located", "located", "located-event", DISTRICT_KEY,
        ("worker",), ("worker",),
        "Validated inputs placed in a district; the partition is chosen explicitly per district "
        "(the city's district order modulo the partition count), not by the key's hash.",
    ),
    _Topic(
        "scores", "scores", "score-update", DISTRICT_KEY,
        ("worker",), ("gateway", "sink", "integrators"),
        "Every change of a district's indices, with the events that drove it.",
    ),
    _Topic(
        "alertInput", "alert_input", "score-update", DISTRICT_KEY,
        ("worker",), ("worker",),
        "Score updates for the alert stage (one partition: it sees the whole city).",
        single_partition=True,
    ),
    _Topic(
        "alerts", "alerts", "alert", DISTRICT_KEY,
        ("worker",), ("gateway", "sink", "integrators"),
        "Alerts through their lifecycle (pending, firing, acknowledged, resolved).",
    ),
    _Topic(
        "alertAcks", "alert_acks", "alert-ack", DISTRICT_KEY,
        ("gateway",), ("worker",),
        "Operators' acknowledgements (one partition, read with alert-input).",
        single_partition=True,
    ),
    _Topic(
        "alertAckResults", "ack_results", "alert-ack-result", DISTRICT_KEY,
        ("worker",), ("gateway",),
        "The worker's decision on each acknowledgement.",
    ),
    _Topic(
        "deadletter", "deadletter", "dead-letter",
        "'TOPIC/PARTITION' of the refused record (UTF-8)",
        ("worker",), ("sink",),
        "Inputs the worker refused, with the reason and the original bytes.",
    ),
)  # fmt: skip


def _asyncapi_schema(node: Any) -> Any:
    """Pydantic writes OpenAPI's ``discriminator`` object; the AsyncAPI schema format wants just
    the property's name."""
    if isinstance(node, dict):
        found = {key: _asyncapi_schema(value) for key, value in node.items()}
        if isinstance(found.get("discriminator"), dict):
            found["discriminator"] = found["discriminator"]["propertyName"]
        return found
    if isinstance(node, list):
        return [_asyncapi_schema(item) for item in node]
    return node


def _camel(text: str) -> str:
    head, *rest = text.replace("-", " ").replace("_", " ").split()
    return head + "".join(word.capitalize() for word in rest)


class _Schemas:
    """The messages' JSON Schemas, with every ``$defs`` entry moved to ``components/schemas``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def add(self, name: str) -> dict[str, str]:
        """Register message ``name`` of SCHEMAS; returns a $ref to its schema."""
        target = SCHEMAS[name]
        adapter = target if isinstance(target, TypeAdapter) else TypeAdapter(target)
        schema: dict[str, Any] = _asyncapi_schema(adapter.json_schema(ref_template=REF))
        for def_name, definition in schema.pop("$defs", {}).items():
            known = self.components.setdefault(def_name, definition)
            if known != definition:
                raise ValueError(f"two different schemas are called {def_name}")
        self.components[name] = schema
        return {"$ref": REF.format(model=name)}


def _text_payload(topic: _Topic) -> dict[str, Any]:
    """A record that is a document of another format (CAP XML): a string of that media type."""
    return {
        "type": "string",
        "contentMediaType": topic.content_type,
        "description": "A CAP alert: http://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2.xsd "
        "(UTF-8 or the encoding its XML declaration names; at most 1 MiB).",
    }


def _message_id(topic: _Topic) -> str:
    """The message's id in the document: its name, or, for a message several channels carry
    (a located event on two topics), its name per channel, so each can say its own key."""
    shared = sum(1 for t in TOPICS if t.message == topic.message) > 1
    return _camel(f"{topic.channel}-{topic.message}" if shared else topic.message)


def _kafka_channel(topic: _Topic, address: str, partitions: int) -> dict[str, Any]:
    count = 1 if topic.single_partition else partitions
    message_id = _message_id(topic)
    return {
        "address": address,
        "title": address,
        "description": f"{topic.description} Key: {topic.key}. Partitions: {count}.",
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
        "bindings": {
            "kafka": {
                "topic": address,
                "partitions": count,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _operations(topic: _Topic) -> dict[str, Any]:
    message_ref = {"$ref": f"#/channels/{topic.channel}/messages/{_message_id(topic)}"}
    channel_ref = {"$ref": f"#/channels/{topic.channel}"}
    found: dict[str, Any] = {}
    for party in topic.senders:
        found[f"{party}Send{topic.channel[0].upper()}{topic.channel[1:]}"] = {
            "action": "send",
            "channel": channel_ref,
            "summary": f"{party} publish to this topic",
            "messages": [message_ref],
            "tags": [{"name": party}],
        }
    for party in topic.receivers:
        found[f"{party}Receive{topic.channel[0].upper()}{topic.channel[1:]}"] = {
            "action": "receive",
            "channel": channel_ref,
            "summary": f"{party} consume this topic",
            "messages": [message_ref],
            "tags": [{"name": party}],
        }
    return found


def asyncapi_document(
    topics: Topics,
    *,
    partitions: int,
    version: str = "0.1.0",
    kafka_host: str = "localhost:9092",
    gateway_host: str = "localhost:8080",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a JSON-ready dict)."""
    schemas = _Schemas()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        message_id = _message_id(topic)
        if message_id not in messages:
            messages[message_id] = {
                "name": topic.message,
                "title": topic.message,
                "contentType": topic.content_type,
                "payload": (
                    schemas.add(topic.message)
                    if topic.content_type == "application/json"
                    else _text_payload(topic)
                ),
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": topic.key},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
        channels[topic.channel] = _kafka_channel(
            topic, getattr(topics, topic.attribute), partitions
        )
        operations.update(_operations(topic))
    for name in ("ws-server-message", "ws-client-ack"):
        messages[_camel(name)] = {
            "name": name,
            "title": name,
            "contentType": "application/json",
            "payload": schemas.add(name),
        }
    channels["websocket"] = {
        "address": "/ws",
        "title": "dashboard websocket",
        "description": "A snapshot of every district, then live scores (coalesced: at most one "
        "scores message per client every RISKMON_WS_COALESCE_MS, with the newest state of each "
        "district that changed) and alerts; operators "
        "acknowledge alerts on it. Send the bearer token of POST /auth/login as "
        "'Authorization: Bearer ...' (or the session cookie of the dashboard).",
        "servers": [{"$ref": "#/servers/gateway"}],
        "messages": {
            "wsServerMessage": {"$ref": "#/components/messages/wsServerMessage"},
            "wsClientAck": {"$ref": "#/components/messages/wsClientAck"},
        },
        "bindings": {"ws": {"method": "GET", "bindingVersion": WS_BINDING}},
    }
    operations["gatewaySendWebsocket"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/websocket"},
        "summary": "the gateway pushes snapshots, score updates and alerts",
        "messages": [{"$ref": "#/channels/websocket/messages/wsServerMessage"}],
    }
    operations["gatewayReceiveWebsocket"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/websocket"},
        "summary": "operators acknowledge alerts (role operator or above)",
        "messages": [{"$ref": "#/channels/websocket/messages/wsClientAck"}],
        "security": [{"$ref": "#/components/securitySchemes/bearer"}],
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "riskmon",
            "version": version,
            "description": "Real-time district risk monitor: agencies publish incidents, "
            "readings and safety facts; riskmon publishes scores and alerts.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": kafka_host,
                "protocol": "kafka",
                "description": "The Kafka cluster (TLS and SASL as deployed; see docs/agencies.md "
                "and deploy/kafka-acls/).",
            },
            "gateway": {
                "host": gateway_host,
                "protocol": "ws",
                "description": "The websocket gateway.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas.components,
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token of POST /auth/login.",
                }
            },
        },
    }


def asyncapi_json(topics: Topics, *, partitions: int) -> str:
    """The document as indented JSON text (for ``riskmon schema``)."""
    document = asyncapi_document(topics, partitions=partitions)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def asyncapi_markdown(document: dict[str, Any]) -> str:
    """The document rendered for people (docs/asyncapi.md): servers, every channel with its
    partitions, key, content type, who sends and who receives it, and its message's schema."""
    info = document["info"]
    lines = [
        f"# {info['title']} — the asynchronous interface (AsyncAPI {document['asyncapi']})",
        "",
        "Generated by `riskmon schema` from the pydantic contract (`streams/contract/`); do not "
        "edit. The machine-readable document is "
        "[`streams/schemas/asyncapi.json`](../streams/schemas/asyncapi.json), also served by the "
        "gateway at `GET /api/asyncapi.json` (role viewer). Message schemas link to "
        "[`streams/schemas/`](../streams/schemas).",
        "",
        info["description"],
        "",
        "## Servers",
        "",
        "| server | protocol | host | notes |",
        "| --- | --- | --- | --- |",
    ]
    for name, server in document["servers"].items():
        lines.append(
            f"| {name} | {server['protocol']} | `{server['host']}` | {server['description']} |"
        )
    lines += ["", "## Channels", ""]
    parties: dict[str, dict[str, list[str]]] = {}
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        party = ", ".join(tag["name"] for tag in operation.get("tags", [])) or "gateway/clients"
        parties.setdefault(channel, {"send": [], "receive": []})[operation["action"]].append(party)
    lines += [
        "| channel | partitions | key | content | sent by | received by | message |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    messages = document["components"]["messages"]
    for channel_id, channel in document["channels"].items():
        kafka = channel.get("bindings", {}).get("kafka")
        if kafka is None:
            continue
        (ref,) = channel["messages"].values()
        message = messages[ref["$ref"].rsplit("/", 1)[-1]]
        key = message["bindings"]["kafka"]["key"]["description"]
        name = message["name"]
        link = (
            f"[`{name}`](../streams/schemas/{name}.schema.json)"
            if message["contentType"] == "application/json"
            else f"`{name}` (XML)"
        )
        who = parties.get(channel_id, {"send": [], "receive": []})
        lines.append(
            f"| `{channel['address']}` | {kafka['partitions']} | {key} | "
            f"{message['contentType']} | {', '.join(who['send'])} | "
            f"{', '.join(who['receive'])} | {link} |"
        )
    lines += ["", "What each channel carries:", ""]
    for channel in document["channels"].values():
        lines.append(f"- `{channel['address']}` — {channel['description']}")
    lines += [
        "",
        "## The websocket",
        "",
        "The gateway's `/ws` channel: the server sends "
        "[`ws-server-message`](../streams/schemas/ws-server-message.schema.json) (a snapshot, "
        "scores, alerts, acknowledgement results, heartbeats); operators send "
        "[`ws-client-ack`](../streams/schemas/ws-client-ack.schema.json). Authentication: "
        f"{document['components']['securitySchemes']['bearer']['description']} "
        "(or the dashboard's session cookie).",
        "",
    ]
    return "\n".join(lines)
