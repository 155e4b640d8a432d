"""Rendering the pages: the jinja2 environment over ``templates/pages/`` and its helpers.

Every page gets the logged-in user (or None), the navigation their role may use, the
company name and the session's CSRF token; ``{{ csrf_field() }}`` puts the token in a
form, so no form can forget it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from runner.web.access import PUBLIC, ROUTE_ROLES
from runner.web.keys import SESSION, SETTINGS, USER
from runner.web.users import UserInfo

__all__ = [
    "CSRF_FIELD",
    "NAVIGATION",
    "PAGES",
    "csrf_token",
    "render_page",
    "setup_templates",
]

PAGES = Path(__file__).resolve().parents[2] / "templates" / "pages"
CSRF_FIELD = "csrf_token"
_CSRF_KEY = "csrf"

# the layout's menu: (label, route name); each user sees the entries their role may open
NAVIGATION: Final = (
    ("Agent console", "agent-home"),
    ("Campaigns", "manager-home"),
    ("Retention", "retention-home"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, made on first use; '' on a sessionless route."""
    session = request.get(SESSION)
    if session is None:
        return ""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


@jinja2.pass_context
def _csrf_field(context: jinja2.runtime.Context) -> Markup:
    field = Markup('<input type="hidden" name="{}" value="{}">')
    return field.format(CSRF_FIELD, context.get("csrf_token", ""))


def _navigation(request: web.Request, user: UserInfo | None) -> list[NavItem]:
    if user is None:
        return []
    here = request.match_info.route.name
    items = []
    for label, name in NAVIGATION:
        access = ROUTE_ROLES.get(name)
        if access is PUBLIC or (access is not None and user.role in access):
            url = str(request.app.router[name].url_for())
            items.append(NavItem(label, url, current=name == here))
    return items


def render_page(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    user = request.get(USER)
    page = {
        "user": user,
        "nav": _navigation(request, user),
        "company": request.app[SETTINGS].company_name,
        "csrf_token": csrf_token(request),
        **(context or {}),
    }
    return aiohttp_jinja2.render_template(template, request, page, status=status)


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the page, loudly
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["csrf_field"] = _csrf_field
