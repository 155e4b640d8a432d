"""The manager's API keys page: list the keys, make one (shown once), revoke one.

The same work as ``telecampaign apikey`` (``runner.web.api_keys``), on the audit trail as
the manager's. A new key is shown in the answer to the form's POST, never in a URL or a
page that can be opened again, and the answer is not cached (``runner.web.auth``).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from dialer.webhooks import DIALER
from runner.web.api_keys import ApiKeyError, add_api_key, list_api_keys, revoke_api_key
from runner.web.render import render_page
from runner.web.trail import actor_of
from store.models import Role

__all__ = ["add_api_key_routes"]


async def _page(
    request: web.Request,
    *,
    created: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    keys = await request.app[DIALER].gateway.batch(list_api_keys)
    context = {
        "keys": [{**key.as_json(), "active": key.active} for key in keys],
        "roles": [role.value for role in Role],
        "created": created,
        "values": values or {"role": Role.MANAGER.value},
        "errors": errors or {},
    }
    return render_page(request, "manager_api_keys.html.j2", context, status=status)


async def api_keys_page(request: web.Request) -> web.Response:
    return await _page(request)


async def api_key_add(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in ("name", "role")}
    actor = actor_of(request)
    try:
        key, token = await request.app[DIALER].gateway.batch(
            add_api_key, values["name"], values["role"], actor
        )
    except ApiKeyError as exc:
        return await _page(request, values=values, errors={exc.field: exc.message}, status=400)
    created = {"name": key.name, "role": key.role.value, "token": token}
    return await _page(request, created=created, status=201)


async def api_key_revoke(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        await request.app[DIALER].gateway.batch(revoke_api_key, name, actor_of(request))
    except ApiKeyError as exc:
        return await _page(request, errors={"revoke": exc.message}, status=409)
    raise web.HTTPSeeOther(request.app.router["manager-api-keys"].url_for())


def add_api_key_routes(app: web.Application) -> None:
    add = app.router
    add.add_get("/manager/api-keys", api_keys_page, name="manager-api-keys")
    add.add_post("/manager/api-keys", api_key_add, name="manager-api-key-add")
    add.add_post("/manager/api-keys/{name}/revoke", api_key_revoke, name="manager-api-key-revoke")
