"""Every route of the app is in the role table, and the middleware keeps to the table.

Walks ``app.router.routes()``, so a route added anywhere (pages, API, webhooks) is
checked here without anyone listing it: anonymous visitors are sent to log in (pages)
or get 401 (API), each role outside the route's set gets 403, an allowed role gets in.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from runner.settings import Settings
from runner.web.access import PUBLIC, ROLE_HOMES, ROUTE_ROLES, SESSIONLESS
from runner.web.app import create_app
from store.models import Role
from tests.runner.web_harness import Client, RunWeb, login_as


def _routes(settings: Settings) -> list[web.AbstractRoute]:
    app = create_app(settings, redis_url="redis://unused")  # routes only: never started
    return list(app.router.routes())


def _url(route: web.AbstractRoute) -> str:
    """A URL the route answers, with '1' for each variable part."""
    resource = route.resource
    assert resource is not None
    if isinstance(resource, web.StaticResource):
        return str(resource.url_for(filename="app.css"))
    return re.sub(r"\{[^}]+\}", "1", resource.canonical)


def _protected(settings: Settings) -> list[tuple[str, str, str, frozenset[Role]]]:
    """(name, method, url, roles allowed) of each route that needs a login."""
    found = []
    for route in _routes(settings):
        access = ROUTE_ROLES.get(route.name or "")
        if isinstance(access, frozenset) and route.method != "HEAD":
            assert route.name is not None
            found.append((route.name, route.method, _url(route), access))
    return found


def test_every_route_has_a_name_and_an_entry_in_the_table(web_settings: Settings) -> None:
    routes = _routes(web_settings)
    unnamed = [f"{r.method} {_url(r)}" for r in routes if not r.name]
    assert not unnamed, "name every route: the role table is keyed by name"
    missing = sorted({r.name for r in routes if r.name} - set(ROUTE_ROLES))
    assert not missing, f"add these to runner.web.access.ROUTE_ROLES: {missing}"
    stale = sorted(set(ROUTE_ROLES) - {r.name for r in routes})
    assert not stale, f"the table names routes that do not exist: {stale}"


def test_the_table_is_consistent() -> None:
    for name, access in ROUTE_ROLES.items():
        assert access is PUBLIC or (access and access <= set(Role)), name
    assert all(ROUTE_ROLES[name] is PUBLIC for name in SESSIONLESS)
    twilio = {name for name in ROUTE_ROLES if name.startswith("twilio-")}
    assert twilio <= SESSIONLESS, "Twilio signs its webhooks; it keeps no session"
    assert SESSIONLESS - twilio == {"health", "static"}
    for role, home in ROLE_HOMES.items():
        home_access = ROUTE_ROLES[home]
        assert home_access is not PUBLIC
        assert role in home_access


def test_anonymous_visitors_log_in_first(run_web: RunWeb, web_settings: Settings) -> None:
    protected = _protected(web_settings)
    assert protected

    async def scenario(client: Client) -> None:
        for name, method, url, _ in protected:
            response = await client.request(method, url, allow_redirects=False)
            if url.startswith("/api/"):
                assert response.status == 401, name
                assert (await response.json())["error"] == "unauthorized"
            else:
                assert response.status == 302, name
                assert response.headers["Location"].startswith("/login"), name

    run_web(scenario)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_gets_exactly_its_routes(
    run_web: RunWeb, web_settings: Settings, role: str
) -> None:
    protected = _protected(web_settings)

    async def scenario(client: Client) -> None:
        token = await login_as(client, role)
        headers = {"X-CSRF-Token": token}
        for name, method, url, allowed in protected:
            if name == "logout":
                continue  # it would end the session the other routes are tried with
            kwargs: dict[str, Any] = {"allow_redirects": False}
            if method not in ("GET", "HEAD"):
                kwargs["headers"] = headers
            response = await client.request(method, url, **kwargs)
            if Role(role) in allowed:
                assert response.status not in (401, 403), (name, await response.text())
                assert not response.headers.get("Location", "").startswith("/login"), name
            else:
                assert response.status == 403, name
                if url.startswith("/api/"):
                    assert (await response.json())["error"] == "forbidden"
                else:
                    assert "Not allowed" in await response.text()
        # logout last: every role may, with the token
        response = await client.post("/logout", headers=headers, allow_redirects=False)
        assert response.status == 303

    run_web(scenario)


def test_a_route_missing_from_the_table_is_refused_to_everyone(run_web: RunWeb) -> None:
    async def secret(request: web.Request) -> web.Response:
        return web.Response(text="should not be seen")

    def extend(app: web.Application) -> None:
        app.router.add_get("/forgotten", secret, name="forgotten")
        app.router.add_get("/api/forgotten", secret, name="api-forgotten")

    async def scenario(client: Client) -> None:
        for url in ("/forgotten", "/api/forgotten"):
            response = await client.get(url, allow_redirects=False)
            assert response.status == 403, url
        for role in Role:
            await login_as(client, role.value)
            for url in ("/forgotten", "/api/forgotten"):
                response = await client.get(url, allow_redirects=False)
                assert response.status == 403, (role, url)
                assert "should not be seen" not in await response.text()

    run_web(scenario, extend=extend)


def test_public_pages_open_without_a_login(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        for url in ("/login", "/healthz", "/static/app.css"):
            response = await client.get(url, allow_redirects=False)
            assert response.status == 200, url
        root = await client.get("/", allow_redirects=False)
        assert (root.status, root.headers["Location"]) == (302, "/login")
        missing = await client.get("/no-such-page", allow_redirects=False)
        assert missing.status == 404

    run_web(scenario)
