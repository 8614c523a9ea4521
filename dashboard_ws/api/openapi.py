"""The history API described as an OpenAPI 3.1 document, served at ``/api/openapi.json``.

Built from the same data the API runs on: the route table of :mod:`dashboard_ws.api.params`
(paths, parameters, their accepted values) and the response models of the wire contract
(:data:`streams.contract.SCHEMAS`), so the document cannot drift from what the gateway accepts
and answers. Clients can be generated from it; ``tests/unit/dashboard_ws/api/test_openapi.py``
validates it and sends every documented example to the parser.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard_ws.api.routes import ROUTES, Route
from streams.contract import SCHEMAS, ApiError

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"
DESCRIPTIONS = {
    200: "the answer",
    400: "a bad parameter, named in `parameter`",
    404: "unknown district, alert or route",
    503: "no history database configured, or it does not answer; retry later",
}


def openapi_document(
    districts: Collection[str], domains: Collection[str], *, version: str
) -> dict[str, Any]:
    """The OpenAPI document of this gateway's history API (its city's districts and series)."""
    models: list[type[BaseModel]] = [SCHEMAS[route.answer] for route in ROUTES.values()]
    models.append(ApiError)
    wanted: list[tuple[type[BaseModel], Literal["serialization"]]] = [
        (model, "serialization") for model in models
    ]
    refs, defs = models_json_schema(wanted, ref_template=REF)
    paths = {
        route.path: {"get": _operation(name, route, refs, districts, domains)}
        for name, route in ROUTES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "riskmon history API",
            "version": version,
            "description": (
                "Read-only history of a riskmon deployment: score series, time travel, alerts, "
                "events and dead letters, from PostgreSQL. Times are RFC 3339 with an offset. "
                "List routes are paged: pass an answer's `next` as `after`."
            ),
        },
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }


def _operation(
    name: str,
    route: Route,
    refs: dict[tuple[Any, Any], dict[str, Any]],
    districts: Collection[str],
    domains: Collection[str],
) -> dict[str, Any]:
    answer = refs[(SCHEMAS[route.answer], "serialization")]
    error = refs[(ApiError, "serialization")]
    responses: dict[str, Any] = {}
    for status in route.statuses:
        schema = answer if status == 200 else error
        responses[str(status)] = {
            "description": DESCRIPTIONS[status],
            "content": {"application/json": {"schema": schema}},
        }
    if route.csv:
        ok = responses["200"]
        ok["content"]["text/csv"] = {"schema": {"type": "string"}}
        ok["headers"] = {
            "X-Riskmon-Next": {
                "description": "format=csv: the next page's cursor, when there is one",
                "schema": {"type": "string"},
            }
        }
    parameters = []
    for param in route.params:
        schema = dict(param.schema)
        if param.name in ("code", "district"):
            schema = {"type": "string", "enum": sorted(districts)}
        elif param.name == "domain":
            schema = {"type": "string", "enum": sorted(domains)}
        parameters.append(
            {
                "name": param.name,
                "in": "path" if param.in_path else "query",
                "required": param.in_path,
                "description": param.description,
                "schema": schema,
                "example": param.example,
            }
        )
    return {
        "operationId": name.replace("-", "_"),
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    }
