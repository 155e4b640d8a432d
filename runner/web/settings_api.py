"""The settings routes of the JSON API: a campaign's settings and the site's, read
(``GET``) and changed (``PATCH``, a body in a settings file's form).

A change is checked whole, as ``telecampaign settings set`` checks a file: 422 with
``{"errors": {field: reason}}`` when it cannot be used, and nothing is stored. Caller ID
numbers a change names are checked with the carrier first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from campaigns.errors import CampaignNotFoundError
from campaigns.settings.resolve import SettingsError
from dialer.webhooks import DIALER
from runner.web.settings_pages import carrier_numbers
from runner.web.settings_view import change_settings, names_caller_ids, settings_view
from runner.web.trail import actor_of

__all__ = ["add_settings_api_routes"]


def _refused(problems: list[tuple[str, str]], where: str = "") -> web.Response:
    errors: dict[str, str] = {}
    for path, reason in problems:
        said = f"{where}{reason}"
        errors[path] = f"{errors[path]}; {said}" if path in errors else said
    body = {
        "error": "invalid",
        "message": "nothing changed: " + "; ".join(errors),
        "errors": errors,
    }
    return web.json_response(body, status=422)


def _not_found(exc: CampaignNotFoundError) -> web.Response:
    return web.json_response(
        {"error": "not_found", "message": str(exc), "field": "name", "fields": {"name": str(exc)}},
        status=404,
    )


async def _body(request: web.Request) -> Mapping[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise SettingsError([("body", "send a JSON object of the settings to change")])
    return body


async def _show(request: web.Request, name: str | None) -> web.Response:
    try:
        view = await request.app[DIALER].gateway.write(lambda s: settings_view(s, name))
    except CampaignNotFoundError as exc:
        return _not_found(exc)
    return web.json_response(view)


async def _change(request: web.Request, name: str | None) -> web.Response:
    gateway = request.app[DIALER].gateway
    try:
        changes = await _body(request)
        if not changes:  # nothing asked: no new version
            return await _show(request, name)
        owned = await carrier_numbers(request) if names_caller_ids(changes) else None
        actor = actor_of(request)
        await gateway.write(lambda s: change_settings(s, name, changes, actor, owned))
    except SettingsError as exc:
        return _refused(exc.problems, exc.where)
    except CampaignNotFoundError as exc:
        return _not_found(exc)
    return await _show(request, name)


async def campaign_settings(request: web.Request) -> web.Response:
    return await _show(request, request.match_info["name"])


async def campaign_settings_change(request: web.Request) -> web.Response:
    return await _change(request, request.match_info["name"])


async def site_settings(request: web.Request) -> web.Response:
    return await _show(request, None)


async def site_settings_change(request: web.Request) -> web.Response:
    return await _change(request, None)


def add_settings_api_routes(app: web.Application) -> None:
    add = app.router
    path = "/api/campaigns/{name}/settings"
    add.add_get(path, campaign_settings, name="api-campaign-settings")
    add.add_patch(path, campaign_settings_change, name="api-campaign-settings-change")
    add.add_get("/api/settings", site_settings, name="api-site-settings")
    add.add_patch("/api/settings", site_settings_change, name="api-site-settings-change")
