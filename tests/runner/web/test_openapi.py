"""The OpenAPI document is built from the route table: it cannot miss a route."""

from __future__ import annotations

import pytest
from aiohttp import web

from runner.web.api import add_api_routes
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
    assert plan["security"] == [{"session": [], "csrf": []}]


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
