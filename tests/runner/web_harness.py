"""Driving the web app in tests: users of each role, logging in, reading CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"
# one active user per role, and one who may no longer log in
USERS = {
    "agent": ("ann", "Ann Agent"),
    "manager": ("max", "Max Manager"),
    "retention": ("rita", "Rita Retention"),
}
INACTIVE = ("ina", "Ina Inactive")

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"

Client = TestClient[Any, Any]
# run_web(scenario, *, settings=None, extend=None): see tests/runner/conftest.py
RunWeb = Callable[..., None]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def login_token(client: Client) -> str:
    response = await client.get("/login")
    assert response.status == 200
    return form_token(await response.text())


async def login(
    client: Client, username: str, password: str = PASSWORD, *, next_url: str | None = None
) -> ClientResponse:
    """Post the login form as a browser would, without following the redirect."""
    data = {"username": username, "password": password, "csrf_token": await login_token(client)}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data, allow_redirects=False)


async def login_as(client: Client, role: str) -> str:
    """Log in as the user of ``role`` (forgetting any earlier session); their CSRF token."""
    client.session.cookie_jar.clear()
    response = await login(client, USERS[role][0])
    assert response.status == 303, await response.text()
    me = await client.get("/api/me")
    assert me.status == 200
    token: str = (await me.json())["csrf_token"]
    return token
