"""Settings on the manager's pages: the "Settings" section of a campaign's page and the
site-wide settings page (``/manager/settings``), each with its history.

A submit is checked whole; a refusal shows the form again as it was sent, with each
problem beside its field, and stores nothing. A change is answered with a redirect back
to the page, which then names the version now in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from campaigns.settings.profiles import Problem
from campaigns.settings.resolve import SettingsError
from campaigns.settings.windows import DAYS
from dialer.provider import ProviderError
from dialer.webhooks import DIALER
from runner.web.render import render_page
from runner.web.settings_form import (
    FIELD_GROUPS,
    FORM_ERROR,
    NEW_COUNTRY,
    NO_CALLS,
    PROFILE_NAMES,
    changes_from,
    field_errors,
    form_values,
    new_caller_ids,
    read_form,
)
from runner.web.settings_view import change_settings, names_caller_ids, settings_view
from runner.web.trail import actor_of

__all__ = [
    "SettingsSubmit",
    "add_site_settings_routes",
    "carrier_numbers",
    "saved_url",
    "settings_context",
    "submit_settings",
]

SAVED = "saved"  # the query parameter naming the version a change made
VERSION = "version"  # the form's hidden field: the version it was filled from


@dataclass
class SettingsSubmit:
    """What a submitted settings form came to: the version in force, or the form again."""

    version: int | None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


async def carrier_numbers(request: web.Request) -> list[str]:
    """The carrier account's numbers; SettingsError on ``caller_id.numbers`` when the
    carrier cannot tell, since a caller ID it has not confirmed is not shown to anyone."""
    try:
        return await request.app[DIALER].provider.owned_numbers()
    except ProviderError as exc:
        raise SettingsError(
            [
                (
                    "caller_id.numbers",
                    f"the carrier could not list the account's numbers ({exc}), so they "
                    "cannot be checked: nothing changed; try again later",
                )
            ]
        ) from None


async def settings_context(
    request: web.Request,
    name: str | None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the settings section needs: the view, and the form filled from it (or as
    sent, with its errors; none sent: filled from the view)."""
    view = await request.app[DIALER].gateway.write(lambda s: settings_view(s, name))
    saved = request.query.get(SAVED)
    return {
        "settings_view": view,
        "form": values or form_values(view["settings"]),
        "form_errors": errors or {},
        "field_groups": FIELD_GROUPS,
        "days": DAYS,
        "no_calls": NO_CALLS,
        "new_country": NEW_COUNTRY,
        "profile_names": PROFILE_NAMES,
        "saved": saved if saved and saved.isdigit() else None,
        "version_field": VERSION,
    }


async def submit_settings(request: web.Request, name: str | None) -> SettingsSubmit:
    """Read the posted form and apply what it changes to campaign ``name`` (None: the
    site). CampaignNotFoundError when there is no such campaign."""
    form = await request.post()
    values = read_form(form, site=name is None)
    gateway = request.app[DIALER].gateway
    now = await gateway.write(lambda s: settings_view(s, name))
    if str(form.get(VERSION, "")) != str(now["version"]):
        # the form would undo, unseen, what was changed since it was loaded
        said = (
            f"the settings were changed since this page was loaded (now version "
            f"{now['version']}, by {now['changed_by']}): reload the page and make the "
            "change again"
        )
        return SettingsSubmit(None, {}, {FORM_ERROR: said})  # the form shows the new ones
    try:
        changes = changes_from(values, now["settings"])
        if not changes:
            return SettingsSubmit(version=None, values=values, errors={})
        owned = await carrier_numbers(request) if names_caller_ids(changes) else None
        actor = actor_of(request)
        version = await gateway.write(lambda s: change_settings(s, name, changes, actor, owned))
    except SettingsError as exc:
        problems = exc.problems
        problems += await _foreign_caller_ids(request, values, now["settings"], problems)
        return SettingsSubmit(None, values, field_errors(problems, exc.where))
    return SettingsSubmit(version)


async def _foreign_caller_ids(
    request: web.Request,
    values: Mapping[str, Any],
    shown: Mapping[str, Any],
    seen: list[Problem],
) -> list[Problem]:
    """The form's new caller IDs the account does not own, checked although other fields
    were refused, so that one submit shows every field's problem."""
    numbers = new_caller_ids(values, shown)
    if not numbers or any(path.startswith("caller_id.numbers") for path, _ in seen):
        return []
    try:
        owned = set(await carrier_numbers(request))
    except SettingsError as exc:
        return exc.problems
    foreign = [number for number in numbers if number not in owned]
    if not foreign:
        return []
    return [("caller_id.numbers", f"{', '.join(foreign)}: not a number the account owns")]


def saved_url(request: web.Request, route: str, version: int | None, **parts: str) -> str:
    """The page again, naming the version a change made (none: nothing changed)."""
    url = request.app.router[route].url_for(**parts)
    return str(url.with_query({SAVED: str(version or 0)}).with_fragment("settings"))


async def site_settings(request: web.Request) -> web.Response:
    context = await settings_context(request, None)
    return render_page(request, "manager_settings.html.j2", context)


async def site_settings_change(request: web.Request) -> web.Response:
    submitted = await submit_settings(request, None)
    if submitted.errors:
        context = await settings_context(request, None, submitted.values, submitted.errors)
        return render_page(request, "manager_settings.html.j2", context, status=400)
    raise web.HTTPSeeOther(saved_url(request, "manager-settings", submitted.version))


def add_site_settings_routes(app: web.Application) -> None:
    add = app.router
    add.add_get("/manager/settings", site_settings, name="manager-settings")
    add.add_post("/manager/settings", site_settings_change, name="manager-settings-change")
