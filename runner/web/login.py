"""Logging in and out: the login form, the password check, a new session; logging out ends
the user's every session. Where a login lands: ``safe_next`` or the role's home.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from aiohttp_session import new_session
from sqlalchemy import select, update
from sqlalchemy.orm import Session as StoreSession
from yarl import URL

from dialer.webhooks import DIALER
from runner.web.access import ROLE_HOMES
from runner.web.auth import SESSION_GENERATION, SESSION_USER_ID
from runner.web.keys import SESSION, USER
from runner.web.login_throttle import (
    LoginLocked,
    client_address,
    digest,
    forget_attempt,
    locked_message,
    reserve_attempt,
    throttle_of,
)
from runner.web.render import csrf_token, render_page
from runner.web.trail import audit
from runner.web.users import (
    UserInfo,
    end_sessions,
    hash_password,
    needs_rehash,
    normalize_username,
    verify_password,
)
from store.audit import Actor, ActorKind, AuditAction, record
from store.models import Role, User

__all__ = ["add_login_routes", "authenticate", "home_url", "safe_next"]

log = logging.getLogger("telecampaign.auth")
T = TypeVar("T")

_LOGIN_FAILED = "The username or password is not right."
_UNAVAILABLE = "Sign-in is unavailable for a moment: try again shortly."


async def _in_store(request: web.Request, work: Callable[[StoreSession], T]) -> T:
    return await request.app[DIALER].gateway.write(work)


def home_url(request: web.Request, role: Role) -> str:
    return str(request.app.router[ROLE_HOMES[role]].url_for())


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path on this site, else None (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or c == "\\" for c in value):
        return None
    try:
        url = URL(value)
    except ValueError:
        return None
    if url.scheme or url.host:
        return None
    return value


def _decoy_hash() -> str:
    # checked when the username is unknown, so a wrong name takes as long as a wrong password
    return hash_password(secrets.token_urlsafe(16))


async def authenticate(
    request: web.Request, username: str, password: str
) -> tuple[UserInfo, int] | None:
    """The active user with these credentials and their session generation, or None;
    rehashes outdated hashes."""
    user = await _in_store(
        request, lambda s: s.scalars(select(User).where(User.username == username)).first()
    )
    stored = user.password_hash if user is not None else await asyncio.to_thread(_decoy_hash)
    matches = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not matches or not user.active:
        return None
    if needs_rehash(stored):  # hashed with older parameters: upgrade while we know it
        fresh = await asyncio.to_thread(hash_password, password)
        user_id = user.id

        def store_hash(session: StoreSession) -> None:
            session.execute(update(User).where(User.id == user_id).values(password_hash=fresh))

        await _in_store(request, store_hash)
    return UserInfo.of(user), user.session_generation


def _login_page(
    request: web.Request,
    *,
    username: str = "",
    next_url: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = {"username": username, "next": next_url or "", "errors": errors or {}}
    return render_page(request, "login.html.j2", context, status=status)


async def _audit_failure(request: web.Request, username: str, address: str) -> None:
    """A failed login on the trail, under the username when it is a user's; a name nobody
    has is kept as a hash (it may be a password typed in the wrong field)."""

    def write(session: StoreSession) -> None:
        user_id = session.scalar(select(User.id).where(User.username == username))
        name = username if user_id is not None else f"unknown:{digest(username)}"
        actor = Actor(ActorKind.ANONYMOUS, name, user_id=user_id, address=address)
        target = ("user", user_id) if user_id is not None else None
        record(session, actor, AuditAction.LOGIN_FAILED, target=target)

    await _in_store(request, write)


async def login_form(request: web.Request) -> web.Response:
    next_url = safe_next(request.query.get("next"))
    user = request.get(USER)
    if user is not None:
        raise web.HTTPFound(next_url or home_url(request, user.role))
    return _login_page(request, next_url=next_url)


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    username = normalize_username(str(form.get("username", "")))
    password = str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "")))
    errors = {}
    if not username:
        errors["username"] = "Enter your username."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 (a message)
    if errors:
        return _login_page(request, username=username, next_url=next_url, errors=errors)
    throttle, address = throttle_of(request), client_address(request)
    attempt = await reserve_attempt(throttle, username, address)
    if attempt is None:  # nothing counts this attempt, so its password is not checked
        return _login_page(
            request,
            username=username,
            next_url=next_url,
            errors={"form": _UNAVAILABLE},
            status=503,
        )
    if isinstance(attempt, LoginLocked):
        log.info(
            "a login was refused unchecked: %s locked (user %s)", attempt.which, digest(username)
        )
        page = _login_page(
            request,
            username=username,
            next_url=next_url,
            errors={"form": locked_message(attempt.which, attempt.seconds)},
            status=429,
        )
        page.headers["Retry-After"] = str(math.ceil(attempt.seconds))
        return page
    authenticated = await authenticate(request, username, password)
    if authenticated is None:
        # one message for unknown names, wrong passwords and inactive users alike; the
        # attempt stays counted, as a failure
        log.info("a login was refused (user %s)", digest(username))
        await _audit_failure(request, username, address)
        for which in attempt.locks:
            log.warning(
                "%d failed logins in %d minutes: %s locked (user %s)",
                throttle.limit_of(which),
                throttle.window // 60,
                which,
                digest(username),
            )
        return _login_page(
            request, username=username, next_url=next_url, errors={"form": _LOGIN_FAILED}
        )
    user, generation = authenticated
    await forget_attempt(throttle, username, address, attempt)
    # a new session on login, so a session id planted before it is worth nothing
    session = await new_session(request)
    session[SESSION_USER_ID] = user.id
    session[SESSION_GENERATION] = generation
    request[SESSION] = session
    csrf_token(request)
    log.info("user %d logged in", user.id)
    actor = Actor(ActorKind.USER, user.username, user_id=user.id, address=address)
    await audit(request, AuditAction.LOGIN, target=("user", user.id), actor=actor)
    raise web.HTTPSeeOther(next_url or home_url(request, user.role))


async def logout(request: web.Request) -> web.Response:
    """End the user's sessions in the store, not only this browser's cookie: a copy of the
    cookie (a shared computer's, a stolen one) would otherwise work until it expires."""
    user_id = request[USER].id  # the route is for logged-in users only
    await _in_store(request, lambda s: end_sessions(s, user_id))
    log.info("user %d logged out", user_id)
    await audit(request, AuditAction.LOGOUT, target=("user", user_id))
    request[SESSION].invalidate()
    raise web.HTTPSeeOther(request.app.router["login"].url_for())


def add_login_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form, name="login")
    app.router.add_post("/login", login_submit, name="login")
    app.router.add_post("/logout", logout, name="logout")
