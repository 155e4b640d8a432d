"""Slowing down password guessing: login attempts counted per username and address.

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
import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialer.webhooks import DIALER

__all__ = [
    "ADDRESS_LIMIT",
    "LOGIN_LIMIT",
    "LOGIN_WINDOW",
    "THROTTLE_TIMEOUT",
    "LoginAttempt",
    "LoginLocked",
    "LoginThrottle",
    "client_address",
    "digest",
    "forget_attempt",
    "locked_message",
    "reserve_attempt",
    "throttle_of",
]

log = logging.getLogger("telecampaign.auth")

LOGIN_LIMIT = 5  # failed logins for one username ...
ADDRESS_LIMIT = 30  # ... or from one client address (a call centre's shared one) ...
LOGIN_WINDOW = 15 * 60  # ... within this many seconds, then attempts are refused
THROTTLE_TIMEOUT = 2.0  # seconds the throttle waits for Redis before a login is refused
LOCKED_MESSAGE = (
    "Too many failed logins {who}: try again in {minutes} minute{s}. "
    "A forgotten password? Ask a campaign manager."
)


def digest(value: str) -> str:
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
            "username": f"{self.prefix}:login-failures:user:{digest(username)}",
            "address": f"{self.prefix}:login-failures:address:{digest(address)}",
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


def throttle_of(request: web.Request) -> LoginThrottle:
    dialer = request.app[DIALER]
    return LoginThrottle(dialer.redis, dialer.prefix)


def client_address(request: web.Request) -> str:
    # the peer's address; behind a reverse proxy that is the proxy's, shared by everyone,
    # unless TELECAMPAIGN_TRUSTED_PROXIES names it (runner.web.app reads the client's then)
    return request.remote or "unknown"


async def reserve_attempt(
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
            digest(username),
        )
        return None


async def forget_attempt(
    throttle: LoginThrottle, username: str, address: str, attempt: LoginAttempt
) -> None:
    """Take a successful login's attempt back; without Redis it stays counted, which only
    brings a lock sooner, so the login goes on."""
    try:
        async with asyncio.timeout(THROTTLE_TIMEOUT):
            await throttle.succeeded(username, address, attempt)
    except (RedisError, TimeoutError) as exc:
        log.warning("the login throttle cannot clear its counts (%s)", type(exc).__name__)


def locked_message(which: str, seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    who = "for this username" if which == "username" else "from this computer"
    return LOCKED_MESSAGE.format(who=who, minutes=minutes, s="" if minutes == 1 else "s")
