"""The OpenAPI document is built from the route table: it cannot miss a route."""

from __future__ import annotations

import pytest
from aiohttp import web

from runner.web.api import add_api_routes
from runner.web.auth import SESSION_COOKIE
from runner.web.openapi import document
from tests.runner.web.openapi_check import app_router


async def _nothing(request: web.Request) -> web.Response:
    return web.json_response({})


def test_every_api_route_is_described_at_its_routed_path() -> None:
    paths = document(app_router())["paths"]
    assert set(paths["/api/campaigns/{name}/{action}"]) == {"post"}
    assert set(paths["/api/campaigns"]) == {"get"}  # not the HEAD aiohttp adds beside it
    plan = paths["/api/campaigns/plan"]["post"]
    assert plan["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlanBody"
    }
    # either the session with its CSRF token, or an API key alone
    assert plan["security"] == [{"session": [], "csrf": []}, {"bearer": []}]


def test_both_security_schemes_are_declared_and_each_route_says_which_it_takes() -> None:
    built = document(app_router())
    schemes = built["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
    paths = built["paths"]
    # reports and campaigns take a key; a GET needs no CSRF token either way
    assert paths["/api/reports/kpis/{name}"]["get"]["security"] == [{"session": []}, {"bearer": []}]
    assert {"bearer": []} in paths["/api/campaigns/{name}/{action}"]["post"]["security"]
    # the agent console is for a person at a browser: its routes take the session only
    for path, operations in paths.items():
        for operation in operations.values():
            takes_key = {"bearer": []} in operation["security"]
            assert takes_key == (not path.startswith(("/api/agent", "/api/attempts"))), path


def test_an_undescribed_api_route_stops_the_build() -> None:
    app = web.Application()
    add_api_routes(app)
    app.router.add_get("/api/secret", _nothing, name="api-secret")
    with pytest.raises(LookupError, match="/api/secret"):
        document(app.router)


def test_a_described_route_that_is_not_routed_stops_the_build() -> None:
    app = web.Application()
    add_api_routes(app)
    with pytest.raises(LookupError, match="described but not routed: agent-call"):
        document(app.router)
