"""Logging in, sessions, CSRF and the role check of every request.

Sessions live in an encrypted cookie (Fernet, aiohttp-session) whose key is derived from
``TELECAMPAIGN_SECRET_KEY``; a fresh machine without it gets a random key in
``$TELECAMPAIGN_HOME/secret.key``. The session holds the user id, the user's session
generation and a CSRF token only.

One middleware decides every request, in this order:

    unknown path or method      aiohttp's own 404/405
    route not in ROUTE_ROLES    403 for everybody (deny by default)
    sessionless route           handed on: Twilio's signed webhooks, the probe, static
    not logged in               302 to /login?next=... (pages), 401 JSON (/api/)
    role not allowed            403 page or JSON
    unsafe method, bad token    403: the CSRF token (form field or X-CSRF-Token) is
                                missing or wrong

The user is read from the store on every request, so a deactivated user or a changed
role takes effect at once rather than when the cookie expires (a read that takes no
write lock, ``runner.reads``). The same read brings the user's session generation, which
the cookie got at login: logging out, a deactivation and a password change bump it
(``runner.users.end_sessions``), so a copy of the cookie kept from before opens nothing,
though it would decrypt for hours yet. It ends the user's every session, on every device.

Guessing passwords is slowed by ``LoginThrottle``: after ``LOGIN_LIMIT`` failed logins
for one username, or ``ADDRESS_LIMIT`` from one client address (a whole call centre may
share one address, so that limit is higher), within ``LOGIN_WINDOW`` seconds, further
attempts are refused (429, before any password is checked) until the oldest of those
failures is older than the window. Each attempt is counted, in one Redis script that
first checks the limits, before its password is checked, so guesses sent in parallel
get no more checks than the limit; it stays counted unless it succeeds. The counts are
kept in the dialer's Redis, so every web process sees the same ones; a successful login
clears the username's, and takes only itself off the address's (one known password must
not reset a guesser's count). When Redis cannot answer within ``THROTTLE_TIMEOUT``
seconds, logins are refused (503, logged) and no password is checked: a throttle that let
logins through unthrottled would give anyone who can slow or cut Redis unlimited guesses.
The timeout is short since the dialer's Redis client retries a lost connection for about
25 s, which a person at the login page should not wait through.
Neither the username nor the address is stored or logged in clear: keys and log lines
carry a hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import Session, get_session, new_session, session_middleware
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session as StoreSession
from yarl import URL

from dialer.webhooks import DIALER
from runner.access import PUBLIC, ROLE_HOMES, ROUTE_ROLES, SESSIONLESS
from runner.cookies import SessionCookies
from runner.keys import SESSION, USER
from runner.render import CSRF_FIELD, csrf_token, render_page
from runner.settings import Settings
from runner.users import (
    UserInfo,
    add_user,
    end_sessions,
    hash_password,
    needs_rehash,
    normalize_username,
    verify_password,
)
from store.models import Role, User

__all__ = [
    "ADDRESS_LIMIT",
    "CSRF_HEADER",
    "KEY_FILE",
    "LOGIN_LIMIT",
    "LOGIN_WINDOW",
    "MIN_SECRET_LENGTH",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "THROTTLE_TIMEOUT",
    "LoginAttempt",
    "LoginLocked",
    "LoginThrottle",
    "SecretKeyError",
    "add_user",
    "home_url",
    "safe_next",
    "session_fernet",
    "setup_auth",
]

log = logging.getLogger("telecampaign.auth")
T = TypeVar("T")

SESSION_COOKIE = "telecampaign_session"
SESSION_MAX_AGE = 12 * 3600  # one working day; then log in again
KEY_FILE = "secret.key"
MIN_SECRET_LENGTH = 32
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_USER_ID = "uid"
_GENERATION = "gen"
_LOGIN_FAILED = "The username or password is not right."
LOGIN_LIMIT = 5  # failed logins for one username ...
ADDRESS_LIMIT = 30  # ... or from one client address (a call centre's shared one) ...
LOGIN_WINDOW = 15 * 60  # ... within this many seconds, then attempts are refused
THROTTLE_TIMEOUT = 2.0  # seconds the throttle waits for Redis before a login is refused
_UNAVAILABLE = "Sign-in is unavailable for a moment: try again shortly."
_LOCKED = (
    "Too many failed logins {who}: try again in {minutes} minute{s}. "
    "A forgotten password? Ask a campaign manager."
)


class SecretKeyError(ValueError):
    """TELECAMPAIGN_SECRET_KEY or the generated key file cannot be used."""


# --- the session key ---------------------------------------------------------------


def derive_session_key(secret: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from the configured secret.

    HKDF with a purpose label, so the same secret could key something else one day
    without the two keys being related.
    """
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"telecampaign session cookie"
    ).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def _generated_secret(home: Path) -> str:
    """The secret in ``home/secret.key``, written once (mode 0600) when missing.

    Written to a private temporary file and linked into place, so two processes starting
    together end up with the same key and nobody reads a half-written one.
    """
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretKeyError(
            f"{path} holds no usable key: delete it to have a new one made, "
            "or set TELECAMPAIGN_SECRET_KEY"
        )
    return secret


