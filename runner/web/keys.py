"""Typed keys of what the web app keeps on the app and on each request."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import Session

from runner.settings import Settings
from runner.web.api_keys import ApiKeyInfo
from runner.web.users import UserInfo

__all__ = ["API_KEY", "SESSION", "SETTINGS", "USER"]

SETTINGS = web.AppKey("settings", Settings)
# set by the auth middleware on every request that is not sessionless
SESSION = web.RequestKey("session", Session)
# set only when a logged-in, active user made the request
USER = web.RequestKey("user", UserInfo)
# set only when a request came with a valid, unrevoked API key (``Authorization: Bearer``)
API_KEY = web.RequestKey("api_key", ApiKeyInfo)
