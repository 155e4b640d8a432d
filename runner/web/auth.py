"""Sessions, CSRF and the role check of every request.

Sessions live in an encrypted cookie (Fernet, aiohttp-session) whose key is derived from
``TELECAMPAIGN_SECRET_KEY``; a fresh machine without it gets a random key in
``$TELECAMPAIGN_HOME/secret.key``. The session holds the user id, the user's session
generation and a CSRF token only.

One middleware decides every request, in this order:

    unknown path or method      aiohttp's own 404/405
    route not in ROUTE_ROLES    403 for everybody (deny by default)
    sessionless route           handed on: Twilio's signed webhooks, the probe, static
    Authorization: Bearer       an API key: ``runner.web.bearer`` decides, without CSRF
    not logged in               302 to /login?next=... (pages), 401 JSON (/api/)
    role not allowed            403 page or JSON
    unsafe method, bad token    403: the CSRF token (form field or X-CSRF-Token) is
                                missing or wrong

The user is read from the store on every request, so a deactivated user or a changed
role takes effect at once rather than when the cookie expires (a read that takes no
write lock, ``runner.web.reads``). The same read brings the user's session generation, which
the cookie got at login: logging out, a deactivation and a password change bump it
(``runner.web.users.end_sessions``), so a copy of the cookie kept from before opens nothing,
though it would decrypt for hours yet. It ends the user's every session, on every device.

The session key is ``runner.web.session_key``'s; logging in and out is ``runner.web.login``,
slowed against guessing by ``runner.web.login_throttle``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import Session, get_session, session_middleware
from sqlalchemy import bindparam, select

from dialer.webhooks import DIALER
from runner.settings import Settings
from runner.web.access import PUBLIC, ROUTE_ROLES, SESSIONLESS
from runner.web.bearer import bearer_request, sends_bearer
from runner.web.cookies import SessionCookies
from runner.web.keys import API_KEY, SESSION, USER
from runner.web.render import CSRF_FIELD, csrf_token, render_page
from runner.web.session_key import session_fernet
from runner.web.users import (
    UserInfo,
)
from store.models import User

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_GENERATION",
    "SESSION_MAX_AGE",
    "SESSION_USER_ID",
    "access_middleware",
    "setup_auth",
]

log = logging.getLogger("telecampaign.auth")

SESSION_COOKIE = "telecampaign_session"
SESSION_MAX_AGE = 12 * 3600  # one working day; then log in again
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# what the session holds of its user: the id, and the session generation at login
SESSION_USER_ID: Final = "uid"
SESSION_GENERATION: Final = "gen"


def _is_api(request: web.Request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _refuse(request: web.Request, status: int, error: str, message: str) -> web.Response:
    if _is_api(request):
        return web.json_response({"error": error, "message": message}, status=status)
    return render_page(
        request, "error.html.j2", {"status": status, "message": message}, status=status
    )


# the user as the middleware needs them, read on every request: a Core statement on the
# session's connection, not an ORM entity, at about half the cost
_USER = select(
    User.id, User.username, User.full_name, User.role, User.active, User.session_generation
).where(User.id == bindparam("id"))


async def _session_user(request: web.Request, session: Session) -> UserInfo | None:
    user_id = session.get(SESSION_USER_ID)
    if not isinstance(user_id, int):
        return None
    user = await request.app[DIALER].gateway.read_apart(
        lambda s: s.connection().execute(_USER, {"id": user_id}).one_or_none(),
        quick=True,
    )
    if (
        user is None
        or not user.active
        or session.get(SESSION_GENERATION) != user.session_generation
    ):
        session.invalidate()  # logged out, deactivated or deleted since they logged in
        return None
    return UserInfo(user.id, user.username, user.full_name, user.role, user.active)


async def _csrf_ok(request: web.Request) -> bool:
    expected = csrf_token(request)
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in FORM_TYPES:
        sent = (await request.post()).get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


# --- the middleware -----------------------------------------------------------------


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # aiohttp answers 404 or 405
    name = request.match_info.route.name
    access = ROUTE_ROLES.get(name) if name else None
    if name in SESSIONLESS and access is PUBLIC:
        return await handler(request)
    if sends_bearer(request):  # an API key: runner.web.bearer decides
        return await bearer_request(request, handler, name, access, SESSION_COOKIE)
    request[SESSION] = session = await get_session(request)
    user = await _session_user(request, session)
    if user is not None:
        request[USER] = user
    if access is None:
        log.error(
            "refused %s %s: route %r has no entry in runner.web.access.ROUTE_ROLES",
            request.method,
            request.path,
            name,
        )
        return _refuse(request, 403, "forbidden", "This address is not open to anyone yet.")
    if access is not PUBLIC:
        if user is None:
            if _is_api(request):
                return _refuse(request, 401, "unauthorized", "Log in first, at /login.")
            login = request.app.router["login"].url_for()
            if request.method in ("GET", "HEAD"):
                login = login.with_query(next=request.rel_url.path_qs)
            raise web.HTTPFound(login)
        if user.role not in access:
            allowed = " or ".join(sorted(role.value for role in access))
            return _refuse(
                request,
                403,
                "forbidden",
                f"This is for the {allowed} role; you are logged in as {user.role.value}.",
            )
    if request.method in UNSAFE_METHODS and not await _csrf_ok(request):
        return _refuse(
            request,
            403,
            "csrf",
            "The form is out of date or came from another site: reload the page and "
            f"send it again. (Missing or wrong CSRF token: send the {CSRF_FIELD} form "
            f"field or the {CSRF_HEADER} header.)",
        )
    return await handler(request)


# --- wiring -------------------------------------------------------------------------


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
    if (
        USER in request or API_KEY in request
    ):  # pages with someone's data: not kept by a shared tablet's cache
        response.headers.setdefault("Cache-Control", "no-store")


def setup_auth(app: web.Application, settings: Settings) -> None:
    """Sessions, the access middleware and the security headers of every answer."""
    storage = SessionCookies(
        session_fernet(settings),
        cookie_name=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        secure=settings.public_base_url.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )
    app.middlewares.append(session_middleware(storage))
    app.middlewares.append(access_middleware)
    app.on_response_prepare.append(_security_headers)