def session_fernet(settings: Settings) -> Fernet:
    """The cookie cipher: from TELECAMPAIGN_SECRET_KEY, else from the generated key file."""
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SecretKeyError(
                f"TELECAMPAIGN_SECRET_KEY is too short ({len(secret)} characters): "
                f"use at least {MIN_SECRET_LENGTH} random characters"
            )
    else:
        secret = _generated_secret(settings.home)
        log.warning(
            "TELECAMPAIGN_SECRET_KEY is not set: sessions use the generated key in %s; "
            "production must set TELECAMPAIGN_SECRET_KEY (the same on every web process)",
            settings.home / KEY_FILE,
        )
    return Fernet(derive_session_key(secret))


# --- helpers -------------------------------------------------------------------------


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
    user_id = session.get(_USER_ID)
    if not isinstance(user_id, int):
        return None
    user = await request.app[DIALER].gateway.read_apart(
        lambda s: s.connection().execute(_USER, {"id": user_id}).one_or_none(),
        quick=True,
    )
    if user is None or not user.active or session.get(_GENERATION) != user.session_generation:
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
    request[SESSION] = session = await get_session(request)
    user = await _session_user(request, session)
    if user is not None:
        request[USER] = user
    if access is None:
        log.error(
            "refused %s %s: route %r has no entry in runner.access.ROUTE_ROLES",
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


# --- slowing down password guessing ------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


# KEYS: the username's and the address's attempt sets; ARGV: now, window, member, then the
# limit of each key. Either every key has room and the attempt is added to each, or none
# is touched: the answer is {0, count of each key}, or {key's number, seconds it is locked}
_RESERVE = """
local now, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local locked, wait = 0, 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit, n = tonumber(ARGV[3 + i]), redis.call('ZCARD', key)
  if n >= limit then
    -- open again once all but limit - 1 of the attempts have left the window
    local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local left = tonumber(oldest[2]) + window - now
    if left > wait then locked, wait = i, left end
  end
end
if locked > 0 then return {locked, tostring(wait)} end
local counts = {0}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, math.ceil(window))
  counts[i + 1] = redis.call('ZCARD', key)
end
return counts
"""


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt counted before its password is checked; it stays counted as a
    failure unless ``LoginThrottle.succeeded`` takes it back."""

    member: str
    locks: tuple[str, ...]  # what it locked ("username", "address"), should it fail


@dataclass(frozen=True)
class LoginLocked:
    """No attempt now: ``which`` ("username" or "address") is locked for ``seconds``."""

    which: str
    seconds: float


@dataclass(frozen=True)
class LoginThrottle:
    """Login attempts per username and per client address, in Redis sorted sets.

    Each attempt is a member scored with its time, added before its password is checked
    and, in the same script, only while the sets hold fewer than their limits: however
    many guesses arrive at once, at most ``limit`` of them are checked. Members older
    than ``window`` are dropped as the set is read, and the set expires with its newest
    member's window.
    """

    redis: Redis
    prefix: str
    limit: int = LOGIN_LIMIT
    address_limit: int = ADDRESS_LIMIT
    window: float = LOGIN_WINDOW

    def limit_of(self, which: str) -> int:
        return self.limit if which == "username" else self.address_limit

    def _keys(self, username: str, address: str) -> dict[str, str]:
        return {
            "username": f"{self.prefix}:login-failures:user:{_digest(username)}",
            "address": f"{self.prefix}:login-failures:address:{_digest(address)}",
        }

    async def reserve(self, username: str, address: str, now: float) -> LoginAttempt | LoginLocked:
        """Count an attempt, or say which is locked and for how many more seconds."""
        keys = self._keys(username, address)
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        limits = [self.limit_of(which) for which in keys]
        script = self.redis.register_script(_RESERVE)
        locked, *rest = await script(
            keys=list(keys.values()), args=[now, self.window, member, *limits]
        )
        names = list(keys)
        if int(locked):
            return LoginLocked(names[int(locked) - 1], float(rest[0]))
        # the attempt that filled a set locks it, should it fail
        full = zip(names, rest, limits, strict=True)
        return LoginAttempt(member, tuple(name for name, n, limit in full if int(n) == limit))

    async def succeeded(self, username: str, address: str, attempt: LoginAttempt) -> None:
        """A successful login: the username's count starts again; the address's forgets
        this attempt only (one known password must not reset a guesser's count)."""
        keys = self._keys(username, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys["username"])
            pipe.zrem(keys["address"], attempt.member)
            await pipe.execute()


def _throttle(request: web.Request) -> LoginThrottle:
    dialer = request.app[DIALER]
    return LoginThrottle(dialer.redis, dialer.prefix)


def _address(request: web.Request) -> str:
    # the peer's address; behind a reverse proxy that is the proxy's, shared by everyone,
    # unless TELECAMPAIGN_TRUSTED_PROXIES names it (runner.app reads the client's then)
    return request.remote or "unknown"


async def _reserve(
    throttle: LoginThrottle, username: str, address: str
) -> LoginAttempt | LoginLocked | None:
    """The throttle's answer, or None when Redis gives none in time (the login is then
    refused unchecked: failing open would let a guesser who degrades Redis go on freely)."""
    try:
        async with asyncio.timeout(THROTTLE_TIMEOUT):
            return await throttle.reserve(username, address, time.time())
    except (RedisError, TimeoutError) as exc:
        log.warning(
            "the login throttle cannot reach Redis (%s): a login was refused unchecked (user %s)",
            type(exc).__name__,
            _digest(username),
        )
        return None


async def _forget_attempt(
    throttle: LoginThrottle, username: str, address: str, attempt: LoginAttempt
) -> None:
    """Take a successful login's attempt back; without Redis it stays counted, which only
    brings a lock sooner, so the login goes on."""
    try:
        async with asyncio.timeout(THROTTLE_TIMEOUT):
            await throttle.succeeded(username, address, attempt)
    except (RedisError, TimeoutError) as exc:
        log.warning("the login throttle cannot clear its counts (%s)", type(exc).__name__)


def _locked_message(which: str, seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    who = "for this username" if which == "username" else "from this computer"
    return _LOCKED.format(who=who, minutes=minutes, s="" if minutes == 1 else "s")


# --- logging in and out -------------------------------------------------------------


@cache
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
    throttle, address = _throttle(request), _address(request)
    attempt = await _reserve(throttle, username, address)
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
            "a login was refused unchecked: %s locked (user %s)", attempt.which, _digest(username)
        )
        page = _login_page(
            request,
            username=username,
            next_url=next_url,
            errors={"form": _locked_message(attempt.which, attempt.seconds)},
            status=429,
        )
        page.headers["Retry-After"] = str(math.ceil(attempt.seconds))
        return page
    authenticated = await authenticate(request, username, password)
    if authenticated is None:
        # one message for unknown names, wrong passwords and inactive users alike; the
        # attempt stays counted, as a failure
        log.info("a login was refused (user %s)", _digest(username))
        for which in attempt.locks:
            log.warning(
                "%d failed logins in %d minutes: %s locked (user %s)",
                throttle.limit_of(which),
                throttle.window // 60,
                which,
                _digest(username),
            )
        return _login_page(
            request, username=username, next_url=next_url, errors={"form": _LOGIN_FAILED}
        )
    user, generation = authenticated
    await _forget_attempt(throttle, username, address, attempt)
    # a new session on login, so a session id planted before it is worth nothing
    session = await new_session(request)
    session[_USER_ID] = user.id
    session[_GENERATION] = generation
    request[SESSION] = session
    csrf_token(request)
    log.info("user %d logged in", user.id)
    raise web.HTTPSeeOther(next_url or home_url(request, user.role))


async def logout(request: web.Request) -> web.Response:
    """End the user's sessions in the store, not only this browser's cookie: a copy of the
    cookie (a shared computer's, a stolen one) would otherwise work until it expires."""
    user_id = request[USER].id  # the route is for logged-in users only
    await _in_store(request, lambda s: end_sessions(s, user_id))
    log.info("user %d logged out", user_id)
    request[SESSION].invalidate()
    raise web.HTTPSeeOther(request.app.router["login"].url_for())


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
    if USER in request:  # pages with someone's data: not kept by a shared tablet's cache
        response.headers.setdefault("Cache-Control", "no-store")


def setup_auth(app: web.Application, settings: Settings) -> None:
    """Sessions, the access middleware, the login and logout routes."""
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
    app.router.add_get("/login", login_form, name="login")
    app.router.add_post("/login", login_submit, name="login")
    app.router.add_post("/logout", logout, name="logout")
