"""The history API's OpenAPI document: valid, complete, and in agreement with the parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from openapi_spec_validator import validate

from dashboard_ws.api.openapi import openapi_document
from dashboard_ws.api.params import ApiProblem, parse_request
from dashboard_ws.api.routes import ROUTES
from dashboard_ws.api.service import OPENAPI_PATH, HistoryApi
from streams.contract import SCHEMAS
from streams.settings import Settings
from tests.principals import ADMIN

DISTRICTS = ["4157056000", "4157051500"]
DOMAINS = ["composite", "safety", "fire", "group:natural"]
NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
DOCUMENT = openapi_document(DISTRICTS, DOMAINS, version="1.2.3")
OPEN = "/open/districts.geojson"
# not params' routes: access control, and the public open data
ACCESS_PATHS = {"/auth/login", "/auth/logout", "/auth/me", "/api/audit", OPEN}
OPERATIONS = [
    (path, item["get"]) for path, item in DOCUMENT["paths"].items() if path not in ACCESS_PATHS
]


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.1.0"
    assert DOCUMENT["info"]["version"] == "1.2.3"


def test_every_route_is_documented_once() -> None:
    history = sorted(set(DOCUMENT["paths"]) - ACCESS_PATHS)
    assert history == sorted(route.path for route in ROUTES.values())
    assert len({op["operationId"] for _, op in OPERATIONS}) == len(ROUTES)


def test_access_control_is_documented() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert (schemes["session"]["in"], schemes["bearer"]["scheme"]) == ("cookie", "bearer")
    assert DOCUMENT["security"] == [{"session": []}, {"bearer": []}]
    for _, operation in OPERATIONS:
        assert {"401", "403"} <= set(operation["responses"])
    login = DOCUMENT["paths"]["/auth/login"]["post"]
    open_data = DOCUMENT["paths"][OPEN]["get"]
    # the two routes that need no credentials
    public = [
        path
        for path, item in DOCUMENT["paths"].items()
        for operation in item.values()
        if operation.get("security") == []
    ]
    assert sorted(public) == sorted(["/auth/login", OPEN])
    assert (login["security"], open_data["security"]) == ([], [])
    assert {"200", "401", "429"} <= set(login["responses"])
    assert set(DOCUMENT["paths"]["/api/audit"]["get"]["responses"]) >= {"200", "403"}


@pytest.mark.parametrize(("path", "operation"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_every_documented_example_is_accepted_by_the_parser(
    path: str, operation: dict[str, Any]
) -> None:
    """All of a route's documented examples at once: the parser must take them all."""
    concrete = path
    query = {}
    for param in operation["parameters"]:
        if param["in"] == "path":
            concrete = concrete.replace("{" + param["name"] + "}", param["example"])
        else:
            query[param["name"]] = param["example"]
    result = parse_request(
        concrete, urlencode(query), now=NOW, districts=DISTRICTS, domains=DOMAINS
    )
    assert not isinstance(result, ApiProblem), result


@pytest.mark.parametrize(("path", "operation"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_an_undocumented_parameter_is_refused(path: str, operation: dict[str, Any]) -> None:
    concrete = path.replace("{code}", DISTRICTS[0]).replace("{id}", "a-1")
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    result = parse_request(
        concrete, "undocumented=1", now=NOW, districts=DISTRICTS, domains=DOMAINS
    )
    assert isinstance(result, ApiProblem)
    assert result.error.parameter == "undocumented"
    accepted = result.error.detail.split("accepted: ")[1]
    assert set(accepted.split(", ")) - {"none"} == documented


def test_districts_and_domains_are_the_citys() -> None:
    params = {p["name"]: p for _, op in OPERATIONS for p in op["parameters"]}
    assert params["district"]["schema"]["enum"] == sorted(DISTRICTS)
    assert params["code"]["schema"]["enum"] == sorted(DISTRICTS)
    assert params["domain"]["schema"]["enum"] == sorted(DOMAINS)


def test_answers_refer_to_the_contract_models() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for name, route in ROUTES.items():
        operation = DOCUMENT["paths"][route.path]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{SCHEMAS[route.answer].__name__}"}, name
        for status, response in operation["responses"].items():
            if status != "200":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ApiError"}
    assert {"ScoreUpdate", "Alert", "LocatedEvent", "DeadLetter", "ApiError"} <= set(schemas)


async def test_the_gateway_serves_it_without_a_database() -> None:
    api = HistoryApi(Settings(pg_dsn=None), DISTRICTS, DOMAINS)
    status, body = await api.handle(OPENAPI_PATH, "", ADMIN)
    assert status == 200
    served = json.loads(body)
    validate(served)
    assert served["paths"] == json.loads(json.dumps(DOCUMENT["paths"]))


def test_the_open_data_route_is_documented_with_its_contract_schema() -> None:
    operation = DOCUMENT["paths"][OPEN]["get"]
    assert set(operation["responses"]) == {"200", "304", "429", "503"}
    ok = operation["responses"]["200"]
    assert ok["content"]["application/geo+json"]["schema"] == {
        "$ref": "#/components/schemas/OpenDistrictsDocument"
    }
    assert {"ETag", "Last-Modified", "Cache-Control"} <= set(ok["headers"])
    assert {p["name"] for p in operation["parameters"]} == {"If-None-Match", "If-Modified-Since"}
    component = DOCUMENT["components"]["schemas"]["OpenDistrictsDocument"]
    assert {"features", "as_of", "boundaries"} <= set(component["properties"])
    assert SCHEMAS["open-districts"].__name__ == "OpenDistrictsDocument"
