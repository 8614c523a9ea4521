"""The history API described as an OpenAPI 3.1 document, served at ``/api/openapi.json``.

Built from the same data the API runs on: the route table of :mod:`dashboard_ws.api.params`
(paths, parameters, their accepted values) and the response models of the wire contract
(:data:`streams.contract.SCHEMAS`), so the document cannot drift from what the gateway accepts
and answers. Clients can be generated from it; ``tests/unit/dashboard_ws/api/test_openapi.py``
validates it and sends every documented example to the parser.

Access control is part of the document: every route needs the session cookie or a bearer token
(``securitySchemes``), answers 401 without and 403 for a role too low; the login, logout, who-am-I
and audit routes are described from their contract models too, and so is the one other route
open to anyone, the open data ``/open/districts.geojson``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard_ws.api.routes import ROUTES, Route
from dashboard_ws.public.service import DISTRICTS
from streams.contract import (
    SCHEMAS,
    ApiError,
    AuditResponse,
    LoginRequest,
    LoginResponse,
    MeResponse,
    OpenDistrictsDocument,
)

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"
DESCRIPTIONS = {
    200: "the answer",
    400: "a bad parameter, named in `parameter`",
    404: "unknown district, alert or route",
    503: "no history database configured, or it does not answer; retry later",
    401: "no valid session cookie or bearer token: POST /auth/login",
    403: "the caller's role may not do this (dead letters and audit: admin)",
}
SECURITY: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]
SECURITY_SCHEMES = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "riskmon_session",
        "description": "set by POST /auth/login (named __Host-riskmon_session over TLS)",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the `token` of POST /auth/login's answer; short-lived",
    },
}


def openapi_document(
    districts: Collection[str], domains: Collection[str], *, version: str
) -> dict[str, Any]:
    """The OpenAPI document of this gateway's history API (its city's districts and series)."""
    models: list[type[BaseModel]] = [SCHEMAS[route.answer] for route in ROUTES.values()]
    models += [ApiError, LoginRequest, LoginResponse, MeResponse, AuditResponse]
    models += [OpenDistrictsDocument]
    wanted: list[tuple[type[BaseModel], Literal["serialization"]]] = [
        (model, "serialization") for model in models
    ]
    refs, defs = models_json_schema(wanted, ref_template=REF)
    paths = {
        route.path: {"get": _operation(name, route, refs, districts, domains)}
        for name, route in ROUTES.items()
    }
    paths.update(_auth_paths(refs))
    paths[DISTRICTS] = _open_path(refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "riskmon history API",
            "version": version,
            "description": (
                "Read-only history of a riskmon deployment: score series, time travel, alerts, "
                "events and dead letters, from PostgreSQL. Times are RFC 3339 with an offset. "
                "List routes are paged: pass an answer's `next` as `after`. Every route needs "
                "a session (browsers) or a bearer token (programs): POST /auth/login. Events "
                "carry exact places and descriptions for analysts and admins only. The open "
                f"data, {DISTRICTS}, needs no credentials: every district's grades an hour "
                "late, with no event in it (docs/public.md)."
            ),
        },
        "security": SECURITY,
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _auth_paths(refs: dict[tuple[Any, Any], dict[str, Any]]) -> dict[str, Any]:
    """``/auth/login``, ``/auth/logout``, ``/auth/me`` and ``/api/audit``."""

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return refs[(model, "serialization")]

    error = ref(ApiError)
    denied = {"401": _json(error, DESCRIPTIONS[401]), "403": _json(error, DESCRIPTIONS[403])}
    return {
        "/auth/login": {
            "post": {
                "operationId": "login",
                "summary": "Log in: sets the session cookie, answers a bearer token",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref(LoginRequest)}},
                },
                "responses": {
                    "200": _json(ref(LoginResponse), "logged in; Set-Cookie carries the session"),
                    "401": _json(error, "wrong username or password"),
                    "403": _json(error, "an Origin other than the gateway's own"),
                    "415": _json(error, "not Content-Type: application/json"),
                    "429": _json(error, "too many failed logins; see Retry-After"),
                },
            }
        },
        "/auth/logout": {
            "post": {
                "operationId": "logout",
                "summary": "End this session; its open websockets close with 4001",
                "responses": {
                    "204": {"description": "logged out; the cookie is cleared"},
                    **denied,
                },
            }
        },
        "/auth/me": {
            "get": {
                "operationId": "me",
                "summary": "Who these credentials prove, and what that role may do",
                "responses": {"200": _json(ref(MeResponse), "the caller"), **denied},
            }
        },
        "/api/audit": {
            "get": {
                "operationId": "audit",
                "summary": "The audit trail, newest first (admin)",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (
                        ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                        ("actor", {"type": "string"}),
                        ("action", {"type": "string"}),
                    )
                ],
                "responses": {"200": _json(ref(AuditResponse), "audit rows"), **denied},
            }
        },
    }


def _open_path(refs: dict[tuple[Any, Any], dict[str, Any]]) -> dict[str, Any]:
    """``GET /open/districts.geojson``: public, cached, conditional (docs/public.md)."""
    error = refs[(ApiError, "serialization")]
    caching = {
        "ETag": {"description": "changes with the bytes", "schema": {"type": "string"}},
        "Last-Modified": {"description": "the hour's publication", "schema": {"type": "string"}},
        "Cache-Control": {
            "description": "public, max-age until the next publication",
            "schema": {"type": "string"},
        },
    }
    return {
        "get": {
            "operationId": "open_districts",
            "summary": "Open data: every district's public grades as of the last full hour at "
            "least an hour ago, as GeoJSON (no credentials; any origin may read it)",
            "security": [],
            "parameters": [
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": description,
                    "schema": {"type": "string"},
                }
                for name, description in (
                    ("If-None-Match", "an ETag of an earlier answer: 304 while it still holds"),
                    ("If-Modified-Since", "an HTTP date: 304 if nothing was published since"),
                )
            ],
            "responses": {
                "200": {
                    "description": "the FeatureCollection (RFC 7946)",
                    "headers": caching,
                    "content": {
                        "application/geo+json": {
                            "schema": refs[(OpenDistrictsDocument, "serialization")]
                        }
                    },
                },
                "304": {"description": "not modified since the ETag or date", "headers": caching},
                "429": {
                    "description": "too many requests from this address; see Retry-After",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": error}},
                },
                "503": {
                    "description": DESCRIPTIONS[503],
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
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
    for status in (*route.statuses, 401, 403):
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
