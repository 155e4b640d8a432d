"""The web application: one aiohttp app for the pages, the JSON API and Twilio's webhooks.

``create_app`` wires resources through ``cleanup_ctx`` so they open with the app and
close with it: the dialer (store engine, Redis, agent board, Twilio provider, clock) that
the webhooks use, and the pages and auth read the store through, and a read-only engine
for the console's and auth's reads (``runner.web.reads``). Sessions, CSRF and the
role check of every route are set up by ``runner.web.auth``; who may open which route is the
table in ``runner.web.access``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp_remotes import XForwardedStrict

from dialer.context import DialerConfig, open_dialer
from dialer.webhooks import DIALER, add_webhook_routes
from runner.settings import Settings
from runner.web.api import add_api_routes
from runner.web.api_key_pages import add_api_key_routes
from runner.web.audit_page import add_audit_routes
from runner.web.auth import setup_auth
from runner.web.console import add_console_routes
from runner.web.keys import SETTINGS
from runner.web.login import add_login_routes
from runner.web.manager import add_manager_routes
from runner.web.pages import add_page_routes
from runner.web.reads import reader_context
from runner.web.render import setup_templates
from runner.web.retention import add_retention_routes
from runner.web.voice import add_voice_routes

__all__ = ["SETTINGS", "create_app"]


def create_app(
    settings: Settings, *, redis_url: str, **dialer_overrides: object
) -> web.Application:
    """The app for ``settings``; ``redis_url`` is the queue's (REDIS_URL or the embedded one)."""
    app = web.Application(middlewares=_proxy_middlewares(settings))
    app[SETTINGS] = settings
    config = DialerConfig.from_settings(settings, redis_url, **dialer_overrides)

    async def dialer(app: web.Application) -> AsyncIterator[None]:
        app[DIALER] = await open_dialer(config)
        yield
        await app[DIALER].close()

    app.cleanup_ctx.append(dialer)
    app.cleanup_ctx.append(reader_context)
    setup_templates(app)
    setup_auth(app, settings)
    add_login_routes(app)
    add_page_routes(app)
    add_console_routes(app)
    add_voice_routes(app)
    add_manager_routes(app)
    add_audit_routes(app)
    add_api_key_routes(app)
    add_retention_routes(app)
    add_api_routes(app)
    add_webhook_routes(app)
    app.router.add_get("/healthz", _health, name="health")
    return app


def _proxy_middlewares(settings: Settings) -> list[Any]:
    """Behind the reverse proxy of ``TELECAMPAIGN_TRUSTED_PROXIES``: every request must
    come from it with one ``X-Forwarded-For`` address (400 otherwise), and that address
    becomes ``request.remote``, the client's, which the login throttle counts by. The
    proxy's own health checks of ``/healthz`` may come without one. First of the
    middlewares, so every other one sees the client's address."""
    if not settings.trusted_proxies:
        return []
    proxy = XForwardedStrict([list(settings.trusted_proxies)], white_paths=["/healthz"])
    return [proxy.middleware]


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
