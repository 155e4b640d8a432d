"""Typed keys of what the web app keeps on the app and on each request."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import Session

from runner.settings import Settings
from runner.web.users import UserInfo

__all__ = ["SESSION", "SETTINGS", "USER"]

SETTINGS = web.AppKey("settings", Settings)
# set by the auth middleware on every request that is not sessionless
SESSION = web.RequestKey("session", Session)
# set only when a logged-in, active user made the request
USER = web.RequestKey("user", UserInfo)
