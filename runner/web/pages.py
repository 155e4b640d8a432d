"""The pages and the JSON API's first route: ``/`` and ``/api/me``.

The agent console is in ``runner.web.console``, the manager's pages in ``runner.web.manager``,
the retention pages in ``runner.web.retention``.

Who may open each route is decided in ``runner.web.access``, before a handler runs; a handler
here can rely on ``request[USER]`` for any route that is not public.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from runner.web.access import ROLE_HOMES
from runner.web.keys import API_KEY, USER
from runner.web.render import csrf_token

__all__ = ["STATIC", "add_page_routes"]

STATIC = Path(__file__).resolve().parent / "static"


async def index(request: web.Request) -> web.Response:
    user = request.get(USER)
    name = ROLE_HOMES[user.role] if user is not None else "login"
    raise web.HTTPFound(request.app.router[name].url_for())


async def api_me(request: web.Request) -> web.Response:
    """Who is logged in, and the CSRF token their unsafe API calls must send; for an API
    key, its name and role (a key sends no CSRF token)."""
    key = request.get(API_KEY)
    if key is not None:
        return web.json_response({"api_key": key.name, "role": key.role.value})
    user = request[USER]
    return web.json_response(
        {
            "username": user.username,
            "full_name": user.full_name,
            "role": user.role.value,
            "csrf_token": csrf_token(request),
        }
    )


def add_page_routes(app: web.Application) -> None:
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/api/me", api_me, name="api-me")
